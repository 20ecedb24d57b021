/**
 * Errors a user can cause. The CLI prints `message` (and `hint`) without a stack trace and exits
 * with `exitCode`. Messages name the file, the place (file:line:col when known) and the fix.
 */
export const EXIT = {
  ok: 0,
  stageFailed: 1,
  usage: 2,
  stale: 3,
  interrupted: 130,
} as const;

export class GrowError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
    /** One line telling the user how to fix it. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'GrowError';
  }
}

/** A problem in pipeline.yaml, a params file or the lock file, pointing at a source position. */
export class ConfigError extends GrowError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly col: number | undefined,
    what: string,
    hint?: string,
  ) {
    super(`${file}${line ? `:${line}${col ? `:${col}` : ''}` : ''}: ${what}`, EXIT.usage, hint);
    this.name = 'ConfigError';
  }
}
