/**
 * `grow explain <stage>`: every component of the stage's fingerprint — salt, cmd, each dep hash,
 * each params value, each out — now and as recorded in the lock, marking each difference. It is the
 * long form of the reasons `grow status` gives.
 */
import { FINGERPRINT_SALT } from '../store/hash.ts';
import type { Project } from '../project/project.ts';
import { canonicalJson, staleReasons } from '../plan/stale-reasons.ts';

export interface ExplainRow {
  kind: 'salt' | 'cmd' | 'dep' | 'param' | 'out';
  name: string;
  now: string | null;
  lock: string | null;
  differs: boolean;
}

export interface Explanation {
  stage: string;
  declaredAt?: string;
  frozen: boolean;
  alwaysChanged: boolean;
  rows: ExplainRow[];
  reasons: string[];
}

export async function explainStage(project: Project, name: string): Promise<Explanation> {
  const stage = project.stage(name);
  const entry = project.lock.get(name);
  const facts = await project.facts(stage);
  const rows: ExplainRow[] = [];
  const add = (kind: ExplainRow['kind'], rowName: string, now: string | null, lock: string | null) =>
    rows.push({ kind, name: rowName, now, lock, differs: now !== lock });

  rows.push({ kind: 'salt', name: 'schema', now: FINGERPRINT_SALT, lock: entry ? FINGERPRINT_SALT : null, differs: !entry });
  stage.cmd.forEach((c, i) => add('cmd', stage.cmd.length > 1 ? `[${i}]` : '', c, entry?.cmd[i] ?? null));
  for (let i = stage.cmd.length; i < (entry?.cmd.length ?? 0); i++) add('cmd', `[${i}]`, null, entry!.cmd[i]);

  const lockDeps = new Map(entry?.deps.map((d) => [d.path, d.hash]) ?? []);
  for (const [path, info] of facts.deps) add('dep', path, info?.hash ?? null, lockDeps.get(path) ?? null);
  for (const [path, hash] of lockDeps) if (!facts.deps.has(path)) add('dep', path, null, hash);

  const lockParams = entry?.params ?? {};
  const files = [...new Set([...Object.keys(facts.params), ...Object.keys(lockParams)])].sort();
  for (const file of files) {
    const now = facts.params[file] ?? {};
    const old = lockParams[file] ?? {};
    for (const key of [...new Set([...Object.keys(now), ...Object.keys(old)])].sort()) {
      add('param', key ? `${file}:${key}` : file, key in now ? canonicalJson(now[key]) : null, key in old ? canonicalJson(old[key]) : null);
    }
  }

  const lockOuts = new Map(entry?.outs.map((o) => [o.path, o.hash]) ?? []);
  for (const [path, info] of facts.outs) add('out', path, info?.hash ?? null, lockOuts.get(path) ?? null);
  for (const [path, hash] of lockOuts) if (!facts.outs.has(path)) add('out', path, null, hash);
  project.hasher.save();

  return {
    stage: name,
    declaredAt: stage.pos ? `${stage.pos.file}:${stage.pos.line}:${stage.pos.col}` : undefined,
    frozen: stage.frozen,
    alwaysChanged: stage.alwaysChanged,
    rows,
    reasons: staleReasons(stage, entry, facts),
  };
}

export function formatExplanation(e: Explanation): string {
  const lines = [
    `stage ${e.stage}${e.declaredAt ? ` (${e.declaredAt})` : ''}${e.frozen ? ' [frozen]' : ''}${e.alwaysChanged ? ' [always_changed]' : ''}`,
  ];
  const show = (v: string | null) => v ?? '(none)';
  for (const r of e.rows) {
    const label = `${r.kind}${r.name ? ` ${r.name}` : ''}`;
    if (!r.differs) lines.push(`  = ${label}: ${show(r.now)}`);
    else {
      lines.push(`  ≠ ${label}`);
      lines.push(`      now:  ${show(r.now)}`);
      lines.push(`      lock: ${show(r.lock)}`);
    }
  }
  lines.push(e.reasons.length ? `stale: ${e.reasons.join(', ')}` : 'up to date');
  return lines.join('\n');
}
