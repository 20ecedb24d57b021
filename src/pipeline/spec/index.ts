/**
 * pipeline.yaml → a validated, interpolated, expanded `Pipeline`:
 *   read (positions kept) → schema check → params (+ overlays, --set) and vars → per stage:
 *   expand foreach/matrix → interpolate → check the concrete stage → resolve paths and params.
 * Every problem a user can cause is a ConfigError at file:line:col with a fix.
 */
import path from 'node:path';
import { ConfigError } from '../errors.ts';
import type { OutSpec, ParamsRef, Pipeline, Resources, Stage } from '../types.ts';
import { expandStage } from './expand.ts';
import { carryFloats } from './number-text.ts';
import { Interpolator } from './interpolate.ts';
import {
  canonical,
  FileParams,
  isMapping,
  parseKey,
  lookup,
  isMissing,
  type ParamsOptions,
  type ParamsSource,
  type Tree,
} from './params.ts';
import { Containment, resolveLexically } from './paths.ts';
import { didYouMean } from './suggest.ts';
import { validatePipeline, validateStageBody } from './validate.ts';
import { displayPath, YamlSource, type YamlPath } from './yaml-source.ts';

export type { ParamsSource } from './params.ts';
export { canonical, deepMerge } from './params.ts';

export interface LoadOptions extends ParamsOptions {
  /** The pipeline file, relative to root (default 'pipeline.yaml'). */
  file?: string;
  /**
   * Reuse earlier parses of unchanged YAML files from `.grow/spec/` (default true): parsing is
   * most of a cold load's cost. Nothing else is cached; validation and everything after it run
   * every time.
   */
  parseCache?: boolean;
  /**
   * Store fresh parses in `.grow/spec/` once the pipeline passes every check (default true).
   * false: earlier parses are still read, nothing is written (`grow run --dry` writes nothing).
   */
  writeParseCache?: boolean;
}

export type LoadedPipeline = Pipeline & { params: ParamsSource };

export const DEFAULT_PIPELINE_FILE = 'pipeline.yaml';
export const DVC_DEFAULT_PARAMS_FILE = 'params.yaml';

/** Parse-cache writes waiting for the pipeline to pass every check (see savePipelineParses). */
const pendingParses = new WeakMap<Pipeline, () => void>();

/**
 * Stores the fresh YAML parses of a loaded pipeline in `.grow/spec/`. buildGraph calls it once the
 * graph checks pass too, so that a command failing on bad input leaves the project untouched.
 */
export function savePipelineParses(p: Pipeline): void {
  const save = pendingParses.get(p);
  pendingParses.delete(p);
  save?.();
}

export async function loadPipeline(root: string, opts: LoadOptions = {}): Promise<LoadedPipeline> {
  return loadPipelineSync(root, opts);
}

/** The same as loadPipeline, synchronously (everything it reads is small). */
export function loadPipelineSync(root: string, opts: LoadOptions = {}): LoadedPipeline {
  const absRoot = path.resolve(root);
  const absFile = path.resolve(absRoot, opts.file ?? DEFAULT_PIPELINE_FILE);
  const file = displayPath(absRoot, absFile);
  const cacheDir = opts.parseCache === false ? undefined : path.join(absRoot, '.grow', 'spec');
  const src = YamlSource.read(absFile, file, 'pipeline file', cacheDir);
  if (!isMapping(src.data)) {
    throw new ConfigError(
      file,
      1,
      1,
      src.data == null ? 'the pipeline file is empty' : 'the pipeline file must be a mapping with a `stages:` key',
      'start it with `stages:` followed by named stages, see docs/pipeline-yaml.md',
    );
  }
  validatePipeline(src);
  const doc = src.data;
  const containment = new Containment(absRoot);
  // Everything in the file is relative to the directory holding it (the root, normally).
  const base = resolveLexically(absRoot, '.', path.relative(absRoot, path.dirname(absFile)) || '.');
  if (!base.ok) throw new ConfigError(file, undefined, undefined, `the pipeline file must be inside the project root ${absRoot}`);
  const loader = new Loader(src, absRoot, base.path, containment, opts, cacheDir);
  const pipeline = loader.load(doc);
  if (opts.writeParseCache !== false) {
    pendingParses.set(pipeline, () => {
      src.saveToCache();
      (pipeline.params as FileParams).saveToCache();
    });
  }
  return pipeline;
}

class Loader {
  private readonly params: FileParams;
  private readonly defaultParamsFile: string;
  private readonly paramsFiles = new Set<string>();
  /** Unused DVC fields, one warning per kind (by text). */
  private readonly warnings = new Map<string, string>();
  private readonly interp: Interpolator;

  constructor(
    private readonly src: YamlSource,
    private readonly root: string,
    private readonly base: string,
    private readonly containment: Containment,
    private readonly opts: LoadOptions,
    cacheDir: string | undefined,
  ) {
    const doc = src.data as Tree;
    this.defaultParamsFile =
      typeof doc.params === 'string'
        ? this.projectPath(this.base, doc.params, ['params'], 'the default params file')
        : this.projectPath(this.base, DVC_DEFAULT_PARAMS_FILE, [], 'params.yaml');
    this.params = new FileParams(root, this.defaultParamsFile, opts, cacheDir);
    this.interp = new Interpolator(src, `vars or ${this.defaultParamsFile}${this.paramsFileState()}`);
  }

  /** " (which is empty)" / " (which does not exist yet)" for the default params file, else "". */
  private paramsFileState(): string {
    try {
      if (!this.params.exists(this.defaultParamsFile)) return ' (which does not exist yet)';
      return Object.keys(this.params.ordered(this.defaultParamsFile)).length === 0 ? ' (which is empty)' : '';
    } catch {
      return ''; // a broken params file is reported where it is read
    }
  }

  load(doc: Tree): LoadedPipeline {
    const scope = this.context(doc);
    const ctx = scope.ctx;
    const stages: Stage[] = [];
    const seen = new Map<string, string>();
    for (const [name, def] of Object.entries(doc.stages as Record<string, Tree>)) {
      for (const inst of expandStage(this.src, this.interp, name, def, ctx)) {
        const other = seen.get(inst.name);
        if (other !== undefined) {
          throw this.src.error(
            ['stages', name],
            `stage name "${inst.name}" is defined twice (by "${other}" and "${name}")`,
            'rename one of them; foreach/matrix items are named <group>@<item>',
            true,
          );
        }
        seen.set(inst.name, name);
        let local = ctx;
        if (Object.keys(inst.locals).length) {
          local = { ...ctx, ...inst.locals };
          carryFloats(ctx, local);
          carryFloats(inst.locals, local);
        }
        const { vars: stageVars, cmd, ...rest } = inst.body;
        if (Array.isArray(stageVars)) {
          // As DVC: a stage's vars files are relative to its wdir, which may itself be a template
          // (of the names known before the stage's own vars).
          const wdir =
            typeof rest.wdir === 'string'
              ? this.projectPath(
                  this.base,
                  String(this.interp.value(rest.wdir, local, [...inst.at, 'wdir'])),
                  [...inst.at, 'wdir'],
                  `wdir of stage "${inst.name}"`,
                )
              : this.base;
          local = this.withVars(
            { ctx: local, origin: scope.origin, imports: new Map(scope.imports) },
            stageVars,
            [...inst.at, 'vars'],
            wdir,
          ).ctx;
        }
        const body = this.interp.value(rest, local, inst.at) as Tree;
        if (cmd !== undefined) body.cmd = this.interp.value(cmd, local, [...inst.at, 'cmd'], true);
        validateStageBody(this.src, inst.at, body, inst.name);
        stages.push(this.stage(inst.name, inst.group, body, inst.at, name));
      }
    }
    for (const f of this.params.overriddenFiles()) this.paramsFiles.add(f);
    const metricsFiles = this.topLevel(doc);
    for (const overlay of this.opts.overlays ?? []) {
      // Pipeline.paramsFiles is project-relative; an overlay from outside the project is read but not listed.
      const shown = displayPath(this.root, path.resolve(this.root, overlay));
      if (!path.isAbsolute(shown)) this.paramsFiles.add(shown);
    }
    return {
      root: this.root,
      file: this.src.file,
      defaultParamsFile: this.defaultParamsFile,
      stages,
      paramsFiles: [...this.paramsFiles],
      params: this.params,
      ...(metricsFiles.length ? { metricsFiles } : {}),
      ...(this.warnings.size ? { warnings: [...this.warnings.values()] } : {}),
    };
  }

  private warn(kind: string, at: YamlPath, text: string, atKey = true): void {
    if (this.warnings.has(kind)) return;
    const pos = atKey ? this.src.keyPos(at) : this.src.pos(at);
    this.warnings.set(kind, `${pos.file}:${pos.line}:${pos.col}: ${text}`);
  }

  /** DVC's top-level `params` list, `metrics`, `plots` and `artifacts`: read what the runner uses. */
  private topLevel(doc: Tree): string[] {
    if (Array.isArray(doc.params)) {
      doc.params.forEach((f, i) => {
        const file = this.projectPath(this.base, f as string, ['params', i], 'a params file');
        try {
          if (this.params.exists(file)) this.paramsFiles.add(file);
        } catch (e) {
          // Only watched, never read for values: a file grow cannot read (TOML) is left out.
          if (!(e instanceof ConfigError)) throw e;
          this.warn(`params:${file}`, ['params', i], `${file} is not watched: ${e.message.replace(/^[^:]*: /, '')}`, false);
        }
      });
    }
    if (doc.plots !== undefined) this.warn('plots', ['plots'], 'top-level `plots` (DVC plot definitions) are not used by grow; ignored');
    if (doc.datasets !== undefined)
      this.warn('datasets', ['datasets'], 'top-level `datasets` (DVC remote datasets) are not used by grow; ignored');
    if (doc.artifacts !== undefined)
      this.warn('artifacts', ['artifacts'], 'top-level `artifacts` (DVC model registry) are not used by grow; ignored');
    return ((doc.metrics as string[] | undefined) ?? []).map((m, i) => this.projectPath(this.base, m, ['metrics', i], 'a metrics file'));
  }

  /** Names for interpolation: the default params file (overrides applied), then `vars` in order. */
  private context(doc: Tree): Scope {
    const scope: Scope = { ctx: {}, origin: new Map(), imports: new Map() };
    const exists = this.params.exists(this.defaultParamsFile);
    if (!exists && this.params.overriddenFiles().includes(this.defaultParamsFile)) {
      throw new ConfigError(
        this.defaultParamsFile,
        undefined,
        undefined,
        'params file not found, but --params/--set would change it',
        `create ${this.defaultParamsFile}, or name another default params file with a top-level \`params:\` in ${this.src.file}`,
      );
    }
    if (exists) {
      const tree = this.params.ordered(this.defaultParamsFile);
      scope.ctx = { ...tree };
      carryFloats(tree, scope.ctx);
      for (const k of Object.keys(scope.ctx)) scope.origin.set(k, this.defaultParamsFile);
      scope.imports.set(this.defaultParamsFile, null);
      this.paramsFiles.add(this.defaultParamsFile);
    }
    return this.withVars(scope, (doc.vars as unknown[] | undefined) ?? [], ['vars'], this.base);
  }

  /**
   * `scope` extended by vars entries (inline mappings or `file[:keys]`, relative to `wdir`), in
   * order. Used for the top-level `vars` and for a stage's own `vars`. As in DVC, a file (or key)
   * already loaded is not loaded again, and `${…}` is not allowed in vars: they are read before
   * anything is interpolated. A name defined twice with different values is an error; the same
   * value from two sources is not.
   */
  private withVars(scope: Scope, entries: unknown[], at: YamlPath, wdir: string): Scope {
    let { ctx } = scope;
    const origin = new Map(scope.origin);
    const imports = scope.imports;
    entries.forEach((entry, i) => {
      const where: YamlPath = [...at, i];
      const tpl = findTemplate(entry, where);
      if (tpl)
        throw this.src.error(
          tpl.at,
          `\${…} is not allowed in vars ("${tpl.text}")`,
          'vars are read before anything is interpolated (as in DVC): write the file name or value literally, or move the value into a params file',
          tpl.atKey,
        );
      let values: Tree;
      let from: string;
      if (typeof entry === 'string') {
        const loaded = this.varsFile(entry, where, wdir, imports);
        if (!loaded) return;
        ({ values, from } = loaded);
      } else {
        values = entry as Tree;
        from = `vars (${this.src.file}:${this.src.pos(where).line})`;
      }
      const next = mergeNoRedefine(ctx, values, '', (key, before, after) => {
        if (canonicalEqual(before, after)) return;
        throw this.src.error(
          where,
          `vars cannot redefine "${key}", already defined by ${origin.get(key.split('.')[0]) ?? 'an earlier vars entry'} (${short(before)} here ${short(after)})`,
          'rename one of them, or give it the same value (DVC does not allow redefining names either)',
        );
      });
      carryFloats(ctx, next);
      carryFloats(values, next);
      ctx = next;
      for (const k of Object.keys(values)) if (!origin.has(k)) origin.set(k, from);
    });
    return { ctx, origin, imports };
  }

  /**
   * A vars entry naming a file (`file.yaml` or `file.yaml:key1,key2`); undefined if everything it
   * names was loaded already.
   */
  private varsFile(
    entry: string,
    at: YamlPath,
    wdir: string,
    imports: Map<string, Set<string> | null>,
  ): { values: Tree; from: string } | undefined {
    const colon = entry.lastIndexOf(':');
    const hasKeys = colon > 0 && !/^[A-Za-z]:[\\/]/.test(entry);
    const f = this.projectPath(wdir, hasKeys ? entry.slice(0, colon) : entry, at, 'a vars file');
    const before = imports.get(f);
    if (before === null) return undefined; // the whole file is loaded already, as DVC skips it
    let tree: Tree;
    try {
      tree = this.params.ordered(f);
    } catch (e) {
      if (e instanceof ConfigError && /not found$/.test(e.message))
        throw this.src.error(
          at,
          `vars file "${f}" not found (paths in vars are relative to ${wdir === '.' ? 'the project root' : wdir})`,
          `create ${f} or remove it from vars`,
        );
      throw e;
    }
    this.paramsFiles.add(f);
    if (!hasKeys) {
      imports.set(f, null);
      return { values: tree, from: f };
    }
    const keys = entry
      .slice(colon + 1)
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k && !before?.has(k));
    imports.set(f, new Set([...(before ?? []), ...keys]));
    let values: Tree = {};
    for (const key of keys) {
      const v = lookup(tree, parseKey(key) ?? [key]);
      if (isMissing(v)) throw this.src.error(at, `vars: "${key}" is not defined in ${f}.${didYouMean(key, Object.keys(tree))}`);
      // `file:a.b` makes `a.b` available under its own path.
      let patch: unknown = v;
      const parts = key.split('.');
      for (let j = parts.length - 1; j >= 0; j--) patch = { [parts[j]]: patch };
      values = mergeNoRedefine(values, patch as Tree, '', () => undefined);
    }
    return { values, from: f };
  }

  /** A path written in the file (relative to `wdir`) as a checked project-relative path. */
  private projectPath(wdir: string, p: string, at: YamlPath, what: string, atKey = false): string {
    const r = resolveLexically(this.root, wdir, p);
    if (!r.ok)
      throw this.src.error(
        at,
        `${what} ${r.why}`,
        'paths must stay inside the project: use a path relative to the stage wdir without leading ".." out of the root',
        atKey,
      );
    const leak = this.containment.escapes(r.path);
    if (leak)
      throw this.src.error(
        at,
        `${what} "${p}" resolves through a symlink to ${leak}, outside the project`,
        'keep deps and outs inside the project root (copy the data in, or make the symlink point inside)',
        atKey,
      );
    return r.path;
  }

  private stage(name: string, group: string | undefined, body: Tree, at: YamlPath, declared: string): Stage {
    const wdir =
      body.wdir === undefined ? this.base : this.projectPath(this.base, body.wdir as string, [...at, 'wdir'], `wdir of stage "${name}"`);
    const stage: Stage = {
      name,
      cmd: typeof body.cmd === 'string' ? [body.cmd] : [...(body.cmd as string[])],
      wdir,
      deps: ((body.deps as string[] | undefined) ?? []).map((d, i) =>
        this.projectPath(wdir, d, [...at, 'deps', i], `dep of stage "${name}"`),
      ),
      params: this.paramsRefs(name, wdir, body.params as unknown[] | undefined, at),
      outs: [
        ...this.outs(name, wdir, body.outs, 'out', [...at, 'outs']),
        ...this.outs(name, wdir, body.metrics, 'metrics', [...at, 'metrics']),
        ...this.outs(name, wdir, body.plots, 'plots', [...at, 'plots']),
      ],
      alwaysChanged: body.always_changed === true,
      frozen: body.frozen === true,
      interruptible: body.interruptible === true,
    };
    if (group !== undefined) stage.group = group;
    if (typeof body.desc === 'string') stage.desc = body.desc;
    if (body.executor !== undefined) stage.executor = body.executor as 'local' | 'slurm';
    if (body.resources !== undefined) stage.resources = { ...(body.resources as Resources) };
    stage.pos = this.src.keyPos(['stages', declared]);
    return stage;
  }

  private outs(name: string, wdir: string, list: unknown, kind: OutSpec['kind'], at: YamlPath): OutSpec[] {
    if (!Array.isArray(list)) return [];
    const label = kind === 'out' ? 'out' : `${kind} file`;
    return list.map((item, i) => {
      const [p, flags] = typeof item === 'string' ? [item, null] : (Object.entries(item as Tree)[0] as [string, Tree | null]);
      const where: YamlPath = typeof item === 'string' ? [...at, i] : [...at, i, p];
      const isKey = typeof item !== 'string';
      const resolved = this.projectPath(wdir, p, where, `${label} of stage "${name}"`, isKey);
      if (resolved === '.')
        throw this.src.error(
          where,
          `${label} of stage "${name}" is the whole project`,
          'name the file or directory the stage writes',
          isKey,
        );
      for (const key of ['push', 'remote'] as const) {
        if (flags?.[key] !== undefined)
          this.warn(
            key,
            [...where, key],
            `\`${key}\` on outputs is a DVC remote setting that grow does not use (grow push/pull copy every cached output); ignored`,
          );
      }
      if (flags?.checkpoint === true)
        this.warn(
          'checkpoint',
          [...where, 'checkpoint'],
          '`checkpoint: true` (DVC 2) is read as `persist: true`: the output is kept between runs',
        );
      return {
        path: resolved,
        cache: flags?.cache !== false,
        persist: flags?.persist === true || flags?.checkpoint === true,
        kind,
        ...(flags?.show === true ? { show: true } : {}),
        ...(flags?.verify === false ? { verify: false as const } : {}),
      };
    });
  }

  private paramsRefs(name: string, wdir: string, list: unknown[] | undefined, at: YamlPath): ParamsRef[] {
    const byFile = new Map<string, string[] | null>();
    const add = (file: string, keys: string[] | null) => {
      const prev = byFile.get(file);
      if (prev === null || keys === null) byFile.set(file, null);
      else byFile.set(file, [...new Set([...(prev ?? []), ...keys])]);
    };
    (list ?? []).forEach((item, i) => {
      const p: YamlPath = [...at, 'params', i];
      if (typeof item === 'string') {
        this.checkParam(name, this.defaultParamsFile, item, p, false);
        add(this.defaultParamsFile, [item]);
        return;
      }
      for (const [f, keys] of Object.entries(item as Tree)) {
        const file = this.projectPath(wdir, f, [...p, f], `params file of stage "${name}"`, true);
        this.requireParamsFile(name, file, [...p, f]);
        const list = (keys as string[] | null) ?? null;
        list?.forEach((k, j) => this.checkParam(name, file, k, [...p, f, j], false));
        add(file, list);
      }
    });
    return [...byFile].map(([file, keys]) => ({ file, keys }));
  }

  private requireParamsFile(stage: string, file: string, at: YamlPath, atKey = true): void {
    if (!this.params.exists(file)) {
      const hint =
        file === DVC_DEFAULT_PARAMS_FILE
          ? 'create params.yaml, or name the default params file with a top-level `params: <file>`'
          : `create ${file} or fix the name`;
      throw this.src.error(at, `params file "${file}" (listed by stage "${stage}") not found`, hint, atKey);
    }
    this.paramsFiles.add(file);
  }

  private checkParam(stage: string, file: string, key: string, at: YamlPath, atKey: boolean): void {
    this.requireParamsFile(stage, file, at, atKey);
    try {
      this.params.value(file, key);
    } catch (e) {
      if (e instanceof ConfigError)
        throw this.src.error(at, `stage "${stage}" lists param "${key}", but ${e.message.replace(/^[^:]*: /, '')}`, e.hint);
      throw e;
    }
  }
}

/** Names visible to interpolation, and where each top-level name came from (for messages). */
interface Scope {
  ctx: Tree;
  origin: Map<string, string>;
  /** vars files loaded so far: null for the whole file, else the keys taken from it. */
  imports: Map<string, Set<string> | null>;
}

/** `add` merged into `base`; mappings merge, any other clash calls `clash(dottedKey, old, new)`. */
function mergeNoRedefine(base: Tree, add: Tree, prefix: string, clash: (key: string, before: unknown, after: unknown) => void): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(add)) {
    if (!(k in out)) out[k] = v;
    else if (isMapping(out[k]) && isMapping(v)) {
      out[k] = mergeNoRedefine(out[k] as Tree, v, `${prefix}${k}.`, clash);
      carryFloats(base[k] as Tree, out[k] as Tree);
      carryFloats(v, out[k] as Tree);
    } else clash(`${prefix}${k}`, out[k], v);
  }
  return out;
}

function canonicalEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function short(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 37)}…` : text;
}

/** The first `${…}` (not escaped) in a vars entry, with where it is. */
function findTemplate(v: unknown, at: YamlPath): { at: YamlPath; text: string; atKey: boolean } | undefined {
  const has = (s: string) => /(^|[^\\])\$\{/.test(s);
  if (typeof v === 'string') return has(v) ? { at, text: v, atKey: false } : undefined;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = findTemplate(v[i], [...at, i]);
      if (found) return found;
    }
  } else if (isMapping(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (has(k)) return { at: [...at, k], text: k, atKey: true };
      const found = findTemplate(x, [...at, k]);
      if (found) return found;
    }
  }
  return undefined;
}
