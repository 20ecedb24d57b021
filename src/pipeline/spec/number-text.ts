/**
 * Numbers as text, the way DVC renders them in names and interpolated strings. DVC is Python: a
 * YAML float stays a float and prints as one, so `foreach: [0.5, 1.0]` makes `build@1.0` and
 * `--lr ${lr}` with `lr: 1.0` gives `--lr 1.0`. JavaScript has one number type and would print
 * `1`, so the YAML reader marks which values were floats (by their container and key: numbers
 * themselves cannot carry a mark) and the places that turn values into text ask here.
 */
import type { Document } from 'yaml';
import { yaml } from '../yaml.ts';

/** Per mapping or list: the keys (indices) whose value was written as a YAML float. */
const floats = new WeakMap<object, Set<string | number>>();

export type FloatPath = Array<string | number>;

/** Paths of the float scalars in a parsed document whose value `String()` would not print as DVC does. */
export function floatPaths(doc: Document.Parsed): FloatPath[] {
  const { isAlias, isMap, isScalar, isSeq } = yaml();
  const out: FloatPath[] = [];
  const seen = new Set<unknown>();
  const walk = (node: unknown, at: FloatPath) => {
    if (isAlias(node)) node = node.resolve(doc);
    if (isScalar(node)) {
      if (typeof node.value === 'number' && /[.eE]|inf|nan/i.test(node.source ?? '') && pythonFloat(node.value) !== String(node.value))
        out.push(at);
    } else if (isMap(node)) {
      if (seen.has(node) && at.length > 64) return;
      seen.add(node);
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (key === '<<') continue; // merged values keep JS's text (rare for floats)
        walk(pair.value, [...at, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...at, i]));
    }
  };
  walk(doc.contents, []);
  return out;
}

/** Marks the floats listed in `paths` on the plain-JS `data` they were found in. */
export function markFloats(data: unknown, paths: FloatPath[]): void {
  for (const p of paths) {
    let cur: unknown = data;
    for (const k of p.slice(0, -1)) cur = cur && typeof cur === 'object' ? (cur as Record<string | number, unknown>)[k] : undefined;
    if (cur && typeof cur === 'object') markFloat(cur, p[p.length - 1]);
  }
}

export function markFloat(container: object, key: string | number): void {
  let set = floats.get(container);
  if (!set) floats.set(container, (set = new Set()));
  set.add(key);
}

/** Whether `container[key]` was written as a float. */
export function isFloatAt(container: unknown, key: string | number): boolean {
  const set = container && typeof container === 'object' ? floats.get(container) : undefined;
  if (!set) return false;
  return set.has(key) || set.has(String(key)) || (/^\d+$/.test(String(key)) && set.has(Number(key)));
}

/** Copies the float marks of `keys` (default: all of them) from one container to another. */
export function carryFloats(from: object, to: object, keys?: Iterable<string | number>): void {
  const set = floats.get(from);
  if (!set) return;
  for (const k of keys ?? set) if (set.has(k)) markFloat(to, k);
}

/** `container[key]` (a scalar) as DVC would write it into a string. */
export function scalarText(value: unknown, container?: unknown, key?: string | number): string {
  if (typeof value === 'number' && key !== undefined && isFloatAt(container, key)) return pythonFloat(value);
  return String(value);
}

/** Python's str() of a float: 1.0, 1e-05, 1e+16, inf, nan. */
export function pythonFloat(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  const abs = Math.abs(n);
  if (abs !== 0 && (abs >= 1e16 || abs < 1e-4)) {
    return n.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  }
  const s = String(n);
  return Number.isInteger(n) ? `${s}.0` : s;
}
