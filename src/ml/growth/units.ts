/**
 * Unit maps: for every unit of the grown model, which unit of the source model it comes from.
 * A width operator is fully described by three of them (residual channels, attention units,
 * MLP units); the weight surgery in width.ts only reads these maps.
 */

/** A new unit that carries the mean of the source's units (LEMON's leftover residual channels). */
export const MEAN = -1;
/** A new unit with random fan-in and zero fan-out (exact, and unlike a copy it is not symmetric). */
export const FRESH = -2;

export interface UnitMap {
  n0: number;
  n1: number;
  /** Per new unit: a source unit index, MEAN or FRESH. */
  src: Int32Array;
  /** Per source unit: the new units that copy it (its "copy group"). */
  groups: number[][];
}

function fromSrc(n0: number, src: Int32Array): UnitMap {
  const groups: number[][] = Array.from({ length: n0 }, () => []);
  src.forEach((s, j) => {
    if (s >= 0) groups[s].push(j);
  });
  return { n0, n1: src.length, src, groups };
}

/**
 * Residual channels: q = ⌊d1/d0⌋ whole copies of the d0 channels, laid out as q blocks
 * [h | h | …], then d1 − q·d0 channels that hold the mean. Every channel is copied the same
 * number of times, so the mean and (up to a known factor) the variance LayerNorm sees are unchanged.
 */
export function residualMap(d0: number, d1: number): UnitMap {
  const q = Math.floor(d1 / d0);
  const src = new Int32Array(d1);
  for (let j = 0; j < d1; j++) src[j] = j < q * d0 ? j % d0 : MEAN;
  return fromSrc(d0, src);
}

/**
 * Units whose statistics nothing normalises (attention heads, MLP hidden units): the first n0 are
 * the originals, the rest copy them round-robin (so counts differ by at most one — Net2Net allows
 * that because the fan-out split uses each unit's own count) or are FRESH.
 */
export function hiddenMap(n0: number, n1: number, fresh: boolean): UnitMap {
  const src = new Int32Array(n1);
  for (let j = 0; j < n1; j++) src[j] = j < n0 ? j : fresh ? FRESH : j % n0;
  return fromSrc(n0, src);
}

/** A head map expanded to attention units: head h's units are h*headSize .. (h+1)*headSize-1. */
export function headsToUnits(heads: UnitMap, headSize: number): UnitMap {
  const src = new Int32Array(heads.n1 * headSize);
  for (let h = 0; h < heads.n1; h++) {
    const s = heads.src[h];
    for (let c = 0; c < headSize; c++) src[h * headSize + c] = s >= 0 ? s * headSize + c : s;
  }
  return fromSrc(heads.n0 * headSize, src);
}
