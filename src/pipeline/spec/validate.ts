/**
 * Schema validation with ajv, and the translation of ajv's errors into one ConfigError that
 * points at the YAML node (file:line:col) and says how to fix it.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { pipelineSchema } from './schema.ts';
import { didYouMean } from './suggest.ts';
import type { YamlPath, YamlSource } from './yaml-source.ts';
import type { ConfigError } from '../errors.ts';

let compiled: { pipeline: ValidateFunction; stageBody: ValidateFunction } | undefined;

// Compiled on first use: ajv's code generation costs a few ms that commands not loading a
// pipeline (e.g. `grow --help`) should not pay.
function validators() {
  if (!compiled) {
    const ajv = new Ajv({ allErrors: false, verbose: true, allowUnionTypes: true, strict: true, strictRequired: false });
    ajv.addSchema(pipelineSchema, 'pipeline');
    compiled = {
      pipeline: ajv.getSchema('pipeline')!,
      stageBody: ajv.getSchema('pipeline#/definitions/stageBody')!,
    };
  }
  return compiled;
}

/** Validates the whole raw pipeline document (before interpolation). */
export function validatePipeline(src: YamlSource): void {
  const v = validators().pipeline;
  if (!v(src.data)) throw toConfigError(src, [], v.errors ?? [], src.data);
}

/**
 * Validates one concrete stage body after interpolation/expansion. `at` is where the body was
 * written in the YAML document (e.g. ['stages', 'train', 'do']), so errors point there.
 */
export function validateStageBody(src: YamlSource, at: YamlPath, body: unknown, stageName: string): void {
  const v = validators().stageBody;
  if (!v(body)) throw toConfigError(src, at, v.errors ?? [], body, stageName);
}

function instancePath(e: ErrorObject): string[] {
  if (e.instancePath === '') return [];
  return e.instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const KEYWORD_RANK: Record<string, number> = {
  additionalProperties: 0,
  propertyNames: 1,
  required: 2,
  dependencies: 2,
  enum: 3,
  minItems: 4,
  minLength: 4,
  minProperties: 4,
  maxProperties: 4,
  minimum: 4,
  exclusiveMinimum: 4,
  anyOf: 5,
  type: 6,
  pattern: 7,
  if: 9,
};

/** The one error worth showing: the deepest, and among those the most specific keyword. */
function pickError(errors: ErrorObject[]): ErrorObject {
  let best = errors[0];
  const depth = (e: ErrorObject) => (e.instancePath === '' ? 0 : e.instancePath.split('/').length);
  for (const e of errors) {
    const d = depth(e) - depth(best);
    if (d > 0 || (d === 0 && (KEYWORD_RANK[e.keyword] ?? 8) < (KEYWORD_RANK[best.keyword] ?? 8))) best = e;
  }
  return best;
}

function describeSchema(s: unknown): string {
  if (!s || typeof s !== 'object') return 'a value';
  const o = s as Record<string, unknown>;
  if (o.$ref === '#/definitions/template') return 'a `${...}` template';
  if (o.$ref === '#/definitions/path') return 'a path';
  if (o.enum) return (o.enum as unknown[]).map((x) => JSON.stringify(x)).join(' or ');
  const types = Array.isArray(o.type) ? o.type : [o.type];
  return types
    .map((t) => ({ array: 'a list', object: 'a mapping', string: 'a string', boolean: 'true or false', integer: 'an integer', number: 'a number', null: 'empty' })[String(t)] ?? 'a value')
    .join(' or ');
}

function typeName(v: unknown): string {
  if (v === null) return 'empty (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v === 'string' ? 'the string' : 'the ' + typeof v} ${JSON.stringify(v)}`;
}

function fieldLabel(p: string[], stageName?: string): string {
  if (p.length === 0) return stageName ? `stage "${stageName}"` : 'the pipeline file';
  const last = p[p.length - 1];
  return /^\d+$/.test(last) ? `item ${Number(last) + 1} of "${p[p.length - 2]}"` : `"${last}"`;
}

function toConfigError(src: YamlSource, at: YamlPath, errors: ErrorObject[], data: unknown, stageName?: string): ConfigError {
  const e = pickError(errors);
  const rel = instancePath(e);
  const p = [...at, ...rel];
  const where = fieldLabel(rel, stageName);
  const value = rel.reduce<unknown>((cur, k) => (cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined), data);
  const inStages = at.length === 0 && rel[0] === 'stages' && rel.length >= 2;
  const owner = stageName ? `stage "${stageName}"` : inStages ? `stage "${rel[1]}"` : 'the pipeline file';
  switch (e.keyword) {
    case 'additionalProperties': {
      const name = String(e.params.additionalProperty);
      const allowed = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
      const context = rel.length === 0 ? owner : rel.length === 2 && inStages ? owner : `${where} of ${owner}`;
      const suggestion = didYouMean(name, allowed);
      return src.error([...p, name], `unknown field "${name}" in ${context}.${suggestion}`, `valid fields here: ${allowed.join(', ')}`, true);
    }
    case 'propertyNames': {
      const name = String(e.params.propertyName);
      if (rel.length === 1 && rel[0] === 'stages') {
        return src.error([...p, name], `invalid stage name "${name}"`, 'stage names may contain letters, digits, "_", "." and "-" ("@" is reserved for foreach/matrix items)', true);
      }
      return src.error([...p, name], `"${name}" is not allowed beside "foreach" in ${owner}`, 'a foreach stage holds only `foreach` and `do`; move the stage fields under `do:`', true);
    }
    case 'required': {
      const missing = String(e.params.missingProperty);
      return src.error(p, `${where} has no "${missing}"`, missing === 'cmd' ? 'add `cmd: <command>` (a string or a list of commands)' : `add "${missing}"`, rel.length > 0);
    }
    case 'dependencies': {
      const prop = String(e.params.property);
      const missing = String(e.params.missingProperty);
      return src.error([...p, prop], `"${prop}" needs "${missing}" in ${owner}`, 'a foreach stage is `foreach: <list or mapping>` plus `do: <stage body>`', true);
    }
    case 'enum':
      return src.error(p, `${where} must be one of ${(e.params.allowedValues as unknown[]).map((x) => JSON.stringify(x)).join(', ')}, not ${typeName(value)}`);
    case 'anyOf': {
      const branches = (e.schema as unknown[]).map(describeSchema);
      return src.error(p, `${where} in ${owner} must be ${[...new Set(branches)].join(', or ')}; got ${typeName(value)}`);
    }
    case 'type':
      return src.error(p, `${where} in ${owner} must be ${describeSchema(e.parentSchema)}; got ${typeName(value)}`);
    case 'pattern':
      if ((e.parentSchema as { pattern?: string }).pattern === pipelineSchema.definitions.template.pattern) {
        return src.error(p, `${where} in ${owner} must be a whole-string \`\${...}\` template; got ${typeName(value)}`);
      }
      return src.error(p, `${where} in ${owner} has an invalid format (${typeName(value)})`, (e.parentSchema as { description?: string }).description);
    default:
      return src.error(p, `${where} in ${owner} ${e.message ?? 'is invalid'}`, (e.parentSchema as { description?: string })?.description);
  }
}
