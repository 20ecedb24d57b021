/** `grow checkout [targets…]`: restore the outs pipeline.lock records from the cache. */
import type { Command } from 'commander';
import { checkout } from '../run/checkout.ts';
import { EXIT } from '../errors.ts';
import { acquireProcessLock } from '../run/runner-mutex.ts';
import { Project } from '../project/project.ts';
import { err, out } from './options.ts';

export function registerCheckout(program: Command): void {
  program
    .command('checkout')
    .description('restore the outs recorded in pipeline.lock from the cache')
    .argument('[targets...]', 'stage or group names (default: every stage in the lock)')
    .addHelpText(
      'after',
      `
Examples:
  grow checkout                 make the workspace match pipeline.lock
  grow checkout train_small     only the outs of the train_small@* stages`,
    )
    .action(async (targets: string[]) => {
      const project = await Project.open();
      const lock = acquireProcessLock(project.root);
      try {
        const r = await checkout(project, targets);
        for (const p of r.restored) out(`restored ${p}`);
        for (const [p, why] of r.failed) err(`grow: cannot restore ${p}: ${why}`);
        out(`${r.restored.length} restored, ${r.unchanged.length} already up to date${r.failed.size ? `, ${r.failed.size} missing` : ''}`);
        if (r.failed.size) process.exitCode = EXIT.stageFailed;
      } finally {
        lock.release();
      }
    });
}
