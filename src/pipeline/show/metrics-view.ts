/**
 * `grow metrics show` filters: which metrics files (by path or by the stage that declares them),
 * which keys (globs), numbers only unless asked, rounded to a number of significant digits.
 */
import { GrowError, EXIT } from '../errors.ts';
import type { DiffRow } from './diff.ts';
import { metricsFiles } from './diff.ts';
import type { Project } from '../project/project.ts';

/** `*` any run of characters (dots included), `?` one character; the rest literal. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

const isNumeric = (v: unknown): boolean =>
  typeof v === 'number' || (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number'));

/** `precision` significant digits; integers that fit are left as they are. */
export function roundTo(v: number, precision: number): number {
  return Number.isInteger(v) && Math.abs(v) < 10 ** precision ? v : Number(v.toPrecision(precision));
}

export interface MetricsFilter {
  /** Metrics file paths or stage/group names. */
  targets?: string[];
  keys?: string[];
  all?: boolean;
  precision?: number;
}

/** The metrics files a target names: itself when it is one, else those of the stage or group. */
function filesOf(project: Project, target: string): string[] {
  const all = metricsFiles(project);
  const rel = target.replace(/^\.\//, '');
  if (all.includes(rel)) return [rel];
  const stages = project.pipeline.stages.filter((s) => s.name === target || s.group === target);
  if (stages.length) return stages.flatMap((s) => s.outs.filter((o) => o.kind === 'metrics').map((o) => o.path));
  throw new GrowError(
    `\`${target}\` is neither a metrics file nor a stage`,
    EXIT.usage,
    `name a file declared under \`metrics:\` (${all.join(', ') || 'none declared'}) or a stage`,
  );
}

export function filterMetrics(project: Project, rows: DiffRow[], f: MetricsFilter): DiffRow[] {
  let out = rows;
  if (f.targets?.length) {
    const files = new Set(f.targets.flatMap((t) => filesOf(project, t)));
    out = out.filter((r) => files.has(r.file));
  }
  if (f.keys?.length) {
    const res = f.keys.map(globToRegExp);
    out = out.filter((r) => res.some((re) => re.test(r.key)));
  }
  if (!f.all) out = out.filter((r) => isNumeric(r.new));
  if (f.precision !== undefined) {
    const p = f.precision;
    out = out.map((r) => ({
      ...r,
      new:
        typeof r.new === 'number'
          ? roundTo(r.new, p)
          : Array.isArray(r.new) && isNumeric(r.new)
            ? r.new.map((x: number) => roundTo(x, p))
            : r.new,
    }));
  }
  return out;
}
