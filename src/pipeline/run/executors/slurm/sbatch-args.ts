/**
 * A stage's `resources` as sbatch flags. The mapping is deliberately thin: one flag per field, and
 * `resources.sbatch` passes anything else (partition, account, constraint, …) through verbatim,
 * after ours, so a user's flag wins where Slurm lets the last occurrence win.
 *
 *   cpus: 4      → --cpus-per-task=4
 *   mem: 8G      → --mem=8G            (per node, Slurm syntax)
 *   gpus: 1      → --gres=gpu:1
 *   time: 60     → --time=60           (minutes; Slurm rounds any limit up to whole minutes)
 */
import type { Resources } from '../../../types.ts';

/** Slurm expands `%j`, `%x`, … in --output/--error; `%%` is a literal percent sign. */
function literalPath(path: string): string {
  return path.replace(/%/g, '%%');
}

/** Minutes as Slurm reads them: `90`, or `M:SS` for a fraction (`0.5` → `0:30`), never a decimal. */
function slurmTime(minutes: number): string {
  if (Number.isInteger(minutes)) return String(minutes);
  const seconds = Math.ceil(minutes * 60);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

export function resourceFlags(r: Resources | undefined): string[] {
  if (!r) return [];
  const flags: string[] = [];
  if (r.cpus !== undefined) flags.push(`--cpus-per-task=${r.cpus}`);
  if (r.mem !== undefined) flags.push(`--mem=${r.mem}`);
  if (r.gpus !== undefined && r.gpus > 0) flags.push(`--gres=gpu:${r.gpus}`);
  if (r.time !== undefined) flags.push(`--time=${slurmTime(r.time)}`);
  return [...flags, ...(r.sbatch ?? [])];
}

export interface SbatchInput {
  stage: string;
  cwd: string;
  logFile: string;
  script: string;
  resources?: Resources;
}

export function sbatchArgs(input: SbatchInput): string[] {
  return [
    '--parsable',
    `--job-name=grow:${input.stage}`,
    `--chdir=${input.cwd}`,
    `--output=${literalPath(input.logFile)}`,
    `--error=${literalPath(input.logFile)}`,
    // grow writes the submission line into the log first; the job appends after it.
    '--open-mode=append',
    ...resourceFlags(input.resources),
    input.script,
  ];
}
