/**
 * File-system failures a user can fix (a full disk, missing permissions, a failing device) as one
 * line naming the path and what to do, instead of a Node stack trace.
 */
import { EXIT, GrowError } from './errors.ts';

const WHAT: Record<string, { what: string; hint: string }> = {
  ENOSPC: {
    what: 'no space left on device',
    hint: 'free some space on that file system (or point cache.dir / the remote elsewhere), then run the command again',
  },
  EDQUOT: { what: 'disk quota exceeded', hint: 'free some space within your quota, then run the command again' },
  EACCES: {
    what: 'permission denied',
    hint: 'check the permissions of that path (and of the directory holding it), then run the command again',
  },
  EPERM: { what: 'operation not permitted', hint: 'check the permissions and attributes of that path, then run the command again' },
  EROFS: {
    what: 'read-only file system',
    hint: 'mount that file system read-write or choose a writable location, then run the command again',
  },
  EIO: {
    what: 'input/output error',
    hint: 'the disk or network file system reported an error: check it (e.g. `dmesg`), then run the command again',
  },
  EMFILE: { what: 'too many open files', hint: 'raise the open-file limit (`ulimit -n`) or run fewer jobs (`-j`)' },
  ENFILE: { what: 'too many open files in the system', hint: 'close other programs or raise the system limit, then run the command again' },
};

export interface IoProblem {
  message: string;
  hint: string;
  code: string;
}

/** A Node file-system error as `cannot <syscall> <path>: <what> (<CODE>)`, or undefined for other errors. */
export function describeIoError(e: unknown): IoProblem | undefined {
  const err = e as (NodeJS.ErrnoException & { dest?: string }) | null;
  if (!err || typeof err !== 'object' || typeof err.code !== 'string') return undefined;
  const known = WHAT[err.code];
  if (!known) return undefined;
  const path = err.path ? ` ${err.path}${err.dest ? ` → ${err.dest}` : ''}` : '';
  const op = err.syscall ? `${err.syscall}` : 'access';
  return { message: `cannot ${op}${path}: ${known.what} (${err.code})`, hint: known.hint, code: err.code };
}

/** The same as a GrowError (exit 1), for the CLI to print; undefined for other errors. */
export function ioGrowError(e: unknown, exitCode: number = EXIT.stageFailed): GrowError | undefined {
  const p = describeIoError(e);
  return p ? new GrowError(p.message, exitCode, p.hint) : undefined;
}

/**
 * Rethrows a file-system failure as one line about what was being done (`copy X to Y`); any other
 * error is rethrown as it is.
 */
export function rethrowIo(e: unknown, action: string, exitCode: number = EXIT.stageFailed): never {
  const err = e as NodeJS.ErrnoException | null;
  const known = err && typeof err === 'object' && typeof err.code === 'string' ? WHAT[err.code] : undefined;
  if (!known) throw e;
  throw new GrowError(`cannot ${action}: ${known.what} (${err!.code})`, exitCode, known.hint);
}

/** A cache or remote directory that leads elsewhere through a link: grow will not write there. */
export function outsideCacheError(dir: string, root: string): GrowError {
  return new GrowError(
    `${dir} leads outside ${root} through a symbolic link; refusing to write there`,
    EXIT.stageFailed,
    `remove the link from ${root} (whoever can write it can redirect writes), then run the command again`,
  );
}
