/**
 * `grow checkout`: make the workspace match pipeline.lock by restoring outs from the cache. An out
 * that already has the recorded hash is left alone; one that is missing from the cache (or whose
 * object is corrupt) is reported, and the command fails, naming `grow run` as the fix.
 */
import { join } from 'node:path';
import { selectTargets } from './graph.ts';
import type { Project } from './project.ts';

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
  for (const name of names) {
    const entry = project.lock.get(name);
    if (!entry) continue;
    const stage = project.byName.get(name);
    for (const out of entry.outs) {
      const now = await project.hasher.hash(out.path);
      if (now?.hash === out.hash) {
        result.unchanged.push(out.path);
        continue;
      }
      if (stage?.outs.find((o) => o.path === out.path)?.cache === false) {
        result.failed.set(out.path, `declared \`cache: false\`, so it is not in the cache; run \`grow run ${name}\``);
        continue;
      }
      if (!(await project.cache.has(out.hash))) {
        result.failed.set(out.path, `not in the cache (or its object is corrupt); run \`grow run ${name}\``);
        continue;
      }
      await project.cache.restore(join(project.root, out.path), out.hash);
      result.restored.push(out.path);
    }
  }
  project.hasher.save();
  return result;
}
