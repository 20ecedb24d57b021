// `grow watch` as a real child process on a real project: the test edits files and waits for the
// lines watch prints (with a generous timeout that fails the test, never a sleep that paces it).
// Stages report through $CTL: each run of stage NAME bumps $CTL/NAME.count and creates
// $CTL/NAME.started.<n> (holding its pid); when $CTL/NAME.hold exists it then waits for
// $CTL/NAME.release.<n>.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { isAlive, removeProject, startGrow, tempProject, waitFor, waitForFile, writeFile, type GrowProcess } from '../reliability/rig.ts';

const STAGE_SH = `name=$1; in=$2; out=$3
n=$(( $(cat "$CTL/$name.count" 2>/dev/null || echo 0) + 1 ))
echo $n > "$CTL/$name.count"
echo $$ > "$CTL/$name.started.tmp" && mv "$CTL/$name.started.tmp" "$CTL/$name.started.$n"
if [ -e "$CTL/$name.hold" ]; then
  while [ ! -e "$CTL/$name.release.$n" ]; do sleep 0.02; done
fi
if [ -e "$CTL/$name.fail" ]; then echo "$name fails on purpose" >&2; exit 1; fi
cat "$in" > "$out"
`;

const PIPELINE = `stages:
  a:
    cmd: sh stage.sh a a.in a.out
    deps: [a.in]
    outs: [a.out]
  b:
    cmd: sh stage.sh b a.out b.out
    deps: [a.out]
    params: [b.level]
    outs: [b.out]
  c:
    cmd: sh stage.sh c c.in c.out
    deps: [c.in]
    params: [c.level]
    outs: [c.out]
`;

const PARAMS = 'b:\n  level: 1\nc:\n  level: 1\nunused: 1\n';

const dirs: string[] = [];
const watches: GrowProcess[] = [];
after(() => {
  for (const w of watches) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  dirs.forEach(removeProject);
});

function setup(pipeline = PIPELINE) {
  const dir = tempProject({ 'pipeline.yaml': pipeline, 'params.yaml': PARAMS, 'stage.sh': STAGE_SH, 'a.in': 'a1\n', 'c.in': 'c1\n' });
  const ctl = mkdtempSync(join(tmpdir(), 'grow-ctl-'));
  dirs.push(dir, ctl);
  const count = (name: string) => (existsSync(join(ctl, `${name}.count`)) ? Number(readFileSync(join(ctl, `${name}.count`), 'utf8')) : 0);
  return { dir, ctl, count };
}

/** Starts watch and returns a helper that waits for the n-th match of a pattern in its stdout. */
function startWatch(dir: string, ctl: string, args: string[] = []) {
  const w = startGrow(dir, ['watch', '--debounce', '100', ...args], { CTL: ctl });
  watches.push(w);
  const matches = (re: RegExp) => w.stdout().match(new RegExp(re.source, 'g'))?.length ?? 0;
  const until = (what: string, re: RegExp, n = 1) =>
    waitFor(`${what} (/${re.source}/ ×${n}) in watch output:\n${w.stdout()}${w.stderr()}`, () => {
      if (w.child.exitCode !== null) throw new Error(`watch exited ${w.child.exitCode}:\n${w.stdout()}${w.stderr()}`);
      return matches(re) >= n;
    });
  return { w, matches, until };
}

async function stop(w: GrowProcess) {
  w.child.kill('SIGINT');
  const { code } = await w.exit;
  assert.equal(code, 130, w.stdout() + w.stderr());
}

test('editing a dep re-runs only the affected chain; an unlisted param runs nothing; a listed one only its stage', async () => {
  const { dir, ctl, count } = setup();
  const { w, until } = startWatch(dir, ctl);
  await until('the first iteration', /watch: watching/);
  assert.deepEqual([count('a'), count('b'), count('c')], [1, 1, 1]);

  writeFile(dir, 'a.in', 'a2\n');
  await until('the dep change iteration', /\[#2\] changed: a\.in → a \(dep a\.in changed\), b \(upstream a\)/);
  await until('the watching line again', /watch: watching/, 2);
  assert.deepEqual([count('a'), count('b'), count('c')], [2, 2, 1]);
  assert.equal(readFileSync(join(dir, 'b.out'), 'utf8'), 'a2\n');

  writeFile(dir, 'params.yaml', PARAMS.replace('unused: 1', 'unused: 2'));
  await until('the unlisted param edit', /changed: params\.yaml → nothing to run/);

  writeFile(dir, 'params.yaml', PARAMS.replace('unused: 1', 'unused: 2').replace('c:\n  level: 1', 'c:\n  level: 2'));
  await until('the listed param edit', /\[#3\] changed: params\.yaml → c \(param params\.yaml:c\.level changed\)/);
  await until('its end', /\[#3\] 1 done/);
  assert.deepEqual([count('a'), count('b'), count('c')], [2, 2, 2]);
  await stop(w);
});

test('a change during a run is queued: one more iteration follows', async () => {
  const { dir, ctl, count } = setup();
  writeFileSync(join(ctl, 'a.hold'), '');
  const { w, until } = startWatch(dir, ctl, ['a']);
  await waitForFile(join(ctl, 'a.started.1'));
  writeFileSync(join(ctl, 'a.release.1'), '');
  await until('the first iteration', /watch: watching/);
  writeFile(dir, 'a.in', 'a2\n');
  await waitForFile(join(ctl, 'a.started.2'));
  writeFile(dir, 'a.in', 'a3\n'); // while run 2 is going
  await until('the queued notice', /changed during the run: a\.in \(queued\)/);
  writeFileSync(join(ctl, 'a.release.2'), '');
  await waitForFile(join(ctl, 'a.started.3'));
  writeFileSync(join(ctl, 'a.release.3'), '');
  await until('the third iteration to end', /\[#3\] 1 done/);
  assert.equal(count('a'), 3);
  assert.equal(readFileSync(join(dir, 'a.out'), 'utf8'), 'a3\n');
  await stop(w);
});

test('an interruptible stage is stopped when its input changes mid-run, and rescheduled', async () => {
  const { dir, ctl, count } = setup(PIPELINE.replace('    outs: [a.out]', '    outs: [a.out]\n    interruptible: true'));
  writeFileSync(join(ctl, 'a.hold'), '');
  const { w, until } = startWatch(dir, ctl, ['a']);
  await waitForFile(join(ctl, 'a.started.1'));
  const firstPid = Number(readFileSync(join(ctl, 'a.started.1'), 'utf8'));
  writeFile(dir, 'a.in', 'a2\n');
  await until('the interruption', /interrupting a \(interruptible; its inputs changed\)/);
  await waitForFile(join(ctl, 'a.started.2'));
  assert.equal(isAlive(firstPid), false, 'the interrupted run is gone');
  writeFileSync(join(ctl, 'a.release.2'), '');
  await until('the rescheduled run', /\[#2\] changed: a\.in → a \(dep a\.in changed, rescheduled after interruption\)/);
  await until('its end', /\[#2\] 1 done/);
  assert.equal(count('a'), 2);
  assert.equal(readFileSync(join(dir, 'a.out'), 'utf8'), 'a2\n');
  await stop(w);
  assert.ok(parse(readFileSync(join(dir, 'pipeline.lock'), 'utf8')).stages.a, 'the lock records the finished run');
});

test('a failed stage is not retried until one of its inputs changes', async () => {
  const { dir, ctl, count } = setup();
  writeFileSync(join(ctl, 'c.fail'), '');
  const { w, until } = startWatch(dir, ctl);
  await until('the first iteration', /watch: watching/);
  assert.equal(count('c'), 1);
  assert.match(w.stdout(), /✖ c: failed/);

  writeFile(dir, 'a.in', 'a2\n'); // unrelated to c
  await until('the unrelated iteration', /\[#2\] 2 done/);
  assert.equal(count('c'), 1, 'c was not retried');

  writeFile(dir, 'c.in', 'c2\n');
  await until('the retry', /\[#3\] changed: c\.in → c \(dep c\.in changed\)/);
  await until('its end', /\[#3\] 1 failed/);
  assert.equal(count('c'), 2);
  await stop(w);
});

test('Ctrl-C during a run: exit 130, no child process left, a consistent lock, the process lock released', async () => {
  const { dir, ctl } = setup();
  writeFileSync(join(ctl, 'b.hold'), '');
  const { w } = startWatch(dir, ctl);
  await waitForFile(join(ctl, 'b.started.1'));
  const pid = Number(readFileSync(join(ctl, 'b.started.1'), 'utf8'));
  await stop(w);
  assert.equal(isAlive(pid), false, 'the running stage was stopped');
  const lock = parse(readFileSync(join(dir, 'pipeline.lock'), 'utf8'));
  assert.ok(lock.stages.a, 'the finished stage is recorded');
  assert.equal(lock.stages.b, undefined, 'the interrupted one is not');
  assert.equal(existsSync(join(dir, '.grow/runner.lock')), false);
});

test('watch holds the process lock: a grow run meanwhile is refused', async () => {
  const { dir, ctl } = setup();
  const { w, until } = startWatch(dir, ctl);
  await until('the first iteration', /watch: watching/);
  const { runGrow } = await import('../reliability/rig.ts');
  const r = await runGrow(dir, ['run'], { CTL: ctl });
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /grow watch/);
  await stop(w);
});

test('editing pipeline.yaml re-runs the stages whose definition changed; a broken edit is reported and waited out', async () => {
  const { dir, ctl, count } = setup();
  const { w, until } = startWatch(dir, ctl);
  await until('the first iteration', /watch: watching/);

  writeFile(dir, 'pipeline.yaml', PIPELINE.replace('    deps: [c.in]\n', '    deps: [c.in]\n    desc: a description changes nothing\n'));
  await until('the desc-only edit', /changed: pipeline\.yaml → nothing to run/);

  writeFile(dir, 'pipeline.yaml', PIPELINE.replace('    deps: [c.in]\n', '    deps: [c.in]\n    outz: [oops]\n'));
  await until('the error', /watch: pipeline\.yaml:\d+:\d+: unknown field "outz"/);
  await until('the wait', /waiting for a fix/);
  writeFile(dir, 'a.in', 'a2\n'); // a change while the pipeline does not load is not forgotten
  await until('the second error', /waiting for a fix/, 2);

  writeFile(dir, 'pipeline.yaml', PIPELINE.replace('sh stage.sh c c.in c.out', 'sh stage.sh c c.in c.out && echo v2 >> c.out'));
  await until(
    'the fixed edit',
    /\[#2\] changed: a\.in, pipeline\.yaml → a \(dep a\.in changed\), b \(upstream a\), c \(stage definition changed in pipeline\.yaml\)/,
  );
  await until('its end', /\[#2\] 3 done/);
  assert.deepEqual([count('a'), count('b'), count('c')], [2, 2, 2]);
  assert.equal(readFileSync(join(dir, 'c.out'), 'utf8'), 'c1\nv2\n');
  await stop(w);
});

test('a dep that does not exist yet: reported once, and the stage runs when it appears', async () => {
  const { dir, ctl, count } = setup();
  removeProject(join(dir, 'c.in'));
  const { w, until, matches } = startWatch(dir, ctl, ['c']);
  await until('the first iteration', /watch: watching/);
  assert.match(w.stdout(), /dep `c\.in` does not exist and no stage produces it/);
  assert.equal(count('c'), 0);
  writeFile(dir, 'c.in', 'c9\n');
  await until('the run once it exists', /\[#2\] 1 done/);
  assert.equal(matches(/\] start/), 1, 'the start iteration ran once');
  assert.equal(readFileSync(join(dir, 'c.out'), 'utf8'), 'c9\n');
  await stop(w);
});

test('only the interruptible stage is stopped and rescheduled; a non-interruptible one running alongside finishes', async () => {
  const { dir, ctl, count } = setup(PIPELINE.replace('    outs: [a.out]', '    outs: [a.out]\n    interruptible: true'));
  writeFileSync(join(ctl, 'a.hold'), '');
  writeFileSync(join(ctl, 'c.hold'), '');
  const { w, until } = startWatch(dir, ctl, ['a', 'c', '-j', '2']);
  await waitForFile(join(ctl, 'a.started.1'));
  await waitForFile(join(ctl, 'c.started.1'));
  const aPid = Number(readFileSync(join(ctl, 'a.started.1'), 'utf8'));
  const cPid = Number(readFileSync(join(ctl, 'c.started.1'), 'utf8'));
  writeFile(dir, 'a.in', 'a2\n');
  await until('the interruption of a alone', /interrupting a \(interruptible; its inputs changed\)/);
  await waitFor('the interrupted stage a to be gone', () => !isAlive(aPid));
  assert.equal(isAlive(cPid), true, 'the non-interruptible stage c keeps running');
  writeFileSync(join(ctl, 'c.release.1'), '');
  await until('the first iteration to end', /\[#1\] 1 cancelled, 1 done/);
  await waitForFile(join(ctl, 'a.started.2'));
  writeFileSync(join(ctl, 'a.release.2'), '');
  await until('the rescheduled run', /\[#2\] changed: a\.in → a \(dep a\.in changed, rescheduled after interruption\)/);
  await until('its end', /\[#2\] 1 done/);
  assert.deepEqual([count('a'), count('c')], [2, 1]);
  assert.equal(readFileSync(join(dir, 'a.out'), 'utf8'), 'a2\n');
  assert.equal(readFileSync(join(dir, 'c.out'), 'utf8'), 'c1\n');
  await stop(w);
  const lock = parse(readFileSync(join(dir, 'pipeline.lock'), 'utf8'));
  assert.ok(lock.stages.a && lock.stages.c);
});

test('a failed stage downstream of an upstream re-run with byte-identical outs is not retried', async () => {
  // up copies up.in; note.in is a dep that does not change its out (early cut-off for down).
  const { dir, ctl, count } = setup(`stages:
  up:
    cmd: sh stage.sh up up.in up.out
    deps: [up.in, note.in]
    outs: [up.out]
  down:
    cmd: sh stage.sh down up.out down.out
    deps: [up.out]
    outs: [down.out]
`);
  writeFile(dir, 'up.in', 'u1\n');
  writeFile(dir, 'note.in', 'n1\n');
  writeFileSync(join(ctl, 'down.fail'), '');
  const { w, until } = startWatch(dir, ctl);
  await until('the first iteration', /watch: watching/);
  assert.deepEqual([count('up'), count('down')], [1, 1]);

  writeFile(dir, 'note.in', 'n2\n'); // up re-runs, up.out comes out identical
  await until('the iteration for note.in', /\[#2\] 1 done, 1 skipped/);
  assert.match(w.stdout(), /down: skipped \(failed before with these same inputs; not retried until one of them changes\)/);
  assert.deepEqual([count('up'), count('down')], [2, 1], 'down was not retried');

  writeFile(dir, 'up.in', 'u2\n'); // now up.out really changes: down is retried
  await until('the iteration for up.in', /\[#3\] 1 done, 1 failed/);
  assert.deepEqual([count('up'), count('down')], [3, 2]);
  await stop(w);
});
