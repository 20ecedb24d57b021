/**
 * Which executor runs a stage: the stage's own `executor`, else `grow run --executor`, else the
 * config's `executor`, else local. The Slurm executor is imported lazily, so a machine without
 * Slurm (or a broken slurm module) never affects local runs.
 */
import { GrowError } from '../../errors.ts';
import type { Executor, Stage } from '../../types.ts';

export type ExecutorName = 'local' | 'slurm';

export class ExecutorPool {
  private local: Promise<Executor> | undefined;
  private slurm: Promise<Executor> | undefined;

  constructor(
    private readonly root: string,
    private readonly runOption: ExecutorName | undefined,
    private readonly configDefault: ExecutorName,
  ) {}

  nameFor(stage: Stage): ExecutorName {
    return stage.executor ?? this.runOption ?? this.configDefault;
  }

  async for(stage: Stage): Promise<Executor> {
    // Loaded on first use: execa costs ~80 ms to import, which a no-op `grow run` should not pay.
    if (this.nameFor(stage) === 'local') return (this.local ??= import('./local.ts').then((m) => m.createLocalExecutor()));
    this.slurm ??= (async () => {
      try {
        // A computed specifier: type-checking must not require slurm.ts to exist, and the compiled
        // (dist/*.js) and source (tsx, *.ts) layouts name the file differently.
        const specifier = import.meta.url.endsWith('.ts') ? './slurm.ts' : './slurm.js';
        const mod = (await import(specifier)) as { createSlurmExecutor(opts: { root: string }): Executor };
        return mod.createSlurmExecutor({ root: this.root });
      } catch (e) {
        throw new GrowError(
          `the Slurm executor could not be loaded: ${(e as Error).message}`,
          2,
          'run with `--executor local`, or remove `executor: slurm` from the stage or the config',
        );
      }
    })();
    return this.slurm;
  }
}
