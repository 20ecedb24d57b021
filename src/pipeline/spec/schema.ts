/**
 * The JSON Schema of pipeline.yaml. It is the single source of truth twice over: the loader
 * validates every file with it (through ajv), and `pipeline.schema.json` at the repository root is
 * this object written out for editors (a test keeps the two identical; regenerate the file with
 * `node --import tsx src/pipeline/spec/write-schema.ts`).
 *
 * Fields that are not strings accept a whole-string `${...}` template too, because interpolation
 * happens after this first validation; each concrete stage is validated again after interpolation
 * and foreach/matrix expansion, against `#/definitions/stageBody`.
 */

const template = {
  type: 'string',
  pattern: '^\\$\\{[^}]+\\}$',
  description: 'A whole-string `${...}` template, replaced by the value (of any type) it names.',
} as const;

const orTemplate = (schema: Record<string, unknown>, description: string) => ({
  description,
  anyOf: [schema, { $ref: '#/definitions/template' }],
});

const flag = (description: string) => orTemplate({ type: 'boolean' }, description);

const outFlagProps = {
  cache: flag('false: hash the output and record it in the lock, but do not store it in the cache (DVC `cache: false`). Default true.'),
  persist: flag('true: do not delete the output before the stage runs, so the stage can resume from its own checkpoints. Default false.'),
  desc: { type: 'string', description: 'What this output is (for people; never triggers a run).' },
  // Accepted as DVC writes them, so a dvc.yaml loads unchanged (docs/pipeline-yaml.md, "Differences from DVC").
  meta: { description: 'Any data for people or other tools (DVC `meta`); the runner ignores it.' },
  type: { type: 'string', description: 'Kind of output (DVC model registry `type`); the runner ignores it.' },
  labels: { type: 'array', items: { type: 'string' }, description: 'Labels (DVC model registry); the runner ignores them.' },
  push: flag(
    'DVC `push: false` keeps an output out of remote storage; grow push/pull copy every cached output, so it is ignored (with a warning).',
  ),
  remote: { type: 'string', description: 'DVC per-output remote; ignored (with a warning): grow push/pull use one cache location.' },
  checkpoint: flag('DVC 2 checkpoint output; read as `persist: true` (with a warning).'),
  show: flag('true: a result a person runs the pipeline for; `grow run` ends by naming it. Default false.'),
  verify: flag(
    'false: `grow verify` does not compare this output (it is still hashed, cached and locked): for outputs that legitimately vary between runs, like wall times. Default true.',
  ),
};

const plotFlagProps = {
  ...outFlagProps,
  x: { type: 'string', description: 'Plot x field (DVC plots syntax; kept for other tools, the runner ignores it).' },
  y: { type: 'string', description: 'Plot y field (DVC plots syntax; kept for other tools, the runner ignores it).' },
  template: { type: 'string', description: 'Plot template (DVC plots syntax; kept for other tools, the runner ignores it).' },
  title: { type: 'string', description: 'Plot title (DVC plots syntax; kept for other tools, the runner ignores it).' },
  x_label: { type: 'string', description: 'Plot x axis label (DVC plots syntax; the runner ignores it).' },
  y_label: { type: 'string', description: 'Plot y axis label (DVC plots syntax; the runner ignores it).' },
  header: { type: 'boolean', description: 'Whether a CSV/TSV plot file has a header row (DVC plots syntax; the runner ignores it).' },
};

const outList = (kind: string, flagsRef: string, description: string) =>
  orTemplate(
    {
      type: 'array',
      items: {
        anyOf: [
          { $ref: '#/definitions/path' },
          {
            type: 'object',
            description: `\`{path: {flags}}\`: ${kind} with flags, as DVC writes it.`,
            minProperties: 1,
            maxProperties: 1,
            additionalProperties: { anyOf: [{ $ref: flagsRef }, { type: 'null' }] },
          },
        ],
      },
    },
    description,
  );

const varsSchema = (description: string) => ({
  type: 'array',
  description,
  items: { anyOf: [{ type: 'object' }, { type: 'string', minLength: 1 }] },
});

const stageBodyProps = {
  cmd: {
    description: 'The command, or a list of commands run in order through a shell; the first failure stops the stage.',
    anyOf: [
      { type: 'string', minLength: 1 },
      { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    ],
  },
  wdir: {
    type: 'string',
    minLength: 1,
    description: 'Working directory of cmd, relative to the project root (default "."). deps, outs and params files are relative to it.',
  },
  deps: orTemplate(
    { type: 'array', items: { $ref: '#/definitions/path' } },
    "Files or directories the stage reads. A change in their content re-runs the stage; a dep inside another stage's out makes that stage run first.",
  ),
  params: {
    type: 'array',
    description:
      'Parameter dependencies: a dotted key of the default params file (`train.lr`, `model` for a whole subtree), `{file: [keys]}` for another file (relative to wdir), or `{file: null}` for a whole file. Only the listed values re-run the stage.',
    items: {
      anyOf: [
        { type: 'string', minLength: 1, description: 'A dotted key of the default params file.' },
        {
          type: 'object',
          minProperties: 1,
          description: '`{file: [keys]}` or `{file: null}` (the whole file).',
          additionalProperties: {
            anyOf: [{ type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } }, { type: 'null' }],
          },
        },
      ],
    },
  },
  outs: outList(
    'an output',
    '#/definitions/outFlags',
    'Files or directories the stage writes. They are cached and restored by content hash. Items: a path, or `{path: {cache: false, persist: true}}`.',
  ),
  metrics: outList(
    'a metrics file',
    '#/definitions/outFlags',
    'Outputs holding metrics (JSON/YAML), shown by `grow metrics`. Same syntax as outs.',
  ),
  plots: outList('a plots file', '#/definitions/plotFlags', 'Outputs holding plot data or images. Same syntax as outs.'),
  desc: { type: 'string', description: 'What the stage does (for people; never triggers a run).' },
  meta: { description: 'Any data for people or other tools (DVC `meta`); never triggers a run.' },
  always_changed: flag('true: the stage is always considered changed and re-runs on every `grow run`.'),
  frozen: flag('true: the stage never runs; its outs are only checked.'),
  interruptible: flag('true: watch mode may stop the stage when its inputs change mid-run and restart it.'),
  executor: orTemplate({ enum: ['local', 'slurm'] }, 'Where the stage runs: `local` (default) or `slurm` (a batch job).'),
  vars: varsSchema(
    'Values for `${...}` interpolation in this stage only, laid over the top-level ones: inline mappings, or params-file names (`file.yaml`, `file.yaml:key1,key2`), which may use `${item}`.',
  ),
  resources: {
    type: 'object',
    description: 'What the stage needs from an executor (used by `slurm`).',
    additionalProperties: false,
    properties: {
      cpus: orTemplate({ type: 'integer', minimum: 1 }, 'CPU cores.'),
      gpus: orTemplate({ type: 'integer', minimum: 0 }, 'GPUs.'),
      mem: { type: 'string', pattern: '^(\\$\\{[^}]+\\}|[0-9]+[KMGT]?)$', description: 'Memory in Slurm syntax, e.g. "8G" or "512M".' },
      time: orTemplate({ type: 'number', exclusiveMinimum: 0 }, 'Time limit in minutes.'),
      sbatch: { type: 'array', items: { type: 'string' }, description: 'Extra sbatch flags, passed through verbatim.' },
    },
  },
} as const;

export const pipelineSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'growline pipeline.yaml',
  description: 'Stages of a growline (`grow`) pipeline. See docs/pipeline-yaml.md.',
  type: 'object',
  additionalProperties: false,
  required: ['stages'],
  properties: {
    stages: {
      type: 'object',
      description: 'The stages, by name. Declaration order is kept for display and tie-breaking.',
      propertyNames: { pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' },
      additionalProperties: { $ref: '#/definitions/stage' },
    },
    vars: varsSchema(
      'Values for `${...}` interpolation, merged in order over the default params file: inline mappings, or params-file names (`file.yaml`, `file.yaml:key1,key2`).',
    ),
    params: {
      description:
        "The default params file (project-relative), for `params:` keys without a file and for interpolation. Default: params.yaml (as DVC). A list (DVC's top-level params files) names files to watch; the default stays params.yaml.",
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', items: { type: 'string', minLength: 1 } },
      ],
    },
    metrics: {
      type: 'array',
      items: { $ref: '#/definitions/path' },
      description: 'Metrics files no stage writes (DVC top-level `metrics`), shown by `grow metrics` too.',
    },
    plots: { description: 'DVC top-level plots definitions; ignored by the runner (with a warning).' },
    artifacts: { type: 'object', description: 'DVC model-registry artifacts; ignored by the runner (with a warning).' },
    datasets: { type: 'array', description: 'DVC datasets (dvcx, remote datasets); ignored by the runner (with a warning).' },
  },
  definitions: {
    template,
    path: { type: 'string', minLength: 1, description: "A path relative to the stage's wdir (POSIX separators)." },
    outFlags: { type: 'object', additionalProperties: false, properties: outFlagProps },
    plotFlags: { type: 'object', additionalProperties: false, properties: plotFlagProps },
    stageBody: {
      type: 'object',
      description: 'A stage: a command with its dependencies and outputs.',
      additionalProperties: false,
      required: ['cmd'],
      properties: stageBodyProps,
    },
    stage: {
      type: 'object',
      description: 'A stage, or a group of stages generated by `foreach` + `do` or `matrix`.',
      additionalProperties: false,
      properties: {
        ...stageBodyProps,
        foreach: orTemplate(
          { type: ['array', 'object'] },
          'Generate one stage per item: a list (`name@<value>`, or `name@<index>` for mappings) or a mapping (`name@<key>`). The body is under `do`, with `${item}` (and `${key}` for a mapping).',
        ),
        do: { $ref: '#/definitions/stageBody' },
        matrix: {
          type: 'object',
          minProperties: 1,
          description:
            "Generate one stage per combination of the axes' values (cartesian product), named `name@v1-v2`; `${item.<axis>}` is the value.",
          additionalProperties: orTemplate({ type: 'array', minItems: 1 }, 'The values of one axis.'),
        },
      },
      dependencies: { foreach: ['do'], do: ['foreach'] },
      if: { required: ['foreach'] },
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else keyword
      then: { propertyNames: { enum: ['foreach', 'do'] } },
      else: { required: ['cmd'] },
    },
  },
} as const;
