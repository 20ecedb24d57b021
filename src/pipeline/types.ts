/**
 * The runner's shared vocabulary: what `spec` produces from pipeline.yaml and every later layer
 * (graph, status, schedule, execute, record) consumes. Paths are POSIX, relative to the project
 * root (never to a stage's wdir), normalised, and never escape the root.
 */

/** Where in a YAML file a value came from, for error messages. */
export interface SourcePos {
  file: string; // project-relative path of the YAML file
  line: number; // 1-based
  col: number; // 1-based
}

export interface OutSpec {
  path: string;
  /** false: hashed and recorded in the lock, but not stored in the cache (DVC `cache: false`). */
  cache: boolean;
  /** true: not deleted before the stage runs, so a stage can resume from its own checkpoints. */
  persist: boolean;
  /** Declared under `metrics:` / `plots:` rather than `outs:` (both are outs for the graph). */
  kind: 'out' | 'metrics' | 'plots';
  /** `show: true`: named at the end of `grow run` as a result to look at (absent: false). */
  show?: boolean;
  /** `verify: false`: `grow verify` leaves it out of the comparison (timings and the like; absent: true). */
  verify?: false;
}

/** `params:` entry resolved to one file. `keys === null` means the whole file. */
export interface ParamsRef {
  file: string;
  keys: string[] | null;
}

export interface Resources {
  cpus?: number;
  gpus?: number;
  /** Slurm syntax, e.g. "8G", "512M". */
  mem?: string;
  /** Minutes. */
  time?: number;
  /** Extra sbatch flags, passed through verbatim. */
  sbatch?: string[];
}

export interface Stage {
  /** Concrete name: `train` or, for foreach/matrix items, `train_small@1`, `eval@m0-d1`. */
  name: string;
  /** The foreach/matrix group (`train_small`) this stage was expanded from, if any. */
  group?: string;
  /** Commands after interpolation, run in order with a shell; the first failure stops the stage. */
  cmd: string[];
  /** Working directory, project-relative ("." for the root). */
  wdir: string;
  deps: string[];
  params: ParamsRef[];
  outs: OutSpec[];
  desc?: string;
  alwaysChanged: boolean;
  frozen: boolean;
  /** Watch mode may stop and restart it when its inputs change mid-run. */
  interruptible: boolean;
  executor?: 'local' | 'slurm';
  resources?: Resources;
  /** Where the stage was declared, for error messages. */
  pos?: SourcePos;
}

export interface Pipeline {
  /** Absolute path of the project root (the directory holding pipeline.yaml). */
  root: string;
  /** Project-relative path of the pipeline file (normally "pipeline.yaml"). */
  file: string;
  /** Default params file: `params:` at the top of pipeline.yaml, else "params.yaml" (DVC's). */
  defaultParamsFile: string;
  /** Stages in declaration order (foreach/matrix items in expansion order). */
  stages: Stage[];
  /** Every params file the pipeline reads (for watch), project-relative. */
  paramsFiles: string[];
  /** Metrics files listed at the top level (DVC's `metrics:`), besides the stages' metrics outs. */
  metricsFiles?: string[];
  /** Fields read but not used (DVC's `push`, `artifacts`…): one line each, for the user. */
  warnings?: string[];
}

/** Resolved values of one stage's params: file → (dotted key → value). Whole files use key "". */
export type ParamValues = Record<string, Record<string, unknown>>;

/** What a stage run reports back to the scheduler, whatever executor ran it. */
export interface ExecResult {
  /** Process exit status; null when it ended by a signal or the executor could not tell. */
  exitCode: number | null;
  signal?: string;
  /** Executor-level outcome: ok, failed (non-zero exit), cancelled, timeout, lost (node failure). */
  state: 'ok' | 'failed' | 'cancelled' | 'timeout' | 'lost';
  /** Human-readable reason when not ok (e.g. "Slurm job 42 TIMEOUT after 1 min"). */
  message?: string;
}

export interface ExecRequest {
  stage: Stage;
  /** Absolute working directory. */
  cwd: string;
  env: Record<string, string>;
  /** Absolute path of `.grow/logs/<stage>.log`; stdout and stderr go there as well. */
  logFile: string;
  /** Called for each line of the stage's stdout (drives `::progress` and the live view). */
  onLine: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Aborting cancels the stage (process group TERM then KILL, or scancel). */
  signal: AbortSignal;
}

/** Runs one stage's commands somewhere: this machine, or a Slurm cluster. */
export interface Executor {
  readonly name: 'local' | 'slurm';
  run(req: ExecRequest): Promise<ExecResult>;
}
