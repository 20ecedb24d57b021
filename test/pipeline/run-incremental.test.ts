/**
 * Change detection, DVC style: what re-runs a stage and what must not.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

/** in.txt → a (copies) → mid.txt → b (copies) → out.txt, params from params.yaml. */
function chain(): TestProject {
  const p = new TestProject({
    'in.txt': 'hello\n',
    'params.yaml': 'a:\n  n: 1\n  unused: x\nb:\n  k: 2\n',
    'pipeline.yaml': `stages:
  a:
    cmd: ${record} && cat in.txt > mid.txt
    deps: [in.txt]
    params: [a.n]
    outs: [mid.txt]
  b:
    cmd: ${record} && cat mid.txt > out.txt
    deps: [mid.txt]
    outs: [out.txt]
`,
  });
  projects.push(p);
  return p;
}

test('first run runs every stage in order and writes the lock', async () => {
  const p = chain();
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['a', 'b']);
  assert.equal(p.read('out.txt'), 'hello\n');
  const lock = p.lock();
  assert.equal(lock.schema, 1);
  assert.deepEqual(Object.keys(lock.stages), ['a', 'b']);
  assert.match(lock.stages.a.outs![0].hash, /^md5:[0-9a-f]{32}$/);
  assert.deepEqual(lock.stages.a.params, { 'params.yaml': { 'a.n': 1 } });
  assert.ok(p.exists('.grow/logs/a.log'));
});

test('up to date: nothing runs and the lock is byte-identical', async () => {
  const p = chain();
  await p.ok(['run']);
  p.calls();
  const before = p.lockText();
  const r = await p.ok(['run']);
  assert.deepEqual(p.calls(), []);
  assert.equal(p.lockText(), before);
  assert.match(r.stdout, /a: up to date/);
  await p.ok(['status', '--check']);
});

test('a dep change re-runs the chain', async () => {
  const p = chain();
  await p.ok(['run']);
  p.calls();
  p.write('in.txt', 'changed\n');
  const st = await p.ok(['status', '--check'], 3);
  assert.match(st.stdout, /dep in\.txt changed/);
  assert.match(st.stdout, /upstream a will re-run/);
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['a', 'b']);
  assert.equal(p.read('out.txt'), 'changed\n');
});

test('early cut-off: an upstream re-run with byte-identical outs does not re-run dependents', async () => {
  const p = chain();
  await p.ok(['run']);
  p.calls();
  // New cmd text for a, same output bytes.
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace('cat in.txt > mid.txt', 'cat < in.txt > mid.txt'));
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['a']);
});

test('a listed param change re-runs; an unlisted key does not', async () => {
  const p = chain();
  await p.ok(['run']);
  p.calls();
  p.write('params.yaml', 'a:\n  n: 1\n  unused: y\nb:\n  k: 3\n');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), []);
  p.write('params.yaml', 'a:\n  n: 5\n  unused: y\nb:\n  k: 3\n');
  const st = await p.ok(['status'], 0);
  assert.match(st.stdout, /param params\.yaml:a\.n changed/);
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['a']); // same mid.txt bytes: b is cut off
  assert.equal(p.lock().stages.a.params!['params.yaml']['a.n'], 5);
});

test('YAML reformatting, comments, key order and desc never trigger a run', async () => {
  const p = chain();
  await p.ok(['run']);
  p.calls();
  const lock = p.lockText();
  p.write(
    'pipeline.yaml',
    `# a comment
stages:
  a:
    desc: copies the input   # new description
    outs:
      - mid.txt
    params:
      - a.n
    deps:
      - in.txt
    cmd: ${record} && cat in.txt > mid.txt
  b: {cmd: '${record} && cat mid.txt > out.txt', deps: [mid.txt], outs: [out.txt]}
`,
  );
  p.write('params.yaml', '# params\nb: {k: 2}\na: {unused: x, n: 1}\n');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), []);
  assert.equal(p.lockText(), lock);
});

test('a deleted or hand-edited out re-runs the stage (run-cache off)', async () => {
  const p = chain();
  await p.ok(['run']);
  p.calls();
  p.remove('out.txt');
  let st = await p.ok(['status', '--check'], 3);
  assert.match(st.stdout, /out out\.txt missing/);
  await p.ok(['run', '--no-run-cache']);
  assert.deepEqual(p.calls(), ['b']);
  p.write('mid.txt', 'edited by hand\n');
  st = await p.ok(['status', '--json']);
  const status = JSON.parse(st.stdout) as { name: string; state: string; reasons: string[] }[];
  assert.deepEqual(status.find((s) => s.name === 'a')!.reasons, ['out mid.txt modified']);
  await p.ok(['run', '--no-run-cache']);
  assert.deepEqual(p.calls(), ['a']);
  assert.equal(p.read('mid.txt'), 'hello\n');
});

test('cmd change and a changed set of deps re-run the stage', async () => {
  const p = chain();
  await p.ok(['run']);
  p.calls();
  p.write('extra.txt', 'x');
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace('deps: [mid.txt]', 'deps: [mid.txt, extra.txt]'));
  const st = await p.ok(['status']);
  assert.match(st.stdout, /dep extra\.txt added/);
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['b']);
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace('cat mid.txt > out.txt', 'cat mid.txt extra.txt > out.txt'));
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['b']);
  assert.equal(p.read('out.txt'), 'hello\nx');
});

test('directory outs and deps are hashed by manifest, with file count and size', async () => {
  const p = new TestProject({
    'src/one.txt': '1',
    'src/sub/two.txt': '22',
    'pipeline.yaml': `stages:
  copy:
    cmd: ${record} && mkdir -p out && cp -r src/. out/
    deps: [src]
    outs: [out]
`,
  });
  projects.push(p);
  await p.ok(['run']);
  const out = p.lock().stages.copy.outs![0];
  assert.match(out.hash, /^md5:[0-9a-f]{32}\.dir$/);
  assert.equal(out.files, 2);
  assert.equal(out.size, 3);
  p.calls();
  p.write('src/sub/two.txt', '33');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['copy']);
  assert.notEqual(p.lock().stages.copy.outs![0].hash, out.hash);
});

test('the lock keeps pipeline order and drops entries of stages that left the pipeline', async () => {
  const p = chain();
  await p.ok(['run']);
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace('  b:\n', '  b2:\n'));
  await p.ok(['run']);
  assert.deepEqual(Object.keys(p.lock().stages), ['a', 'b2']);
});

test('a dep rewritten in place with the same size right after a run is seen as changed', async () => {
  const p = chain();
  await p.ok(['run']);
  p.calls();
  // Same length and same inode (written in place): only the content and mtime differ.
  p.write('in.txt', 'HELLO\n');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['a', 'b']);
  assert.equal(p.read('out.txt'), 'HELLO\n');
});
