/**
 * A problem with a dataset that the user can fix: a bad source in the params file, a missing
 * local file, a download that failed or did not match its pinned checksum. The message names
 * the file or URL, the place and the fix, so the stage can print it without a stack trace.
 */
export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}
