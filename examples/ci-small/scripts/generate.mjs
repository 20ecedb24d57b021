// generate.mjs N SEED NOISE OUT: N points of y = 1 + 2x - 3x^2 plus seeded noise, as CSV.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const [n, seed, noise, out] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), process.argv[5]];
// mulberry32: a tiny seeded generator, so the bytes depend on the seed alone.
let s = seed >>> 0;
const rand = () => {
  s = (s + 0x6d2b79f5) >>> 0;
  let t = s;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const lines = ['x,y'];
for (let i = 0; i < n; i++) {
  const x = -1 + (2 * i) / (n - 1);
  const y = 1 + 2 * x - 3 * x * x + noise * (rand() - 0.5);
  lines.push(`${x.toFixed(6)},${y.toFixed(6)}`);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, lines.join('\n') + '\n');
