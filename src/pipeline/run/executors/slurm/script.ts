/**
 * The batch script grow submits for one stage. It mirrors the local executor: each `cmd` item runs
 * through `/bin/sh -c` in the stage's working directory, in order, and the first failure stops the
 * stage with that command's status. A command that died of a signal makes the script die of the
 * same signal, so Slurm reports `ExitCode=0:<signal>` rather than a made-up exit status 128+N.
 */
import { GrowError } from '../../../errors.ts';

/** POSIX single-quoting: safe for any string, including quotes, `$`, backticks and newlines. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface BatchScriptInput {
  stage: string;
  /** Absolute working directory (on the shared file system). */
  cwd: string;
  env: Record<string, string>;
  cmds: string[];
}

export function batchScript(input: BatchScriptInput): string {
  const lines = [
    '#!/bin/bash',
    `# Written by grow for stage ${input.stage.replace(/\n/g, ' ')}; submitted with sbatch. Safe to delete.`,
    // The job records its own id and node in the stage log, first thing.
    'echo "::grow job ${SLURM_JOB_ID:-unknown} started on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"',
    `cd -- ${shellQuote(input.cwd)} || exit 1`,
  ];
  for (const [name, value] of Object.entries(input.env)) {
    if (!ENV_NAME.test(name)) {
      throw new GrowError(`stage \`${input.stage}\`: environment variable name ${JSON.stringify(name)} cannot be exported to a Slurm job`);
    }
    lines.push(`export ${name}=${shellQuote(value)}`);
  }
  lines.push(
    'grow_run() {',
    '  printf \'$ %s\\n\' "$1"',
    '  /bin/sh -c "$1"',
    '  status=$?',
    '  [ "$status" -eq 0 ] && return 0',
    // 129..159: the shell reports "killed by signal N" as 128+N. Re-raise it on ourselves (default
    // disposition first) so the job ends by that signal. An ordinary `exit 137` looks the same to
    // a shell, which is the one ambiguity this shares with every shell.
    '  if [ "$status" -gt 128 ] && [ "$status" -lt 160 ]; then',
    '    sig=$((status - 128)); trap - "$sig" 2>/dev/null; kill -s "$sig" $$',
    '  fi',
    '  exit "$status"',
    '}',
  );
  for (const cmd of input.cmds) lines.push(`grow_run ${shellQuote(cmd)}`);
  lines.push('');
  return lines.join('\n');
}
