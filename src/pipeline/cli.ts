/**
 * The `grow` command line (commander). `bin/grow.js` calls `main(argv)`; it sets
 * process.exitCode: 0 ok, 1 a stage failed, 2 usage or configuration error, 3 stale
 * (`status --check`), 130 interrupted. A GrowError prints its message and hint, never a stack.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerCheckout } from './commands/checkout.ts';
import { registerDag } from './commands/dag.ts';
import { registerExp } from './commands/exp.ts';
import { registerExplain } from './commands/explain.ts';
import { registerGc } from './commands/gc.ts';
import { registerMetrics } from './commands/metrics.ts';
import { err } from './commands/options.ts';
import { registerParams } from './commands/params.ts';
import { registerRun } from './commands/run.ts';
import { registerStatus } from './commands/status.ts';
import { registerTransferCommands } from './commands/transfer.ts';
import { registerVerify } from './commands/verify.ts';
import { registerWatch } from './commands/watch.ts';
import { EXIT, GrowError } from './errors.ts';
import { ioGrowError } from './io-error.ts';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    // dist/src/pipeline/cli.js sits one level deeper than src/pipeline/cli.ts
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  }
}

export function buildProgram(): Command {
  const program = new Command('grow')
    .description('A content-hashed, incremental pipeline runner: runs the stages of pipeline.yaml whose inputs changed.')
    .version(version(), '-V, --version')
    .option('--no-color', 'no colors in any output (as NO_COLOR=1)')
    .hook('preAction', (cmd) => {
      // Read by listr2's colors when the live view loads, after this.
      if (cmd.opts().color === false) process.env.NO_COLOR = '1';
    })
    .showHelpAfterError('(run `grow --help` or `grow <command> --help` for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 a stage failed, 2 usage or configuration error, 3 stale (status --check), 130 interrupted.
Docs: docs/cli.md`,
    );

  // In the order `grow --help` lists them.
  registerRun(program);
  registerStatus(program);
  registerExplain(program);
  registerDag(program);
  registerParams(program);
  registerMetrics(program);
  registerCheckout(program);
  registerGc(program);
  registerVerify(program);
  registerWatch(program);
  registerTransferCommands(program);
  registerExp(program);

  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `grow dag | head`: a closed pipe ends the output, not in a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const program = buildProgram();
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and --version end with code 0; every other commander error is a usage error.
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    // A full disk or a permission problem anywhere is the user's to fix: one line, no stack.
    const g = e instanceof GrowError ? e : ioGrowError(e);
    if (g) {
      err(`grow: ${g.message}`);
      if (g.hint) err(`hint: ${g.hint}`);
      process.exitCode = g.exitCode;
      return;
    }
    throw e;
  }
}
