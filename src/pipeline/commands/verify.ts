/** `grow verify [targets…]`: the CI reproducibility check (see ../run/verify.ts). */
import type { Command } from 'commander';
import { EXIT } from '../errors.ts';
import { handleInterrupts } from '../run/signals.ts';
import { plainReporter } from '../show/plain-reporter.ts';
import { formatVerify, verifyPipeline } from '../run/verify.ts';
import { collect, positiveInt } from './options.ts';

interface VerifyFlags {
  jobs?: number;
  skipOut?: string[];
  keep?: boolean;
  quiet?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      're-run the selected stages from scratch in an isolated copy and compare every out with pipeline.lock (exit 1 when any did not reproduce)',
    )
    .argument('[targets...]', 'stage or group names (default: all)')
    .option('-j, --jobs <n>', 'stages to run in parallel', positiveInt)
    .option(
      '--skip-out <path>',
      'do not compare this out, this time (repeatable); an out that always varies, like timings, is better declared `verify: false` in pipeline.yaml',
      collect,
    )
    .option('--keep', 'keep the isolated copy and print where it is')
    .option('-q, --quiet', 'print only the verdict and what did not reproduce')
    .addHelpText(
      'after',
      `
Copies the git-tracked files (without git: everything except outs, .grow/ and node_modules/) to a
temp directory, runs the stages there with --force, no run-cache and an empty private cache, and
names each output whose hash differs from pipeline.lock: stage, path, expected and got. Outs
declared \`verify: false\` are not compared. It also fails when the lock records another command,
params value or source dep hash than the committed project has (the lock is out of date).

Examples:
  grow status --check && grow verify      # CI: the lock is current, and it is reproducible
  grow verify train --skip-out metrics/time.json`,
    )
    .action(async (targets: string[], flags: VerifyFlags) => {
      const interrupts = handleInterrupts();
      try {
        const result = await verifyPipeline({
          targets,
          jobs: flags.jobs,
          skipOuts: flags.skipOut,
          keep: flags.keep,
          reporter: plainReporter((l) => process.stdout.write(`${l}\n`), flags.quiet),
          signal: interrupts.signal,
        });
        process.stdout.write(`${formatVerify(result)}\n`);
        if (flags.keep) process.stdout.write(`isolated copy kept at ${result.workDir}\n`);
        process.exitCode = interrupts.received() ? EXIT.interrupted : result.exitCode;
      } finally {
        interrupts.dispose();
      }
    });
}
