import { test } from 'node:test';
import assert from 'node:assert/strict';
import { derivedSeeds, experimentModels, modelRef } from '../../src/experiment/artifacts/layout.ts';

test('experimentModels lists every model of every seed, small models under artifacts/models/small', () => {
  const refs = experimentModels({ seeds: [1, 2], small: [1, 2], methods: ['merge', 'fpi'] });
  assert.equal(refs.length, 2 * (2 + 1 + 2 * 2));
  assert.equal(new Set(refs.map((r) => r.id)).size, refs.length, 'ids are unique');
  assert.deepEqual(
    refs.filter((r) => r.seed === 2 && r.role === 'small').map((r) => r.dir),
    ['artifacts/models/small/s2/1', 'artifacts/models/small/s2/2'],
  );
  assert.equal(modelRef('m1', 2, { method: 'merge' }).dir, 'artifacts/models/s2/m1/merge');
  assert.equal(modelRef('m1p', 1, { method: 'fpi' }).label, "M1' (fpi)");
});

test('M0 and every M1 of a seed share one data seed; small models and seeds differ', () => {
  const m0 = derivedSeeds(modelRef('m0', 3));
  const m1 = derivedSeeds(modelRef('m1', 3, { method: 'merge' }));
  assert.equal(m0.data, m1.data);
  const s1 = derivedSeeds(modelRef('small', 3, { index: 1 }));
  const s2 = derivedSeeds(modelRef('small', 3, { index: 2 }));
  assert.notEqual(s1.data, s2.data);
  assert.notEqual(s1.init, s2.init);
  assert.notEqual(derivedSeeds(modelRef('m0', 1)).data, m0.data);
});
