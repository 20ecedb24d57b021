/**
 * Paths in pipeline.yaml are relative to a stage's wdir; the rest of the runner wants them
 * project-relative, POSIX, normalised, and inside the project. "Inside" is checked twice: by
 * text (`..`, absolute paths) and on disk (a symlink on the way that points outside the root),
 * resolving the longest prefix that exists, since outs usually do not exist yet.
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import path from 'node:path';

export type Resolved = { ok: true; path: string } | { ok: false; why: string };

/** `p` (relative to the project-relative `wdir`, or absolute) as a project-relative POSIX path. */
export function resolveLexically(root: string, wdir: string, p: string): Resolved {
  const posix = p.replace(/\\/g, '/');
  let rel: string;
  if (path.posix.isAbsolute(posix) || path.isAbsolute(p)) {
    const r = path.relative(root, p);
    if (r.startsWith('..') || path.isAbsolute(r)) return { ok: false, why: `the absolute path "${p}" is outside the project (${root})` };
    rel = r.split(path.sep).join('/') || '.';
  } else {
    rel = path.posix.normalize(path.posix.join(wdir, posix));
  }
  rel = rel.replace(/\/+$/, '') || '.';
  if (rel === '..' || rel.startsWith('../'))
    return { ok: false, why: `"${p}"${wdir !== '.' ? ` (from wdir ${wdir})` : ''} leads outside the project, to ${rel}` };
  return { ok: true, path: rel };
}

/** Checks on disk that project-relative paths stay inside the root after following symlinks. */
export class Containment {
  private readonly realRoot: string;
  private readonly cache = new Map<string, { path: string; exists: boolean }>();

  constructor(private readonly root: string) {
    this.realRoot = realpathSync.native(root);
  }

  /** undefined when inside; otherwise where the path really leads. */
  escapes(rel: string): string | undefined {
    if (rel === '.') return undefined;
    const real = this.real(path.join(this.root, rel), 0).path;
    const r = path.relative(this.realRoot, real);
    return r === '' || (!r.startsWith('..') && !path.isAbsolute(r)) ? undefined : real;
  }

  /**
   * The real path of `abs`, component by component: one lstat per distinct existing path
   * (cached; none below a directory that does not exist, which is where most outs live before
   * their first run; no exceptions thrown), following symlinks, even dangling ones, since they
   * still say where the path would lead.
   */
  private real(abs: string, depth: number): { path: string; exists: boolean } {
    const hit = this.cache.get(abs);
    if (hit !== undefined) return hit;
    const parent = path.dirname(abs);
    let result: { path: string; exists: boolean };
    if (parent === abs) result = { path: abs, exists: true };
    else {
      const up = this.real(parent, depth);
      const here = path.join(up.path, path.basename(abs));
      const st = up.exists ? lstatSync(here, { throwIfNoEntry: false }) : undefined;
      if (st?.isSymbolicLink() && depth < 40) result = this.real(path.resolve(up.path, readlinkSync(here)), depth + 1);
      else result = { path: here, exists: st !== undefined };
    }
    this.cache.set(abs, result);
    return result;
  }
}
