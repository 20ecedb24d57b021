/**
 * `grow push [--to DIR]` and `grow pull [--from DIR]`: copy cache objects and run-cache entries
 * between this project's cache and a second cache directory (see ../store/transfer.ts). The second
 * directory is the flag; else env `GROW_REMOTE_DIR`; else `remote.dir` from `.grow/config.yaml`
 * (local), else from `.growrc.yaml` (committed) — the same precedence as `cache.dir`.
 *
 * Needs only the project root (for the config files) and the two directories: no pipeline is
 * loaded, so push/pull work even while pipeline.yaml does not parse.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { yaml } from '../yaml.ts';
import { CONFIG_FILES, loadConfig } from '../project/config.ts';
import { ConfigError, EXIT, GrowError } from '../errors.ts';
import { findRoot } from '../project/project.ts';
import { formatTransfer, transferCache } from '../store/transfer.ts';

export interface TransferCommandContext {
  /** The project root (default: found from the current directory). */
  root?: () => string;
  /** Where the one-line summaries go (default stdout). */
  out?: (line: string) => void;
}

/** `remote.dir` from the runner config files and GROW_REMOTE_DIR, resolved against the root. */
export function configuredRemote(root: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let dir: string | undefined;
  for (const rel of CONFIG_FILES) {
    const abs = join(root, rel);
    if (!existsSync(abs)) continue;
    let raw: unknown;
    try {
      raw = yaml().parse(readFileSync(abs, 'utf8'));
    } catch {
      continue; // loadConfig (called first) reports syntax errors with their position
    }
    const value = (raw as { remote?: { dir?: unknown } } | null)?.remote?.dir;
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') {
      throw new ConfigError(
        rel,
        undefined,
        undefined,
        '`remote.dir` must be a directory path',
        'write e.g. `remote: {dir: /shared/grow-cache}`',
      );
    }
    dir = isAbsolute(value) ? value : resolve(root, value);
  }
  if (env.GROW_REMOTE_DIR) dir = resolve(root, env.GROW_REMOTE_DIR);
  return dir;
}

function remoteFor(root: string, flag: string | undefined, flagName: string): string {
  const dir = flag !== undefined ? resolve(flag) : configuredRemote(root);
  if (!dir) {
    throw new GrowError(
      'no second cache directory to transfer to or from',
      2,
      `pass ${flagName} DIR, or set \`remote: {dir: DIR}\` in .growrc.yaml or .grow/config.yaml`,
    );
  }
  return dir;
}

export function registerTransferCommands(program: Command, ctx: TransferCommandContext = {}): void {
  const rootOf = ctx.root ?? (() => findRoot(process.cwd()));
  const out = ctx.out ?? ((line: string) => process.stdout.write(`${line}\n`));

  program
    .command('push')
    .description("copy this project's cached outputs and run-cache entries to a second cache directory (shared file system)")
    .option('--to <dir>', 'the destination cache directory (default: `remote.dir` from the config)')
    .addHelpText(
      'after',
      `
Copies only what the destination lacks, through temp files renamed into place after their hash
is checked, so other machines may read the destination meanwhile. Running it twice copies nothing.

Examples:
  grow push --to /shared/grow-cache
  GROW_REMOTE_DIR=/mnt/bucket/grow grow push`,
    )
    .action(async (flags: { to?: string }) => {
      const root = rootOf();
      const local = loadConfig(root).cacheDir;
      const remote = remoteFor(root, flags.to, '--to');
      if (resolve(remote) === resolve(local)) {
        out(`nothing to push: the project's cache already is ${remote}`);
        return;
      }
      const r = await transferCache(local, remote);
      out(formatTransfer('pushed', remote, r));
      // Corrupt local objects were not pushed: say so through the exit status too.
      if (r.corrupt.length) process.exitCode = EXIT.stageFailed;
    });

  program
    .command('pull')
    .description("copy cached outputs and run-cache entries from a second cache directory into this project's cache")
    .option('--from <dir>', 'the source cache directory (default: `remote.dir` from the config)')
    .addHelpText(
      'after',
      `
Fills the project's cache only; \`grow checkout\` (or \`grow run\`, which restores from the
run-cache) then puts the outputs into the workspace.

Examples:
  grow pull --from /shared/grow-cache && grow checkout`,
    )
    .action(async (flags: { from?: string }) => {
      const root = rootOf();
      const local = loadConfig(root).cacheDir;
      const remote = remoteFor(root, flags.from, '--from');
      if (!existsSync(remote)) throw new GrowError(`cannot pull: ${remote} does not exist`, 2, 'check the path, or push to it first');
      if (resolve(remote) === resolve(local)) {
        out(`nothing to pull: the project's cache already is ${remote}`);
        return;
      }
      const r = await transferCache(remote, local);
      out(formatTransfer('pulled', remote, r));
      // Something the remote offered could not be brought over intact: a script running
      // `grow pull && grow checkout` must not carry on as if everything arrived.
      if (r.corrupt.length || r.incompleteRuns || r.malformedRuns) process.exitCode = EXIT.stageFailed;
    });
}
