/**
 * Training data order. A token stream is a flat Uint16 array of ids (src/experiment/artifacts/tokens.ts
 * reads them from disk), sentences separated by the end-of-text id 0. A batch is `batch` windows of seq+1 tokens at
 * random offsets: x = window[0..seq), y = window[1..seq]. The offsets come from a seeded Rng whose
 * state is part of the checkpoint, so the data order depends only on `dataSeed` — the same for a
 * model trained from scratch and for a grown one — and survives a resume exactly.
 */
import { Rng, type RngState } from './rng.ts';

export class TokenFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenFileError';
  }
}

export interface Batch {
  /** int32 [batch·seq], row-major. */
  x: Int32Array;
  y: Int32Array;
  batch: number;
  seq: number;
}

function checkStream(tokens: Uint16Array, seq: number, what: string): void {
  if (tokens.length < seq + 1)
    throw new TokenFileError(
      `${what}: ${tokens.length} tokens is shorter than one window of seq+1 = ${seq + 1}; use more data or a shorter seq`,
    );
}

function fill(tokens: Uint16Array, offsets: number[], seq: number): Batch {
  const x = new Int32Array(offsets.length * seq);
  const y = new Int32Array(offsets.length * seq);
  offsets.forEach((o, r) => {
    for (let t = 0; t < seq; t++) {
      x[r * seq + t] = tokens[o + t];
      y[r * seq + t] = tokens[o + t + 1];
    }
  });
  return { x, y, batch: offsets.length, seq };
}

export class BatchSampler {
  private rng: Rng;

  constructor(
    private readonly tokens: Uint16Array,
    readonly batch: number,
    readonly seq: number,
    seedOrState: number | RngState,
    what = 'training tokens',
  ) {
    checkStream(tokens, seq, what);
    this.rng = new Rng(seedOrState);
  }

  next(): Batch {
    const span = this.tokens.length - this.seq; // valid start offsets: 0 .. len-seq-1
    const offsets = Array.from({ length: this.batch }, () => this.rng.int(span));
    return fill(this.tokens, offsets, this.seq);
  }

  state(): RngState {
    return this.rng.state();
  }
}

/**
 * A fixed evaluation set: `count` batches of windows at evenly spaced offsets, identical for every
 * model and every call (no randomness at all).
 */
export function fixedBatches(tokens: Uint16Array, count: number, batch: number, seq: number, what = 'validation tokens'): Batch[] {
  checkStream(tokens, seq, what);
  const windows = count * batch;
  const span = tokens.length - seq - 1;
  const offsets = Array.from({ length: windows }, (_, k) => (windows === 1 ? 0 : Math.floor((k * span) / (windows - 1))));
  return Array.from({ length: count }, (_, b) => fill(tokens, offsets.slice(b * batch, (b + 1) * batch), seq));
}
