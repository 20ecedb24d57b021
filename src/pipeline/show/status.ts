/**
 * `grow status`: every selected stage's state and reasons, without running or restoring anything.
 * A stage downstream of a stale one is reported with `upstream <stage> will re-run` — a planning
 * hint: at run time early cut-off may still find it up to date.
 */
import { selectTargets, withoutAboveFrozen } from '../plan/graph.ts';
import type { Project } from '../project/project.ts';
import type { HashInfo } from '../store/hash.ts';
import { staleReasons } from '../plan/stale-reasons.ts';

export interface StageStatus {
  name: string;
  state: 'up to date' | 'stale' | 'frozen';
  reasons: string[];
}

export async function pipelineStatus(project: Project, targets: string[] = []): Promise<StageStatus[]> {
  // Like `grow run C`: the stages above a frozen upstream stage of a target are not looked at.
  const names = withoutAboveFrozen(
    project.pipeline,
    project.graph,
    targets,
    selectTargets(project.pipeline, project.graph, targets, { downstream: false, singleItem: false }),
  );
  const byName = new Map<string, StageStatus>();
  // Status writes nothing: a stage's outs, hashed once, are the next stage's deps of the same path.
  const hashed = new Map<string, HashInfo | null>();
  for (const name of names) {
    const stage = project.stage(name);
    const facts = await project.facts(stage, hashed);
    for (const [path, info] of facts.outs) hashed.set(path, info);
    // Worded as `grow run` refuses it, so both commands name the problem the same way.
    const reasons = staleReasons(stage, project.lock.get(name), facts).map((r) => {
      const dep = /^dep (.+) missing$/.exec(r)?.[1];
      return dep !== undefined && !project.writtenByStages(dep) ? `dep ${dep} does not exist and no stage produces it` : r;
    });
    // Upstream hints add nothing to a stage that never ran.
    if (reasons[0] !== 'never run') {
      for (const up of project.upstream(name)) {
        const u = byName.get(up);
        if (u && u.state === 'stale') reasons.push(`upstream ${up} will re-run`);
      }
    }
    byName.set(name, { name, state: stage.frozen ? 'frozen' : reasons.length ? 'stale' : 'up to date', reasons });
  }
  // With no targets every stage's deps and outs were looked at: the state can drop the rest.
  project.hasher.save(targets.length === 0);
  return names.map((n) => byName.get(n)!);
}

export function formatStatus(list: StageStatus[]): string {
  if (list.length === 0) return 'no stages';
  const lines: string[] = [];
  for (const s of list) {
    if (s.state === 'up to date') lines.push(`✔ ${s.name}: up to date`);
    else if (s.state === 'frozen') lines.push(`❄ ${s.name}: frozen${s.reasons.length ? ` (changed: ${s.reasons.join(', ')})` : ''}`);
    else {
      lines.push(`✗ ${s.name}: stale`);
      for (const r of s.reasons) lines.push(`    ${r}`);
    }
  }
  const stale = list.filter((s) => s.state === 'stale').length;
  lines.push(stale ? `${stale} of ${list.length} stages stale; run \`grow run\` to update` : `all ${list.length} stages up to date`);
  return lines.join('\n');
}
