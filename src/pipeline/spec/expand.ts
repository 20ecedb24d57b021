/**
 * foreach/matrix expansion, DVC style. A group `train` becomes concrete stages:
 *   foreach: [1, 2]            → train@1, train@2            (${item})
 *   foreach: [{a: 1}, {a: 2}]  → train@0, train@1            (${item.a})
 *   foreach: {s: 1, l: 2}      → train@s, train@l            (${key}, ${item})
 *   matrix: {m: [a, b], d: [x]} → train@a-x, train@b-x       (${item.m}, ${item.d}; axes in declaration order)
 * `foreach: ${seeds}` (or a matrix axis `${sizes}`) is interpolated first and must then be a list
 * or mapping.
 */
import type { Interpolator } from './interpolate.ts';
import { carryFloats, isFloatAt, markFloat, scalarText } from './number-text.ts';
import { isMapping, type Tree } from './params.ts';
import type { YamlPath, YamlSource } from './yaml-source.ts';

export interface StageInstance {
  name: string;
  group?: string;
  /** The raw (not yet interpolated) stage body. */
  body: Tree;
  /** Where the body was written (['stages', name] or ['stages', name, 'do']). */
  at: YamlPath;
  /** Extra names visible to interpolation in this instance (item, key). */
  locals: Tree;
}

function isScalar(v: unknown): v is string | number | boolean | null {
  return v === null || typeof v !== 'object';
}

export function expandStage(src: YamlSource, interp: Interpolator, name: string, def: Tree, ctx: Tree): StageInstance[] {
  const at: YamlPath = ['stages', name];
  if ('foreach' in def) return expandForeach(src, interp, name, def, ctx);
  if ('matrix' in def) return expandMatrix(src, interp, name, def, ctx);
  return [{ name, body: def, at, locals: {} }];
}

function expandForeach(src: YamlSource, interp: Interpolator, name: string, def: Tree, ctx: Tree): StageInstance[] {
  const at: YamlPath = ['stages', name, 'foreach'];
  const items = interp.value(def.foreach, ctx, at);
  const body = def.do as Tree;
  const doAt: YamlPath = ['stages', name, 'do'];
  if (Array.isArray(items)) {
    if (items.length === 0)
      throw src.error(at, `foreach of stage "${name}" is an empty list`, 'give it at least one item, or remove the stage');
    const allScalars = items.every(isScalar);
    return items.map((item, i) => {
      const locals: Tree = { item };
      if (isFloatAt(items, i)) markFloat(locals, 'item');
      return { name: `${name}@${allScalars ? scalarText(item, items, i) : i}`, group: name, body, at: doAt, locals };
    });
  }
  if (isMapping(items)) {
    const keys = Object.keys(items);
    if (keys.length === 0)
      throw src.error(at, `foreach of stage "${name}" is an empty mapping`, 'give it at least one entry, or remove the stage');
    return keys.map((key) => {
      const locals: Tree = { key, item: items[key] };
      if (isFloatAt(items, key)) markFloat(locals, 'item');
      return { name: `${name}@${key}`, group: name, body, at: doAt, locals };
    });
  }
  throw src.error(
    at,
    `foreach of stage "${name}" must be a list or a mapping, got ${describe(items)}`,
    'e.g. `foreach: [1, 2, 3]`, `foreach: {small: 64, large: 256}` or `foreach: ${seeds}` naming a list',
  );
}

function expandMatrix(src: YamlSource, interp: Interpolator, name: string, def: Tree, ctx: Tree): StageInstance[] {
  const { matrix, ...body } = def;
  const axes: Array<{ axis: string; values: unknown[] }> = [];
  for (const [axis, raw] of Object.entries(matrix as Tree)) {
    const at: YamlPath = ['stages', name, 'matrix', axis];
    const values = interp.value(raw, ctx, at);
    if (!Array.isArray(values) || values.length === 0) {
      throw src.error(
        at,
        `matrix axis "${axis}" of stage "${name}" must be a non-empty list, got ${describe(values)}`,
        'e.g. `seed: [1, 2]` or `seed: ${seeds}` naming a list',
      );
    }
    axes.push({ axis, values });
  }
  // Cartesian product, first axis varying slowest (as DVC names them).
  let combos: Array<{ parts: string[]; item: Tree }> = [{ parts: [], item: {} }];
  for (const { axis, values } of axes) {
    const next: typeof combos = [];
    for (const c of combos) {
      values.forEach((v, i) => {
        const item: Tree = { ...c.item, [axis]: v };
        carryFloats(c.item, item);
        if (isFloatAt(values, i)) markFloat(item, axis);
        next.push({ parts: [...c.parts, isScalar(v) ? scalarText(v, values, i) : `${axis}${i}`], item });
      });
    }
    combos = next;
  }
  return combos.map(({ parts, item }) => {
    const key = parts.join('-');
    return { name: `${name}@${key}`, group: name, body, at: ['stages', name], locals: { item, key } };
  });
}

function describe(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'object') return 'a mapping';
  return `the ${typeof v} ${JSON.stringify(v)}`;
}
