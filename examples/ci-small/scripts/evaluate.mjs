// evaluate.mjs DIGITS POINTS COEFFS OUT: mean squared error and max error of the fit, as JSON metrics.
import { readFileSync, writeFileSync } from 'node:fs';

const [digits, points, coeffsFile, out] = [Number(process.argv[2]), process.argv[3], process.argv[4], process.argv[5]];
const rows = readFileSync(points, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split(',').map(Number));
const { coeffs } = JSON.parse(readFileSync(coeffsFile, 'utf8'));
const predict = (x) => coeffs.reduce((sum, c, i) => sum + c * x ** i, 0);
let se = 0;
let max = 0;
for (const [x, y] of rows) {
  const e = Math.abs(predict(x) - y);
  se += e * e;
  max = Math.max(max, e);
}
const round = (v) => Number(v.toPrecision(digits));
writeFileSync(out, JSON.stringify({ mse: round(se / rows.length), max_error: round(max), points: rows.length }) + '\n');
