/**
 * The hash state: remembers, per project-relative path, the (inode, mtime, ctime, size) a file had
 * when we last hashed it, so a file whose stat is unchanged is never read again. This is what makes
 * a no-op `grow status` on gigabytes of outputs cost a few thousand `stat` calls and nothing more.
 * Stored as `.grow/state.json`, written atomically.
 *
 * A directory (an out or a dep) is remembered as one record: its sorted listing, every file's stat
 * and md5, and the directory hash they make. Checking it costs one `stat` per file and a numeric
 * compare, with no string or object built per file: when the listing is the one recorded and
 * every file's stat matches, the directory hash is the recorded one — it is a function of exactly
 * that listing and those md5s, so this trusts nothing a per-file check would not.
 */
import { isAscii } from 'node:buffer';
import { existsSync, readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { isMd5 } from './trust.ts';

const STATE_VERSION = 5;

/** Files modified less than this long before we stat them are not remembered (see record). */
const RACY_WINDOW_MS = 100;

/**
 * mtime and ctime are Node's float `mtimeMs`/`ctimeMs`, whose fraction resolves well below a
 * microsecond: BigInt stats would give exact nanoseconds, but building 10,000 of them costs more
 * than the whole rest of a no-op status, and the racy window below covers what the fraction cannot.
 * ctime is compared as in git's index: an in-place edit that keeps the size and puts the old mtime
 * back (`touch -m -d`, an archive extractor, rsync -t) cannot put the ctime back.
 */
type FileEntry = [ino: number, mtimeMs: number, ctimeMs: number, size: number, md5: string];

/** The stat fields the state compares, as one string (for callers comparing two stats). */
export function statKey(st: Stats): string {
  return `${st.ino}:${st.mtimeMs}:${st.ctimeMs}:${st.size}`;
}

/** Whether a file modified at `st` and looked at `statAt` (ms) is racily clean (see record). */
function racy(st: Stats, statAt: number): boolean {
  // The later of mtime and ctime: a file whose mtime was set back was still changed just now.
  return statAt - Math.max(st.mtimeMs, st.ctimeMs) < RACY_WINDOW_MS;
}

/**
 * One directory as it was last hashed: `names` its sorted relative paths joined by NUL (which no
 * file name holds), `stats` four numbers per file (ino, mtimeMs, ctimeMs, size; NaN for a file
 * not to be trusted, which then never matches), `md5s` the files' md5s, 16 bytes each, and `hex`
 * the directory hash they make. Stored as `[names, base64 of stats, base64 of md5s, hex]`: binary
 * in base64 keeps the file small and quick to parse, with no string or number per file.
 */
export class DirRecord {
  private stats?: Float64Array;
  private md5Bytes?: Buffer;
  private byName?: Map<string, number>;

  constructor(
    readonly names: string,
    readonly count: number,
    private readonly statsText: string,
    private readonly md5Text: string,
    readonly hex: string,
  ) {}

  /** Decodes the stats and md5s; false when they do not fit the listing (the record is then a miss). */
  decode(): boolean {
    if (this.stats) return true;
    const stats = Buffer.from(this.statsText, 'base64');
    const md5s = Buffer.from(this.md5Text, 'base64');
    if (stats.length !== this.count * 32 || md5s.length !== this.count * 16) return false;
    // A copy into a fresh buffer: Float64Array needs 8-byte alignment.
    this.stats = new Float64Array(new Uint8Array(stats).buffer);
    this.md5Bytes = md5s;
    return true;
  }

  /** Whether file `i` of the recorded listing has the stat `now[at..at+4]` (ino, mtimeMs, ctimeMs, size). */
  matches(i: number, now: Float64Array, at: number): boolean {
    const s = this.stats!;
    const o = i * 4;
    return s[o] === now[at] && s[o + 1] === now[at + 1] && s[o + 2] === now[at + 2] && s[o + 3] === now[at + 3];
  }

  md5(i: number): string {
    return this.md5Bytes!.toString('hex', i * 16, i * 16 + 16);
  }

  /** The index of `name` in the recorded listing, or -1 (used only when the listing changed). */
  indexOf(name: string): number {
    if (!this.byName) {
      this.byName = new Map();
      if (this.count > 0) this.names.split('\0').forEach((n, i) => this.byName!.set(n, i));
    }
    return this.byName.get(name) ?? -1;
  }

  toJSON(): [string, string, string, string] {
    return [this.names, this.statsText, this.md5Text, this.hex];
  }

  /** A record from state.json, or null when it has the wrong shape (it is then a miss). */
  static fromJSON(x: unknown): DirRecord | null {
    if (!Array.isArray(x) || x.length !== 4 || !x.every((s) => typeof s === 'string')) return null;
    const [names, statsText, md5Text, hex] = x as string[];
    if (!isMd5(hex)) return null;
    let count = names === '' ? 0 : 1;
    for (let at = names.indexOf('\0'); at !== -1; at = names.indexOf('\0', at + 1)) count++;
    return new DirRecord(names, count, statsText, md5Text, hex);
  }
}

/**
 * Writes file `i`'s stat into `into` as the hash state compares it; NaN (never equal, so never
 * trusted) when the file is racily clean at `statAt` (see HashState.record).
 */
export function putStat(into: Float64Array, i: number, st: Stats, statAt: number): void {
  const o = i * 4;
  if (racy(st, statAt)) into.fill(Number.NaN, o, o + 4);
  else {
    into[o] = st.ino;
    into[o + 1] = st.mtimeMs;
    into[o + 2] = st.ctimeMs;
    into[o + 3] = st.size;
  }
}

export class HashState {
  private files = new Map<string, FileEntry>();
  private dirs = new Map<string, DirRecord>();
  private dirty = false;
  /** Paths looked up by this process (see prune). */
  private readonly touched = new Set<string>();
  private readonly touchedDirs = new Set<string>();
  readonly file: string;

  constructor(root: string) {
    this.file = join(root, '.grow', 'state.json');
    if (!existsSync(this.file)) return;
    try {
      // Mostly base64: read as Latin-1 when it is all ASCII (the same text, decoded far faster).
      const bytes = readFileSync(this.file);
      const text = bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
      const raw = JSON.parse(text) as { version?: unknown; files?: unknown; dirs?: unknown };
      // A state file from another version, or a damaged one, only costs a re-hash: start empty.
      // Entries of the wrong shape are dropped one by one: a remembered hash is only ever
      // compared, never used as a path, but a malformed one must not pass for a file's md5.
      if (raw?.version !== STATE_VERSION) return;
      if (isRecord(raw.files)) {
        for (const [key, e] of Object.entries(raw.files)) {
          if (Array.isArray(e) && e.length === 5 && e.slice(0, 4).every((n) => typeof n === 'number') && isMd5(e[4]))
            this.files.set(key, e as FileEntry);
        }
      }
      if (isRecord(raw.dirs)) {
        for (const [key, e] of Object.entries(raw.dirs)) {
          const rec = DirRecord.fromJSON(e);
          if (rec) this.dirs.set(key, rec);
        }
      }
    } catch {
      this.files = new Map();
      this.dirs = new Map();
    }
  }

  /** The remembered md5 of the file `key` if its stat still matches, else undefined. */
  lookup(key: string, st: Stats): string | undefined {
    this.touched.add(key);
    const e = this.files.get(key);
    return e !== undefined && e[0] === st.ino && e[1] === st.mtimeMs && e[2] === st.ctimeMs && e[3] === st.size ? e[4] : undefined;
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
    if (racy(st, statAt)) {
      if (this.files.delete(key)) this.dirty = true;
      return;
    }
    this.files.set(key, [st.ino, st.mtimeMs, st.ctimeMs, st.size, md5]);
    this.dirty = true;
  }

  /** The record of the directory `key` as last hashed, if any (and of the right shape). */
  dir(key: string): DirRecord | undefined {
    this.touchedDirs.add(key);
    const rec = this.dirs.get(key);
    if (rec === undefined || rec.decode()) return rec;
    this.dirs.delete(key);
    this.dirty = true;
    return undefined;
  }

  /**
   * Remembers a directory just hashed: its sorted listing `names`, each file's stat as four numbers
   * in `stats` (see putStat) and md5, and the directory hash `hex`. A racily clean file (see
   * record) has NaN stats: it is read again next time, and nothing else in the directory is.
   */
  recordDir(key: string, names: string[], stats: Float64Array, md5s: string[], hex: string): void {
    const n = names.length;
    const statsText = Buffer.from(stats.buffer, stats.byteOffset, stats.byteLength).toString('base64');
    const md5Bytes = Buffer.alloc(n * 16);
    for (let i = 0; i < n; i++) md5Bytes.write(md5s[i], i * 16, 16, 'hex');
    this.dirs.set(key, new DirRecord(names.join('\0'), n, statsText, md5Bytes.toString('base64'), hex));
    this.dirty = true;
  }

  /**
   * Forgets every path not looked up by this process, so files that were deleted or left the
   * pipeline do not accumulate. Only for commands that looked at every stage's deps and outs.
   */
  prune(): void {
    for (const [map, touched] of [
      [this.files, this.touched],
      [this.dirs, this.touchedDirs],
    ] as const) {
      for (const key of map.keys()) {
        if (!touched.has(key)) {
          map.delete(key);
          this.dirty = true;
        }
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
      writeFileAtomic(
        this.file,
        JSON.stringify({ version: STATE_VERSION, files: Object.fromEntries(this.files), dirs: Object.fromEntries(this.dirs) }),
      );
      this.dirty = false;
    } catch {
      /* see above */
    }
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}
