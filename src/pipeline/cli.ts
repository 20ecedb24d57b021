/**
 * The `grow` command line (commander). `bin/grow.js` calls `main(argv)`; it sets
 * process.exitCode: 0 ok, 1 a stage failed, 2 usage or configuration error, 3 stale
 * (`status --check`), 130 interrupted. A GrowError prints its message and hint, never a stack.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { err } from './commands/options.ts';
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

type Register = (program: Command) => void;

/** Each command's module, in the order `grow --help` lists them, with the words that name it. */
const COMMANDS: [names: string[], load: () => Promise<Register>][] = [
  [['run', 'repro'], async () => (await import('./commands/run.ts')).registerRun],
  [['status'], async () => (await import('./commands/status.ts')).registerStatus],
  [['explain'], async () => (await import('./commands/explain.ts')).registerExplain],
  [['dag'], async () => (await import('./commands/dag.ts')).registerDag],
  [['params'], async () => (await import('./commands/params.ts')).registerParams],
  [['metrics'], async () => (await import('./commands/metrics.ts')).registerMetrics],
  [['checkout'], async () => (await import('./commands/checkout.ts')).registerCheckout],
  [['gc'], async () => (await import('./commands/gc.ts')).registerGc],
  [['verify'], async () => (await import('./commands/verify.ts')).registerVerify],
  [['watch'], async () => (await import('./commands/watch.ts')).registerWatch],
  [['push', 'pull'], async () => (await import('./commands/transfer.ts')).registerTransferCommands],
  [['exp'], async () => (await import('./commands/exp.ts')).registerExp],
];

/** The program; with `argv`, only the command it names is registered (see below). */
export async function buildProgram(argv: string[] = []): Promise<Command> {
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

  // Only the command being run is loaded: the commands' modules are most of the start-up. Help,
  // an unknown command or none load them all, so `grow --help` lists every command and commander
  // can suggest the one meant. No global option takes a value, so the first word is the command.
  const word = argv.find((a) => !a.startsWith('-'));
  const chosen = COMMANDS.filter(([names]) => word !== undefined && names.includes(word));
  const registers = await Promise.all((chosen.length ? chosen : COMMANDS).map(([, load]) => load()));
  for (const register of registers) register(program);

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
  const program = await buildProgram(argv);
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
