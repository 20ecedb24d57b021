/**
 * The runner's language-neutral progress protocol: a stage prints
 *   ::progress current=120 total=600 loss=3.21
 * on stdout and `grow` renders it as a bar with ETA. Any program can print these lines; this is
 * the TypeScript stages' helper. Lines are throttled so a fast loop does not flood the log.
 */
let last = 0;

export function reportProgress(current: number, total: number, values: Record<string, number | string> = {}): void {
  const now = Date.now();
  if (current < total && now - last < 200) return;
  last = now;
  const extra = Object.entries(values)
    // A value not known yet (NaN before a first evaluation) is left out rather than printed.
    .filter(([, v]) => typeof v !== 'number' || Number.isFinite(v))
    .map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : String(v).replace(/\s+/g, '_')}`)
    .join(' ');
  process.stdout.write(`::progress current=${current} total=${total}${extra ? ' ' + extra : ''}\n`);
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
}
