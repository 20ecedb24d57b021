/**
 * The one place numbers are rounded for display, so the HTML page, the Markdown summary and the
 * LaTeX table show identical figures (and a test can recompute them from the metrics files).
 */
export const DIGITS = { loss: 4, ppl: 2, accuracy: 4, tflops: 4, wall: 1, saving: 1 } as const;

const dash = '–';

export function fmtLoss(v: number | null | undefined): string {
  return v == null ? dash : v.toFixed(DIGITS.loss);
}

export function fmtPpl(v: number | null | undefined): string {
  return v == null ? dash : v.toFixed(DIGITS.ppl);
}

/** Next-token accuracy as a fraction in [0, 1], as the metrics files hold it. */
export function fmtAcc(v: number | null | undefined): string {
  return v == null ? dash : v.toFixed(DIGITS.accuracy);
}

export function fmtTflops(flops: number | null | undefined): string {
  return flops == null ? dash : (flops / 1e12).toFixed(DIGITS.tflops);
}

export function fmtWall(s: number | null | undefined): string {
  return s == null ? dash : s.toFixed(DIGITS.wall);
}

/** A saving fraction as a signed percentage ("+31.2 %", "−4.0 %"); "not reached" for null. */
export function fmtSaving(v: number | null | undefined): string {
  if (v === undefined) return dash;
  if (v === null) return 'not reached';
  const pct = (v * 100).toFixed(DIGITS.saving);
  return `${v >= 0 ? '+' : '−'}${pct.replace('-', '')} %`;
}

/** Parameter counts: 1234567 → "1.23 M", 98304 → "98.3 k". */
export function fmtParams(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export function fmtSpread(mean: number | null, std: number | null, ci95?: [number, number] | null): string {
  if (mean === null) return 'not reached';
  const ci = ci95 ? ` [${fmtSaving(ci95[0])}, ${fmtSaving(ci95[1])}]` : '';
  return `${fmtSaving(mean)} ± ${((std ?? 0) * 100).toFixed(DIGITS.saving)}${ci}`;
}
