/**
 * Learning-rate schedule: linear warmup to `lr` over `warmupSteps`, then cosine decay to `minLr` at
 * `totalSteps` (nanoGPT's schedule). Step numbers are 0-based: step s uses lrAt(s).
 */
export interface Schedule {
  lr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

export function lrAt(s: Schedule, step: number): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (s.lr - s.minLr);
}
