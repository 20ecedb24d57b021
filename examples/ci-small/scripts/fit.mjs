// fit.mjs DEGREE POINTS OUT: least-squares polynomial coefficients (normal equations, Gauss-Jordan).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const [degree, points, out] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const rows = readFileSync(points, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split(',').map(Number));
const k = degree + 1;
const a = Array.from({ length: k }, () => new Array(k + 1).fill(0));
for (const [x, y] of rows) {
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) a[i][j] += x ** (i + j);
    a[i][k] += y * x ** i;
  }
}
for (let c = 0; c < k; c++) {
  const p = a[c][c];
  for (let j = c; j <= k; j++) a[c][j] /= p;
  for (let r = 0; r < k; r++) {
    if (r === c) continue;
    const f = a[r][c];
    for (let j = c; j <= k; j++) a[r][j] -= f * a[c][j];
  }
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ degree, coeffs: a.map((r) => Number(r[k].toFixed(8))) }, null, 2) + '\n');
