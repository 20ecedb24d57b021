/**
 * Follows a file that another machine appends to (a Slurm job's output on a shared file system):
 * each `poll()` reads whatever was added since the last one and hands out complete lines. Reading
 * by offset on demand, rather than watching, works on NFS and costs nothing between polls.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

export class LogTail {
  private offset = 0;
  private pending = '';
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly path: string,
    private readonly emit: (line: string) => void,
  ) {}

  /** Emits every complete new line. A missing file (job not started yet) is simply empty. */
  poll(): void {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return;
    }
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) this.offset = size; // truncated under us: follow from its end
      const buf = Buffer.alloc(64 * 1024);
      while (this.offset < size) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, size - this.offset), this.offset);
        if (n <= 0) break;
        this.offset += n;
        this.push(this.decoder.write(buf.subarray(0, n)));
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Emits the unterminated last line, once the writer is known to be done. */
  flush(): void {
    this.push(this.decoder.end());
    if (this.pending) this.emit(this.pending);
    this.pending = '';
  }

  private push(text: string): void {
    this.pending += text;
    const lines = this.pending.split('\n');
    this.pending = lines.pop() ?? '';
    for (const l of lines) this.emit(l.replace(/\r$/, ''));
  }
}
