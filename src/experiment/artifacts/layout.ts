/**
 * Which models one experiment run holds and where each lives. pipeline.yaml spells the same paths
 * in its outs; the stages that see every model at once (evaluate, profile, report) enumerate them
 * from the params with `experimentModels` instead of scanning directories, so a stale directory
 * from an earlier configuration never leaks into a report.
 *
 *   artifacts/models/small/s<seed>/<i>      small model i (D1 only)
 *   artifacts/models/s<seed>/m0             the large baseline, from scratch (D1 + D2)
 *   artifacts/models/s<seed>/m1p/<method>   M1': the small models combined (combine stage)
 *   artifacts/models/s<seed>/m1/<method>    M1: M1' refined (D1 + D2)
 *   artifacts/models/s<seed>/m1/small_cont  the baseline growth must beat: small model i simply
 *                                           trained on at its own width on D1 + D2 (no M1')
 *   artifacts/ckpt/<same id>                resume checkpoints of a training stage (persist)
 *
 * A seed's small models live under one directory, artifacts/models/small/s<seed>: combine depends
 * on that directory, so it sees however many small models there are without also depending on M0
 * or on its own refined output. The directory need not exist before the first run: grow accepts a
 * dep that gathers other stages' outs.
 */
export type ModelRole = 'small' | 'm0' | 'm1p' | 'm1';

export interface ModelRef {
  /** "s1/m1/merge", "small/s1/2": unique within a run; the directory below artifacts/models. */
  id: string;
  /** "M1 (merge)": the display name, the same for every seed. */
  label: string;
  role: ModelRole;
  seed: number;
  /** Small models: 1..n. */
  index?: number;
  /** M1' and M1: the growth method. */
  method?: string;
  dir: string;
}

const MODELS_DIR = 'artifacts/models';
/** The evaluate stage's scores of every model (its metrics file). */
export const EVAL_FILE = 'artifacts/eval/metrics.json';
/** The profile stage's costs and savings (its wall times are split off under artifacts/timings). */
export const PROFILE_FILE = 'artifacts/profile/profile.json';
export const REPORT_DIR = 'artifacts/report';

/**
 * The "method" name of the continued-small-model baseline. It sits among the M1 variants (it is
 * compared with M0 and charged exactly like them: for the one small model it started from) but
 * has no M1' and is trained by its own stage; growth.methods may not use the name.
 */
export const CONTINUE_METHOD = 'small_cont';
const CKPT_DIR = 'artifacts/ckpt';

function modelName(role: ModelRole, opts: { index?: number; method?: string } = {}): string {
  switch (role) {
    case 'small':
      return `${opts.index}`;
    case 'm0':
      return 'm0';
    case 'm1p':
      return `m1p/${opts.method}`;
    case 'm1':
      return `m1/${opts.method}`;
  }
}

function modelLabel(role: ModelRole, opts: { index?: number; method?: string } = {}): string {
  switch (role) {
    case 'small':
      return `small ${opts.index}`;
    case 'm0':
      return 'M0 (scratch)';
    case 'm1p':
      return `M1' (${opts.method})`;
    case 'm1':
      return opts.method === CONTINUE_METHOD ? `small ${opts.index ?? 1} continued` : `M1 (${opts.method})`;
  }
}

export function modelRef(role: ModelRole, seed: number, opts: { index?: number; method?: string } = {}): ModelRef {
  const id = role === 'small' ? `small/s${seed}/${modelName(role, opts)}` : `s${seed}/${modelName(role, opts)}`;
  return { id, label: modelLabel(role, opts), role, seed, ...opts, dir: `${MODELS_DIR}/${id}` };
}

export function ckptDir(ref: ModelRef): string {
  return `${CKPT_DIR}/${ref.id}`;
}

export interface ExperimentShape {
  seeds: number[];
  /** Indices of the small models (params `small.models`), usually 1..n. */
  small: number[];
  methods: string[];
  /** The small model continued as a baseline (params `continue.source`), if the run has one. */
  continueSmall?: number;
}

/**
 * Every model of a run, in a stable order: per seed, the small models, M0, the continued small
 * model, then M1' and M1 per method.
 */
export function experimentModels(shape: ExperimentShape): ModelRef[] {
  const out: ModelRef[] = [];
  for (const seed of shape.seeds) {
    for (const i of shape.small) out.push(modelRef('small', seed, { index: i }));
    out.push(modelRef('m0', seed));
    if (shape.continueSmall !== undefined) out.push(modelRef('m1', seed, { method: CONTINUE_METHOD, index: shape.continueSmall }));
    for (const method of shape.methods) {
      out.push(modelRef('m1p', seed, { method }), modelRef('m1', seed, { method }));
    }
  }
  return out;
}

/** The seeds of the run and the per-model seeds derived from them (init and data order). */
export function derivedSeeds(ref: Pick<ModelRef, 'role' | 'seed' | 'index'>): { init: number; data: number } {
  // Small models differ from each other in both init and data order; M0 and every M1 of one seed
  // see exactly the same batches in the same order (the comparison's fairness rests on it).
  if (ref.role === 'small') return { init: ref.seed * 1000 + (ref.index ?? 0), data: ref.seed * 1000 + (ref.index ?? 0) };
  return { init: ref.seed * 1000, data: ref.seed * 1000 + 999 };
}
