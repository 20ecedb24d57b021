/**
 * The hash state: remembers, per project-relative path, the (inode, mtime, ctime, size) a file had
 * when we last hashed it, so a file whose stat is unchanged is never read again. This is what makes
 * a no-op `grow status` on gigabytes of outputs cost a few thousand `stat` calls and nothing more.
 * Stored as `.grow/state.json`, written atomically.
 */
import { existsSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { isMd5 } from './trust.ts';

const STATE_VERSION = 4;

/** Files modified less than this long before we stat them are not remembered (see record). */
const RACY_WINDOW_MS = 100;

/**
 * [stat key, md5 hex], the stat key being `<inode>:<mtime>:<ctime>:<size>`; one string compare per lookup
 * keeps 10,000 lookups cheap. mtime is Node's float `mtimeMs`, whose fraction resolves well below a
 * microsecond: BigInt stats would give exact nanoseconds, but building 10,000 of them costs more
 * than the whole rest of a no-op status, and the racy window below covers what the fraction cannot.
 * ctime is in the key as in git's index: an in-place edit that keeps the size and puts the old
 * mtime back (`touch -m -d`, an archive extractor, rsync -t) cannot put the ctime back.
 */
type Entry = [string, string];

export function statKey(st: Stats): string {
  return `${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}`;
}

export class HashState {
  private entries: Map<string, Entry>;
  private dirty = false;
  /** Paths looked up by this process (see prune). */
  private readonly touched = new Set<string>();
  readonly file: string;

  constructor(root: string) {
    this.file = join(root, '.grow', 'state.json');
    this.entries = new Map();
    if (existsSync(this.file)) {
      try {
        const raw = JSON.parse(readFileSync(this.file, 'utf8')) as { version?: unknown; entries?: unknown };
        // A state file from another version, or a damaged one, only costs a re-hash: start empty.
        // Entries of the wrong shape are dropped one by one: a remembered hash is only ever
        // compared, never used as a path, but a malformed one must not pass for a file's md5.
        if (raw?.version === STATE_VERSION && raw.entries && typeof raw.entries === 'object' && !Array.isArray(raw.entries)) {
          for (const [key, e] of Object.entries(raw.entries as Record<string, unknown>)) {
            if (Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && isMd5(e[1])) this.entries.set(key, [e[0], e[1]]);
          }
        }
      } catch {
        this.entries = new Map();
      }
    }
  }

  /** The remembered md5 of `key` if its stat still matches, else undefined. */
  lookup(key: string, st: Stats): string | undefined {
    this.touched.add(key);
    const e = this.entries.get(key);
    return e !== undefined && e[0] === statKey(st) ? e[1] : undefined;
  }

  /**
   * Remembers `md5` for the file as it was when `statAt` saw it: a time taken before the read
   * that produced `md5` began (the read, not the stat, is what must come after the tick of the
   * last write; `st` is the file's stat at that read, or one the read was checked against).
   * "Racily clean" files (git's term) are not remembered: one modified within a timestamp tick of
   * our stat could be written again later in that same tick, keeping inode, size and mtime, and we
   * would never see the change. Linux file systems stamp files from a clock with 1–10 ms ticks, so
   * a file last modified more than RACY_WINDOW_MS before we looked at it is safe; a younger one is
   * simply hashed again next time. (File systems with coarser stamps, e.g. FAT's 2 s, or network
   * file systems whose server clock lags ours, can defeat this; so they can DVC and make.)
   */
  record(key: string, st: Stats, md5: string, statAt: number): void {
    // The later of mtime and ctime: a file whose mtime was set back was still changed just now.
    if (statAt - Math.max(st.mtimeMs, st.ctimeMs) < RACY_WINDOW_MS) {
      if (this.entries.delete(key)) this.dirty = true;
      return;
    }
    this.entries.set(key, [statKey(st), md5]);
    this.dirty = true;
  }

  /**
   * Forgets every path not looked up by this process, so files that were deleted or left the
   * pipeline do not accumulate. Only for commands that looked at every stage's deps and outs.
   */
  prune(): void {
    for (const key of this.entries.keys()) {
      if (!this.touched.has(key)) {
        this.entries.delete(key);
        this.dirty = true;
      }
    }
  }

  /**
   * Writes the state. It is only a cache of hashes: when it cannot be written (a full disk, a
   * read-only .grow) the old file stays, which costs re-hashing next time, never a wrong answer.
   */
  save(): void {
    if (!this.dirty) return;
    try {
      writeFileAtomic(this.file, JSON.stringify({ version: STATE_VERSION, entries: Object.fromEntries(this.entries) }));
      this.dirty = false;
    } catch {
      /* see above */
    }
  }
}
