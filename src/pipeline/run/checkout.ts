/**
 * `grow checkout`: make the workspace match pipeline.lock by restoring outs from the cache. Only
 * the outs pipeline.yaml declares are touched: the lock names which hash each declared out should
 * have, never which paths to write (a lock entry for a path no stage declares is ignored). An out
 * that already has the recorded hash is left alone; one that is missing from the cache (or whose
 * object is corrupt), or that cannot be written, is reported, and the command fails.
 */
import { selectTargets } from '../plan/graph.ts';
import { describeIoError } from '../io-error.ts';
import type { Project } from '../project/project.ts';
import { OutsideProjectError } from '../store/trust.ts';

export interface CheckoutResult {
  restored: string[];
  unchanged: string[];
  /** path → why it could not be restored */
  failed: Map<string, string>;
}

export async function checkout(project: Project, targets: string[] = []): Promise<CheckoutResult> {
  const names = targets.length
    ? selectTargets(project.pipeline, project.graph, targets, { singleItem: true })
    : [...project.lock.entries().keys()].filter((n) => project.byName.has(n));
  const result: CheckoutResult = { restored: [], unchanged: [], failed: new Map() };
  try {
    for (const name of names) {
      const entry = project.lock.get(name);
      const stage = project.byName.get(name);
      if (!entry || !stage) continue;
      for (const declared of stage.outs) {
        const out = entry.outs.find((o) => o.path === declared.path);
        if (!out) continue; // the lock predates this out: nothing recorded to restore
        const now = await project.hasher.hash(out.path);
        if (now?.hash === out.hash) {
          result.unchanged.push(out.path);
          continue;
        }
        if (declared.cache === false) {
          result.failed.set(out.path, `declared \`cache: false\`, so it is not in the cache; run \`grow run ${name}\``);
          continue;
        }
        if (!(await project.cache.has(out.hash))) {
          result.failed.set(out.path, `not in the cache (or its object is corrupt); run \`grow run ${name}\``);
          continue;
        }
        try {
          await project.cache.restoreOut(out.path, out.hash);
          result.restored.push(out.path);
        } catch (e) {
          if (e instanceof OutsideProjectError) {
            result.failed.set(out.path, `${e.message}; nothing was written`);
            continue;
          }
          const io = describeIoError(e);
          if (!io) throw e;
          // The out was assembled beside its place and renamed in: the old one is untouched.
          result.failed.set(out.path, `${io.message} (the previous ${out.path} was left as it was); ${io.hint}`);
        }
      }
    }
  } finally {
    project.hasher.save();
  }
  return result;
}
