import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { pipelineSchema } from '../../src/pipeline/spec/schema.ts';

test('pipeline.schema.json is the schema the loader validates with', () => {
  const published = JSON.parse(readFileSync(new URL('../../pipeline.schema.json', import.meta.url), 'utf8'));
  assert.deepEqual(published, JSON.parse(JSON.stringify(pipelineSchema)), 'regenerate it: node --import tsx src/pipeline/spec/write-schema.ts');
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
  for (const [k, v] of Object.entries(pipelineSchema.properties)) assert.ok((v as { description?: string }).description, `top-level field ${k} has no description`);
});

test('the precompiled validator is ajv\'s code for the current schema', async () => {
  const { validatorText, VALIDATOR_FILE } = await import('../../src/pipeline/spec/write-schema.ts');
  assert.ok(readFileSync(VALIDATOR_FILE, 'utf8') === validatorText(), 'stale: run node --import tsx src/pipeline/spec/write-schema.ts');
});
