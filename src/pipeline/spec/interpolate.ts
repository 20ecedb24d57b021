/**
 * `${...}` interpolation, DVC style: `${a.b}`, `${x[0]}`, `${item}`, `${item.k}`, `${key}`.
 * A string that is exactly one `${...}` becomes the value itself (a number stays a number, a list
 * stays a list); inside a longer string the value must be a scalar and is written out. In `cmd`
 * only, a mapping is unpacked into `--key value` flags, as DVC does. `\${` is a literal `${`.
 * Errors point at the string's position and list the names that do exist.
 */
import { isMapping, isMissing, lookup, parseKey, type Tree } from './params.ts';
import { carryFloats, isFloatAt, markFloat, scalarText } from './number-text.ts';
import { closest } from './suggest.ts';
import type { YamlPath, YamlSource } from './yaml-source.ts';

const WHOLE = /^\$\{\s*([^{}]+?)\s*\}$/;
const ANY = /(\\)?\$\{\s*([^{}]*?)\s*\}/g;

export class Interpolator {
  constructor(
    private readonly src: YamlSource,
    /** Where names can be defined, for messages ("vars or params.yaml (which is empty)"). */
    private readonly sources: string,
  ) {}

  /**
   * A copy of `value` with every string interpolated; `at` is its position in the document.
   * `asCommand`: the value is a stage's cmd, where mappings unpack into flags.
   */
  value(value: unknown, ctx: Tree, at: YamlPath, asCommand = false): unknown {
    if (typeof value === 'string') return this.string(value, ctx, at, asCommand);
    if (Array.isArray(value)) {
      const out = value.map((v, i) => this.value(v, ctx, [...at, i], asCommand));
      carryFloats(value, out);
      return out;
    }
    if (isMapping(value)) {
      const out: Tree = {};
      for (const [k, v] of Object.entries(value)) {
        const key = k.includes('${') ? this.keyString(k, ctx, [...at, k]) : k;
        out[key] = this.value(v, ctx, [...at, k]);
        if (isFloatAt(value, k)) markFloat(out, key);
      }
      return out;
    }
    return value;
  }

  string(s: string, ctx: Tree, at: YamlPath, asCommand = false): unknown {
    if (!s.includes('${')) return s;
    const whole = WHOLE.exec(s);
    if (whole) {
      const v = this.resolve(whole[1], ctx, at);
      return asCommand && isMapping(v) ? this.flags(v, whole[1], at) : v;
    }
    return s.replace(ANY, (match, escaped: string | undefined, expr: string) => {
      if (escaped) return match.slice(1);
      const v = this.resolve(expr, ctx, at);
      if (asCommand && isMapping(v)) return this.flags(v, expr, at);
      if (v !== null && typeof v === 'object') {
        throw this.src.error(
          at,
          `\${${expr}} is ${Array.isArray(v) ? 'a list' : 'a mapping'} and cannot be part of a longer string "${s}"`,
          'use a scalar (e.g. ${' +
            expr +
            (Array.isArray(v) ? '[0]' : '.<key>') +
            '}), or make the whole string the template to keep the value',
        );
      }
      const parts = parseKey(expr)!;
      return scalarText(v, lookup(ctx, parts.slice(0, -1)), parts[parts.length - 1]);
    });
  }

  /**
   * A mapping as command-line flags, DVC's rules: nested keys dotted (`--model.d 64`), true →
   * `--flag`, false → nothing, a list → `--key a b`, strings shell-quoted when needed.
   */
  private flags(tree: Tree, expr: string, at: YamlPath): string {
    const out: string[] = [];
    const walk = (t: Tree, prefix: string) => {
      for (const [k, v] of Object.entries(t)) {
        // The key is quoted like a value: params come from files anyone may edit, and a key
        // such as `$(rm -rf ~)` must reach the command as text, never run in the shell.
        const flag = shellQuote(`--${prefix}${k}`);
        if (isMapping(v)) walk(v, `${prefix}${k}.`);
        else if (v === true) out.push(flag);
        else if (v === false) continue;
        else if (Array.isArray(v)) {
          if (v.some((x) => x !== null && typeof x === 'object')) {
            throw this.src.error(
              at,
              `\${${expr}} cannot be unpacked into flags: "${prefix}${k}" holds a nested list or mapping`,
              'interpolate scalar keys one by one instead',
            );
          }
          out.push([flag, ...v.map((x, i) => shellWord(x, v, i))].join(' '));
        } else out.push(`${flag} ${shellWord(v, t, k)}`);
      }
    };
    walk(tree, '');
    return out.join(' ');
  }

  private keyString(k: string, ctx: Tree, at: YamlPath): string {
    const v = this.string(k, ctx, at);
    if (v !== null && typeof v === 'object') throw this.src.error(at, `the key "${k}" must interpolate to a string`, undefined, true);
    return String(v);
  }

  private resolve(expr: string, ctx: Tree, at: YamlPath): unknown {
    const parts = parseKey(expr);
    if (!parts || !/^[\p{L}_]/u.test(String(parts[0]))) {
      throw this.src.error(at, `\${${expr}} is not a variable reference`, 'write ${name}, ${a.b}, ${x[0]} or ${item.key}');
    }
    const v = lookup(ctx, parts);
    if (!isMissing(v)) return v;
    // Name the deepest prefix that exists and what it offers.
    let i = 0;
    let cur: unknown = ctx;
    while (i < parts.length && !isMissing(lookup(cur, [parts[i]]))) cur = lookup(cur, [parts[i++]]);
    const found = parts.slice(0, i).map(String).join('.');
    const missing = String(parts[i]);
    const available = isMapping(cur) ? Object.keys(cur) : Array.isArray(cur) ? [`0..${cur.length - 1}`] : [];
    const near = closest(missing, isMapping(cur) ? Object.keys(cur) : []);
    const what = i === 0 ? `no variable "${missing}"` : `"${found}" has no ${Array.isArray(cur) ? 'item' : 'key'} "${missing}"`;
    const listed = available.length
      ? ` Available${i === 0 ? ' names' : ''}: ${available.slice(0, 30).join(', ')}${available.length > 30 ? ', …' : ''}.`
      : '';
    const hint = near.length
      ? `did you mean \${${[...parts.slice(0, i).map(String), near[0]].join('.')}}?`
      : `define it in ${this.sources}`;
    throw this.src.error(at, `cannot interpolate \${${expr}}: ${what}.${listed}`, hint);
  }
}

/** A value as one shell word: as is when safe, else single-quoted (like Python's shlex.quote). */
function shellWord(v: unknown, container: unknown, key: string | number): string {
  const text = scalarText(v, container, key);
  return typeof v === 'string' ? shellQuote(text) : text;
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
