/**
 * The stage graph: an edge A → B wherever a dep of B equals, lies inside, or contains an out of A
 * (as DVC connects them). Built once per command from the loaded Pipeline; rejects, before
 * anything runs, every shape that cannot be scheduled or cached safely: cycles, an out claimed by
 * two stages, an out nested inside another out, and paths that leave the project.
 */
import { ConfigError, GrowError } from '../errors.ts';
import type { Pipeline, Stage } from '../types.ts';
import { savePipelineParses } from '../spec/index.ts';
import { closest } from '../spec/suggest.ts';

export interface Graph {
  /** Stages whose outs this stage depends on (direct), in declaration order. */
  upstream(name: string): string[];
  /** Stages that depend on this stage's outs (direct), in declaration order. */
  downstream(name: string): string[];
  /** Every stage, each after all of its upstream stages; otherwise in declaration order. */
  topoOrder(): string[];
  /** The out path(s) through which `to` depends on `from`. */
  via(from: string, to: string): string[];
}

function inside(child: string, parent: string): boolean {
  return parent === '.' || child.startsWith(parent + '/');
}

function where(s: Stage): string {
  return s.pos ? `${s.pos.file}:${s.pos.line}:${s.pos.col}` : s.name;
}

function fail(p: Pipeline, s: Stage | undefined, what: string, hint?: string): never {
  if (s?.pos) throw new ConfigError(s.pos.file, s.pos.line, s.pos.col, what, hint);
  throw new ConfigError(p.file, undefined, undefined, what, hint);
}

function checkInsideProject(p: Pipeline, s: Stage, path: string, what: string): void {
  if (path.startsWith('/') || path === '..' || path.startsWith('../') || /^[A-Za-z]:[\\/]/.test(path) || path.split('/').includes('..')) {
    fail(
      p,
      s,
      `${what} "${path}" of stage "${s.name}" is outside the project`,
      'deps and outs must be project-relative paths inside the root',
    );
  }
}

export function buildGraph(p: Pipeline): Graph {
  const byName = new Map(p.stages.map((s, i) => [s.name, { stage: s, index: i }]));
  // out path → owning stage
  const owner = new Map<string, Stage>();
  for (const s of p.stages) {
    checkInsideProject(p, s, s.wdir, 'wdir');
    for (const d of s.deps) checkInsideProject(p, s, d, 'dep');
    for (const o of s.outs) {
      checkInsideProject(p, s, o.path, 'out');
      const prev = owner.get(o.path);
      if (prev) {
        if (prev === s) fail(p, s, `stage "${s.name}" lists the out "${o.path}" twice`, 'remove the duplicate entry');
        fail(
          p,
          s,
          `stages "${prev.name}" (${where(prev)}) and "${s.name}" (${where(s)}) both claim the out "${o.path}"`,
          'an output can belong to one stage only; give one of them another path',
        );
      }
      owner.set(o.path, s);
    }
  }
  const outs = [...owner.keys()].sort();
  // Nested outs: after sorting, a path's descendants follow it directly ("a" < "a/b" < "a0").
  for (let i = 0; i < outs.length; i++) {
    for (let j = i + 1; j < outs.length && inside(outs[j], outs[i]); j++) {
      const a = owner.get(outs[i])!;
      const b = owner.get(outs[j])!;
      fail(
        p,
        b,
        `the out "${outs[j]}" of stage "${b.name}" lies inside the out "${outs[i]}" of stage "${a.name}"`,
        'outputs may not overlap: one directory out already covers everything under it; make the outs disjoint',
      );
    }
  }

  const ups = new Map<string, Map<string, string[]>>(p.stages.map((s) => [s.name, new Map()]));
  const downs = new Map<string, Set<string>>(p.stages.map((s) => [s.name, new Set()]));
  const link = (from: Stage, to: Stage, path: string) => {
    const m = ups.get(to.name)!;
    const paths = m.get(from.name) ?? [];
    if (!paths.includes(path)) paths.push(path);
    m.set(from.name, paths);
    downs.get(from.name)!.add(to.name);
  };
  for (const s of p.stages) {
    for (const dep of s.deps) {
      // An out equal to the dep or containing it: walk the dep's ancestors.
      for (let cur = dep; ; ) {
        const o = owner.get(cur);
        if (o) link(o, s, cur);
        const slash = cur.lastIndexOf('/');
        if (slash < 0) break;
        cur = cur.slice(0, slash);
      }
      // Outs inside the dep (a dep on a directory that holds outs): binary search the sorted outs.
      const prefix = dep === '.' ? '' : dep + '/';
      let lo = 0;
      let hi = outs.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (outs[mid] < prefix) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < outs.length && outs[i].startsWith(prefix); i++) link(owner.get(outs[i])!, s, outs[i]);
    }
  }

  const order = (names: Iterable<string>) => [...names].sort((a, b) => byName.get(a)!.index - byName.get(b)!.index);
  const upstream = new Map<string, string[]>([...ups].map(([k, m]) => [k, order(m.keys())]));
  const downstream = new Map<string, string[]>([...downs].map(([k, set]) => [k, order(set)]));

  const topo = topologicalOrder(p, upstream, ups);
  // The pipeline passed every check: its YAML parses may now be reused by the next command.
  savePipelineParses(p);
  const known = (name: string) => {
    if (!byName.has(name)) throw new GrowError(`unknown stage "${name}"`);
  };
  return {
    upstream: (name) => {
      known(name);
      return upstream.get(name)!;
    },
    downstream: (name) => {
      known(name);
      return downstream.get(name)!;
    },
    topoOrder: () => [...topo],
    via: (from, to) => {
      known(from);
      known(to);
      return ups.get(to)!.get(from) ?? [];
    },
  };
}

/** Depth-first post-order in declaration order; a back edge is a cycle, reported with its paths. */
function topologicalOrder(p: Pipeline, upstream: Map<string, string[]>, ups: Map<string, Map<string, string[]>>): string[] {
  const state = new Map<string, 'active' | 'done'>();
  const out: string[] = [];
  const stack: string[] = [];
  const visit = (name: string) => {
    const st = state.get(name);
    if (st === 'done') return;
    if (st === 'active') {
      const cycle = [...stack.slice(stack.indexOf(name)), name];
      // stack holds dependents first; the cycle reads upstream → downstream when reversed.
      const forward = cycle.reverse();
      const steps = forward.slice(0, -1).map(
        (from, i) =>
          `${from} → ${forward[i + 1]} (via ${ups
            .get(forward[i + 1])!
            .get(from)!
            .join(', ')})`,
      );
      const stage = p.stages.find((s) => s.name === name);
      if (forward.length === 2) {
        fail(
          p,
          stage,
          `stage "${name}" depends on its own out (${ups.get(name)!.get(name)!.join(', ')})`,
          'a stage cannot read what it writes; remove the path from deps or from outs',
        );
      }
      fail(
        p,
        stage,
        `dependency cycle: ${forward.join(' → ')}\n  ${steps.join('\n  ')}`,
        'a stage cannot depend, directly or through others, on its own outs; break one of these edges',
      );
    }
    state.set(name, 'active');
    stack.push(name);
    for (const up of upstream.get(name)!) visit(up);
    stack.pop();
    state.set(name, 'done');
    out.push(name);
  };
  for (const s of p.stages) visit(s.name);
  return out;
}

/**
 * The stages a command acts on, in topological order. `targets` are stage names or group names
 * (`train_small` = all its items); none means every stage. By default the targets' upstream
 * stages are included (as `dvc repro`); `singleItem` takes only the targets; `downstream` takes
 * the targets and everything that depends on them.
 */
export function selectTargets(
  p: Pipeline,
  g: Graph,
  targets: string[],
  opts: { downstream?: boolean; singleItem?: boolean } = {},
): string[] {
  const all = g.topoOrder();
  if (targets.length === 0 && !opts.downstream) return all;
  const groups = new Map<string, string[]>();
  for (const s of p.stages) if (s.group) (groups.get(s.group) ?? groups.set(s.group, []).get(s.group)!).push(s.name);
  const names = new Set(p.stages.map((s) => s.name));
  const chosen = new Set<string>();
  for (const raw of targets) {
    // `pipeline.yaml:train` is accepted too (DVC's file:stage form).
    const t = raw.startsWith(`${p.file}:`) ? raw.slice(p.file.length + 1) : raw;
    if (names.has(t)) chosen.add(t);
    else if (groups.has(t)) for (const n of groups.get(t)!) chosen.add(n);
    else {
      const near = closest(t, [...names, ...groups.keys()], 5);
      throw new GrowError(
        `unknown stage "${raw}" in ${p.file}${near.length ? `; did you mean ${near.map((n) => `"${n}"`).join(', ')}?` : ''}`,
        2,
        `stages: ${[...groups.keys(), ...p.stages.filter((s) => !s.group).map((s) => s.name)].slice(0, 20).join(', ')}`,
      );
    }
  }
  if (targets.length === 0) for (const n of names) chosen.add(n);
  if (!opts.singleItem || opts.downstream) {
    const next = opts.downstream ? g.downstream : g.upstream;
    const todo = [...chosen];
    while (todo.length) {
      for (const n of next(todo.pop()!)) {
        if (!chosen.has(n)) {
          chosen.add(n);
          todo.push(n);
        }
      }
    }
  }
  return all.filter((n) => chosen.has(n));
}

/**
 * Cuts `names` (a `selectTargets` result for `targets` with their upstream stages) at frozen
 * stages, as `dvc repro C` and `dvc status C` do: a frozen stage is kept, the stages above it
 * only where a target still reaches them through a stage that is not frozen. No targets means
 * the whole pipeline, which is left as it is.
 */
export function withoutAboveFrozen(p: Pipeline, g: Graph, targets: string[], names: string[]): string[] {
  if (targets.length === 0) return names;
  const frozen = new Set(p.stages.filter((s) => s.frozen).map((s) => s.name));
  const keep = new Set<string>();
  const todo = selectTargets(p, g, targets, { singleItem: true });
  while (todo.length) {
    const n = todo.pop()!;
    if (keep.has(n)) continue;
    keep.add(n);
    if (!frozen.has(n)) todo.push(...g.upstream(n));
  }
  return names.filter((n) => keep.has(n));
}
