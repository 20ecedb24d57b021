/**
 * DVC parity, running: multi-line commands stop at the first failing line, callback stages,
 * frozen stages cut the graph above them, and --force-downstream.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

function project(files: Record<string, string>): TestProject {
  const p = new TestProject(files);
  projects.push(p);
  return p;
}

test('a multi-line cmd stops at its first failing line: stage failed, lock entry untouched, outs not kept', async () => {
  const p = project({
    'in.txt': 'x\n',
    'pipeline.yaml': `stages:
  s:
    cmd: |
      echo a > a
      \${FAIL}
      echo b > b
    deps: [in.txt]
    outs: [a, b]
`,
    'params.yaml': 'FAIL: "true"\n',
  });
  await p.ok(['run']);
  const lockBefore = p.lockText();
  assert.match(lockBefore, /path: b/);
  p.write('params.yaml', 'FAIL: "false"\n');
  const r = await p.ok(['run'], 1);
  assert.match(r.stderr, /stage `s` failed: `false` exited with code 1/);
  assert.equal(p.exists('b'), false, 'the line after the failure did not run');
  assert.equal(p.exists('a'), false, 'outs of a failed stage are removed');
  assert.equal(p.lockText(), lockBefore, 'the lock entry is untouched');
  // The failed outs never reached the cache: restoring the first configuration still works.
  p.write('params.yaml', 'FAIL: "true"\n');
  const back = await p.ok(['run']);
  assert.match(back.stdout, /s: (restored|up to date)/);
});

test('shell constructs spanning lines run as one command; each complete line is its own command', async () => {
  const p = project({
    'pipeline.yaml': `stages:
  s:
    cmd: |
      for i in 1 2; do
        echo "n$i" >> out.txt
      done
      if [ -f out.txt ]; then
        echo yes >> out.txt
      fi
      echo one \\
        two >> out.txt
      cat >> out.txt <<'EOF'
      literal $HOME
      EOF
      echo "a
      b" >> out.txt
      X=1
      echo "x=$X" >> out.txt
      true && ${record}
    outs: [out.txt]
`,
  });
  await p.ok(['run']);
  // X=1 was a command of its own, as in DVC: the next line's shell does not see it.
  assert.equal(p.read('out.txt'), 'n1\nn2\nyes\none two\nliteral $HOME\na\nb\nx=\n');
  assert.deepEqual(p.calls(), ['s']);
  assert.equal(typeof p.lock().stages.s.cmd, 'string', 'the lock keeps cmd as written');
});

test("a failing line inside an if block fails the stage only through the block's own status", async () => {
  const p = project({
    'pipeline.yaml': `stages:
  s:
    cmd: |
      if true; then
        false
      fi
      echo after > after.txt
`,
  });
  const r = await p.ok(['run'], 1);
  assert.match(r.stderr, /exited with code 1/);
  assert.equal(p.exists('after.txt'), false);
  assert.equal(p.lockText(), '');
});

test('a stage with neither deps nor outs (callback) runs on every grow run', async () => {
  const p = project({
    'pipeline.yaml': `stages:
  ping:
    cmd: ${record}
  quiet:
    cmd: ${record} && echo x > x.txt
    outs: [x.txt]
`,
  });
  await p.ok(['run']);
  assert.deepEqual(p.calls().sort(), ['ping', 'quiet']);
  const r = await p.ok(['run']);
  assert.deepEqual(p.calls(), ['ping']);
  assert.match(r.stdout, /ping: done/);
  const st = await p.ok(['status']);
  assert.match(st.stdout, /ping: stale\n\s+callback stage/);
});

test('grow run C with an upstream stage B frozen does not run the stages above B', async () => {
  const p = project({
    'src.txt': '1\n',
    'pipeline.yaml': `stages:
  A:
    cmd: ${record} && cp src.txt a.txt
    deps: [src.txt]
    outs: [a.txt]
  B:
    cmd: ${record} && cp a.txt b.txt
    deps: [a.txt]
    outs: [b.txt]
  C:
    cmd: ${record} && cp b.txt c.txt
    deps: [b.txt]
    outs: [c.txt]
`,
  });
  await p.ok(['run']);
  p.calls();
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace('  B:\n', '  B:\n    frozen: true\n'));
  p.write('src.txt', '2\n');
  const r = await p.ok(['run', 'C']);
  assert.deepEqual(p.calls(), []);
  assert.doesNotMatch(r.stdout, /\bA:/);
  assert.equal(p.read('a.txt'), '1\n');
  // With no targets every stage is selected: A runs, B stays frozen.
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['A']);
});

test('grow status C with an upstream stage B frozen does not look at the stages above B, as grow run C', async () => {
  const p = project({
    'src.txt': '1\n',
    'pipeline.yaml': `stages:
  A:
    cmd: cp src.txt a.txt
    deps: [src.txt]
    outs: [a.txt]
  B:
    cmd: cp a.txt b.txt
    deps: [a.txt]
    outs: [b.txt]
  C:
    cmd: cp b.txt c.txt
    deps: [b.txt]
    outs: [c.txt]
`,
  });
  await p.ok(['run']);
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace('  B:\n', '  B:\n    frozen: true\n'));
  p.write('src.txt', '2\n');
  const st = await p.ok(['status', 'C']);
  assert.doesNotMatch(st.stdout, /\bA:/);
  assert.match(st.stdout, /B: frozen/);
  assert.match(st.stdout, /C: up to date/);
  assert.match(st.stdout, /all 2 stages up to date/);
  await p.ok(['status', 'C', '--check']);
  // With no targets every stage is looked at: A is stale.
  const all = await p.ok(['status']);
  assert.match(all.stdout, /A: stale/);
});

test('--force-downstream runs every stage below one that ran, despite identical outs', async () => {
  const p = project({
    'src.txt': 'same\n',
    'pipeline.yaml': `stages:
  A:
    cmd: ${record} && head -n 1 src.txt > a.txt
    deps: [src.txt]
    outs: [a.txt]
  B:
    cmd: ${record} && cp a.txt b.txt
    deps: [a.txt]
    outs: [b.txt]
  C:
    cmd: ${record} && cp b.txt c.txt
    deps: [b.txt]
    outs: [c.txt]
`,
  });
  await p.ok(['run']);
  p.calls();
  // A re-runs and writes the same a.txt: early cut-off spares B and C …
  p.write('src.txt', 'same\nmore\n');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['A']);
  // … unless --force-downstream: then everything below a stage that ran runs too.
  p.write('src.txt', 'same\nother\n');
  const r = await p.ok(['run', '--force-downstream']);
  assert.deepEqual(p.calls(), ['A', 'B', 'C']);
  assert.match(r.stdout, /C: done/);
  // Nothing ran above: nothing is forced.
  await p.ok(['run', '--force-downstream']);
  assert.deepEqual(p.calls(), []);
});

test('uncached metrics and plots keep a stage restorable from the run-cache, and are restored', async () => {
  const p = project({
    'params.yaml': 'lr: 1\n',
    'pipeline.yaml': `stages:
  train:
    cmd: ${record} && echo "model \${lr}" > model.txt && echo \${lr} > m.json && echo "step,\${lr}" > loss.csv
    params: [lr]
    outs: [model.txt]
    metrics:
      - m.json:
          cache: false
    plots:
      - loss.csv:
          cache: false
  evaluate:
    cmd: ${record} && cat model.txt > eval.json
    deps: [model.txt]
    metrics:
      - eval.json:
          cache: false
`,
  });
  await p.ok(['run']);
  const lockAt1 = p.lockText();
  p.write('params.yaml', 'lr: 2\n');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['train', 'evaluate', 'train', 'evaluate']);
  p.write('params.yaml', 'lr: 1\n');
  const r = await p.ok(['run']);
  assert.deepEqual(p.calls(), [], 'nothing ran: both stages were restored');
  assert.match(r.stdout, /train: restored/);
  assert.match(r.stdout, /evaluate: restored/);
  assert.equal(p.read('m.json'), '1\n');
  assert.equal(p.read('loss.csv'), 'step,1\n');
  assert.equal(p.read('eval.json'), 'model 1\n');
  assert.equal(p.lockText(), lockAt1);
  // Still uncached for checkout: the lock's record is what tells.
  p.remove('m.json');
  const c = await p.grow(['checkout']);
  assert.match(c.stdout + c.stderr, /m\.json/);
});

test('an uncached plain out still makes a stage run again (cache: false on data is about size)', async () => {
  const p = project({
    'params.yaml': 'lr: 1\n',
    'pipeline.yaml': `stages:
  s:
    cmd: ${record} && echo \${lr} > big.bin
    params: [lr]
    outs:
      - big.bin:
          cache: false
`,
  });
  await p.ok(['run']);
  p.write('params.yaml', 'lr: 2\n');
  await p.ok(['run']);
  p.write('params.yaml', 'lr: 1\n');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['s', 's', 's']);
});
