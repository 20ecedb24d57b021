/**
 * The `::progress` line protocol any stage program may print on stdout:
 *   ::progress current=120 total=600 loss=3.21 phase=warmup
 * `current` and `total` drive the bar and the ETA; every other key=value is shown as the latest value.
 */
export interface ProgressUpdate {
  current?: number;
  total?: number;
  values: Record<string, string>;
}

const PREFIX = '::progress';

export function parseProgressLine(line: string): ProgressUpdate | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith(PREFIX) || (trimmed.length > PREFIX.length && trimmed[PREFIX.length] !== ' ')) return null;
  const update: ProgressUpdate = { values: {} };
  for (const token of trimmed.slice(PREFIX.length).trim().split(/\s+/)) {
    const eq = token.indexOf('=');
    if (eq <= 0) continue;
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    if (key === 'current' || key === 'total') {
      const n = Number(value);
      if (Number.isFinite(n)) update[key] = n;
    } else update.values[key] = value;
  }
  return update;
}

/** Accumulates one stage's progress and estimates the time left from the average rate so far. */
export class ProgressTracker {
  current = 0;
  total = 0;
  values: Record<string, string> = {};
  private firstAt: number | null = null;
  private firstCurrent = 0;

  constructor(private readonly now: () => number = Date.now) {}

  update(u: ProgressUpdate): void {
    if (u.total !== undefined) this.total = u.total;
    if (u.current !== undefined) {
      if (this.firstAt === null) {
        this.firstAt = this.now();
        this.firstCurrent = u.current;
      }
      this.current = u.current;
    }
    Object.assign(this.values, u.values);
  }

  fraction(): number | null {
    return this.total > 0 ? Math.min(1, this.current / this.total) : null;
  }

  /** Seconds left, or null when unknown (no rate yet). */
  etaSeconds(): number | null {
    if (this.firstAt === null || this.total <= 0) return null;
    const done = this.current - this.firstCurrent;
    const elapsed = (this.now() - this.firstAt) / 1000;
    if (done <= 0 || elapsed <= 0) return null;
    return Math.max(0, (this.total - this.current) / (done / elapsed));
  }

  /** `[#####-----] 50% 120/600 ETA 1m20s loss=3.21` */
  render(width = 20): string {
    const parts: string[] = [];
    const f = this.fraction();
    if (f !== null) {
      const filled = Math.round(f * width);
      parts.push(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.floor(f * 100)}% ${this.current}/${this.total}`);
    } else if (this.current) parts.push(String(this.current));
    const eta = this.etaSeconds();
    if (eta !== null) parts.push(`ETA ${formatDuration(eta * 1000)}`);
    for (const [k, v] of Object.entries(this.values)) parts.push(`${k}=${v}`);
    return parts.join(' ');
  }
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${Math.round(s - m * 60)}s`;
  return `${Math.floor(m / 60)}h${m % 60}m`;
}
