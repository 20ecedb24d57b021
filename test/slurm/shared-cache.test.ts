// One cache directory shared by several clones writing at the same time (as machines on a shared
// file system would), watched by a reader that checks every object it can see: no reader may ever
// see a partial object under its real name. Then a fresh clone restores everything from it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { transferCache } from '../../src/pipeline/store/transfer.ts';
import { record, TestProject } from '../helpers/grow-project.ts';
import { removeDir, tempDir } from './cluster.ts';

const cleanup: (() => void)[] = [];
after(() => cleanup.forEach((f) => f()));

function project(files: Record<string, string>): TestProject {
  const p = new TestProject(files);
  cleanup.push(() => p.cleanup());
  return p;
}

/** Every object visible under its final name, checked against the md5 its path promises. */
function checkObjects(cacheDir: string): { seen: number; bad: string[] } {
  const root = join(cacheDir, 'files', 'md5');
  const bad: string[] = [];
  let seen = 0;
  if (!existsSync(root)) return { seen, bad };
  for (const sub of readdirSync(root)) {
    let names: string[];
    try {
      names = readdirSync(join(root, sub));
    } catch {
      continue;
    }
    for (const name of names) {
      if (name.includes('.tmp-')) continue;
      let data: Buffer;
      try {
        data = readFileSync(join(root, sub, name));
      } catch {
        continue; // removed meanwhile (a corrupt object being dropped is fine; a partial one is not)
      }
      seen++;
      const md5 = createHash('md5').update(data).digest('hex');
      if (md5 !== sub + name.replace(/\.dir$/, '')) bad.push(`${sub}/${name} (${data.length} bytes)`);
    }
  }
  return { seen, bad };
}

// Big enough that a copy takes a while; deterministic, so every clone writes the same objects.
const PIPELINE = `stages:
  big:
    foreach: [1, 2, 3]
    do:
      cmd: ${record}; mkdir -p out-\${item} && yes "$(cat seed.txt) \${item}" | head -c 8000000 > out-\${item}/data.bin && echo \${item} > out-\${item}/small.txt
      deps: [seed.txt]
      outs:
        - out-\${item}
`;

test('clones writing one cache at once never expose a partial object, and a third clone restores all', async () => {
  const shared = tempDir('grow-shared-');
  cleanup.push(() => removeDir(shared));
  const env = { GROW_CACHE_DIR: shared };
  const clones = [project({ 'pipeline.yaml': PIPELINE, 'seed.txt': 's\n' }), project({ 'pipeline.yaml': PIPELINE, 'seed.txt': 's\n' })];
  let running = true;
  const runs = Promise.all(clones.map((c) => c.ok(['run', '-j', '3'], 0, env))).finally(() => (running = false));
  const bad: string[] = [];
  let scans = 0;
  while (running) {
    bad.push(...checkObjects(shared).bad);
    scans++;
    await new Promise((r) => setImmediate(r));
  }
  await runs;
  assert.deepEqual(bad, []);
  const final = checkObjects(shared);
  assert.deepEqual(final.bad, []);
  assert.equal(final.seen, 9); // 3 directories × (data.bin, small.txt, manifest)
  assert.ok(scans > 0);
  assert.equal(clones[0].lockText(), clones[1].lockText());

  const third = project({ 'pipeline.yaml': PIPELINE, 'seed.txt': 's\n', 'pipeline.lock': clones[0].lockText() });
  await third.ok(['run'], 0, env);
  assert.deepEqual(third.calls(), []);
  assert.equal(third.read('out-2/small.txt'), '2\n');
});

test('two pushes into one remote at once leave it complete, verified and free of temp files', async () => {
  const a = project({ 'pipeline.yaml': PIPELINE, 'seed.txt': 'a\n' });
  const b = project({ 'pipeline.yaml': PIPELINE, 'seed.txt': 'b\n' });
  await Promise.all([a.ok(['run', 'big@1', 'big@2']), b.ok(['run', 'big@2', 'big@3'])]);
  const remote = tempDir('grow-remote-');
  cleanup.push(() => removeDir(remote));
  const [ra, rb] = await Promise.all([transferCache(a.path('.grow/cache'), remote), transferCache(b.path('.grow/cache'), remote)]);
  assert.deepEqual([ra.corrupt, rb.corrupt], [[], []]);
  const result = checkObjects(remote);
  assert.deepEqual(result.bad, []);
  // a: 2 dirs × (data, small, manifest); b: the same; small.txt for item 2 is shared (same bytes).
  assert.equal(result.seen, 11);
  assert.ok(readdirSync(remote, { recursive: true }).every((f) => !String(f).includes('.tmp-')));
  assert.equal(ra.runs + rb.runs, 4);
});
