/**
 * Deterministic train/val/test assignment by a hash of the sentence itself, so a sentence keeps
 * its split whatever else is in the corpus and in whatever order it is read (adding data never
 * moves a held-out sentence into training).
 */
import { createHash } from 'node:crypto';
import { DataError } from './errors.ts';

export type SplitName = 'train' | 'val' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];

export interface SplitFractions {
  val: number;
  test: number;
}

/** The sentence's SHA-256 digest; the split and the de-duplication key both come from it. */
export function sentenceDigest(sentence: string): Buffer {
  return createHash('sha256').update(sentence, 'utf8').digest();
}

/** The first 8 bytes of the digest as a number in [0, 1) (53 bits of it survive in a double). */
export function digestFraction(digest: Buffer): number {
  return digest.readUInt32BE(0) / 2 ** 32 + digest.readUInt32BE(4) / 2 ** 64;
}

/** [0, test) → test, [test, test + val) → val, the rest → train. */
export function splitOf(digest: Buffer, f: SplitFractions): SplitName {
  const u = digestFraction(digest);
  if (u < f.test) return 'test';
  if (u < f.test + f.val) return 'val';
  return 'train';
}

export function checkFractions(f: SplitFractions, where: string): void {
  for (const [k, v] of Object.entries(f)) {
    if (!(typeof v === 'number' && v >= 0 && v < 1)) {
      throw new DataError(`${where}: ${k}_fraction must be a number in [0, 1), got ${JSON.stringify(v)}`);
    }
  }
  if (f.val + f.test >= 1) {
    throw new DataError(`${where}: val_fraction + test_fraction must be below 1 (nothing would be left to train on)`);
  }
}
