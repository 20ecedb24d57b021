import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { pipelineSchema } from '../../src/pipeline/spec/schema.ts';

test('pipeline.schema.json is the schema the loader validates with', () => {
  const published = JSON.parse(readFileSync(new URL('../../pipeline.schema.json', import.meta.url), 'utf8'));
  assert.deepEqual(
    published,
    JSON.parse(JSON.stringify(pipelineSchema)),
    'regenerate it: node --import tsx src/pipeline/spec/write-schema.ts',
  );
});

test('the published schema compiles in a plain draft-07 ajv (as editors use it) and accepts a full example', () => {
  const published = JSON.parse(readFileSync(new URL('../../pipeline.schema.json', import.meta.url), 'utf8'));
  const validate = new Ajv({ allowUnionTypes: true, strictRequired: false }).compile(published);
  const ok = validate({
    params: 'params/experiment.yaml',
    vars: [{ out: 'artifacts' }, 'params/other.yaml:a,b'],
    stages: {
      a: { cmd: 'x', deps: ['d'], outs: ['o', { p: { cache: false } }], frozen: '${flags.frozen}' },
      b: { foreach: '${seeds}', do: { cmd: ['y ${item}'] } },
      c: { matrix: { m: ['a', 'b'] }, cmd: 'z ${item.m}', resources: { cpus: 2, mem: '8G' } },
    },
  });
  assert.equal(ok, true, JSON.stringify(validate.errors));
  assert.equal(validate({ stages: { a: { cmd: 'x', outz: [] } } }), false);
});

test('every field in the schema carries a description (editor hover)', () => {
  const body = pipelineSchema.definitions.stageBody.properties;
  for (const [k, v] of Object.entries(body)) assert.ok((v as { description?: string }).description, `stage field ${k} has no description`);
  for (const [k, v] of Object.entries(pipelineSchema.properties))
    assert.ok((v as { description?: string }).description, `top-level field ${k} has no description`);
});

test("the precompiled validator is ajv's code for the current schema", async () => {
  const { validatorText, VALIDATOR_FILE } = await import('../../src/pipeline/spec/write-schema.ts');
  assert.ok(readFileSync(VALIDATOR_FILE, 'utf8') === validatorText(), 'stale: run node --import tsx src/pipeline/spec/write-schema.ts');
});

test('every YAML example in docs/pipeline-yaml.md is valid against the schema', async () => {
  const { parse } = await import('yaml');
  const { validatePipeline } = await import('../../src/pipeline/spec/schema-validator.generated.ts');
  const doc = readFileSync(new URL('../../docs/pipeline-yaml.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 15, `found ${blocks.length} examples`);
  const topLevel = new Set(Object.keys(pipelineSchema.properties));
  for (const block of blocks) {
    const data = parse(block, { merge: true }) as Record<string, unknown>;
    const first = Object.keys(data)[0];
    // `params`, `metrics` and `plots` are top-level fields and stage fields (as in DVC): an
    // example of those is valid if it is valid as either.
    const asTop = { stages: { s: { cmd: 'x' } }, ...data };
    const asStage = { stages: { s: 'foreach' in data ? data : { cmd: 'x', ...data } } };
    const validate = validatePipeline as unknown as ((d: unknown) => boolean) & { errors?: unknown };
    const valid = (topLevel.has(first) && validate(asTop)) || validate(asStage);
    assert.equal(valid, true, `docs example is invalid:\n${block}\n${JSON.stringify(validate.errors)}`);
  }
});
