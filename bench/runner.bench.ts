/**
 * Runner benchmarks (`npm run bench:runner`): one JSON line per measurement
 *   {"name", "value", "unit", "peer"?, "peer_value"?}
 * where a peer (md5sum, a shell loop) is measured in the same run, on the same machine state.
 *
 *  1. no-op `grow status` / `grow run` on 100 stages whose outs total 2 GB in 10,000 files:
 *     wall time and peak RSS (targets < 0.5 s, < 150 MB): nothing may be re-read.
 *  2. hashing a 1 GB file with store/hash.ts vs `md5sum` (target ≥ 80% of its throughput).
 *  3. 100 trivial stages (`true`) end to end vs a shell loop running `sh -c true` 100 times:
 *     runner overhead per stage (target ≤ 15 ms).
 *  4. `snake`: the same 100-stage pipeline (10,000 files, 2 GB) run by grow and by Snakemake, in
 *     the same run, alternating: cold run, no-op, one input changed (15 stages re-run), one param
 *     changed (15 stages re-run). Targets: re-run ≤ 1.2× Snakemake, cold ≤ 2×, no-op ≤ ⅓.
 *  5. `scale`: no-op, status and a 1-stage re-run at 100 / 1,000 stages and 10,000 / 100,000 files.
 *
 * Everything is generated under os.tmpdir() and removed at the end. Set BENCH_SMALL=1 for a quick
 * smoke run (1/20 of the data). Uses the compiled CLI (run `npm run build` first).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, writeSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import * as os from 'node:os';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { md5OfFile } from '../src/pipeline/store/hash.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
// GROW_BIN: another build's CLI (a baseline checkout), to compare two builds in the same run.
const GROW = process.env.GROW_BIN ?? join(REPO, 'bin', 'grow.js');
const SMALL = process.env.BENCH_SMALL === '1';
const scale = SMALL ? 20 : 1;

function emit(name: string, value: number, unit: string, peer?: string, peerValue?: number): void {
  const line: Record<string, unknown> = { name, value: Number(value.toPrecision(4)), unit };
  if (peer) {
    line.peer = peer;
    line.peer_value = Number(peerValue!.toPrecision(4));
  }
  console.log(JSON.stringify(line));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Wall seconds, CPU seconds (user + sys) and peak RSS (MB) of a command, via GNU time. CPU time is
 * reported too because wall time on a shared, oversubscribed machine mostly measures the others.
 */
function measure(cmd: string[], cwd: string): { wall: number; cpu: number; rssMb: number; code: number | null; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '__RSS_KB=%M __CPU=%U+%S', ...cmd], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, CI: '1' },
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const m = /__RSS_KB=(\d+) __CPU=([\d.]+)\+([\d.]+)/.exec(r.stderr);
  return { wall, cpu: m ? Number(m[2]) + Number(m[3]) : NaN, rssMb: m ? Number(m[1]) / 1024 : NaN, code: r.status, stderr: r.stderr };
}

function grow(args: string[], cwd: string) {
  const r = measure([process.execPath, GROW, ...args], cwd);
  if (r.code !== 0) throw new Error(`grow ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

function noopBench(base: string): void {
  const dir = join(base, 'noop');
  mkdirSync(dir);
  const stages = 100;
  const filesPerStage = 100;
  const fileBytes = Math.floor((2 * 1024 ** 3) / (stages * filesPerStage) / scale); // 2 GB in total
  // Each stage writes its own directory of random files; every 10th also reads the previous one.
  writeFileSync(
    join(dir, 'gen.mjs'),
    `
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
const [out, n, size] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
mkdirSync(out, { recursive: true });
const buf = Buffer.alloc(size);
for (let i = 0; i < n; i++) writeFileSync(out + '/f' + i + '.bin', randomFillSync(buf));
`,
  );
  let yaml = 'stages:\n';
  for (let i = 0; i < stages; i++) {
    yaml += `  s${i}:\n    cmd: node gen.mjs data/s${i} ${filesPerStage} ${fileBytes}\n    deps: [gen.mjs${i % 10 === 9 ? `, data/s${i - 1}` : ''}]\n    outs: [data/s${i}]\n`;
  }
  writeFileSync(join(dir, 'pipeline.yaml'), yaml);
  const first = grow(['run', '-q'], dir);
  emit('noop.populate_run_wall', first.wall, 's');
  // Files hashed within 100 ms of being written are "racily clean" and not yet remembered by the
  // hash state (see store/hash-state.ts); one status records them, as any later command would.
  grow(['status'], dir);
  const status: { wall: number; cpu: number; rssMb: number }[] = [];
  const run: { wall: number; cpu: number; rssMb: number }[] = [];
  for (let i = 0; i < 5; i++) {
    status.push(grow(['status'], dir));
    run.push(grow(['run', '-q'], dir));
  }
  const totalGb = (stages * filesPerStage * fileBytes) / 1024 ** 3;
  emit('noop.outs_total', totalGb, 'GB');
  emit('noop.outs_files', stages * filesPerStage, 'files');
  emit('noop.status_wall', median(status.map((s) => s.wall)), 's');
  emit('noop.status_cpu', median(status.map((s) => s.cpu)), 's');
  emit('noop.status_peak_rss', Math.max(...status.map((s) => s.rssMb)), 'MB');
  emit('noop.run_wall', median(run.map((s) => s.wall)), 's');
  emit('noop.run_cpu', median(run.map((s) => s.cpu)), 's');
  emit('noop.run_peak_rss', Math.max(...run.map((s) => s.rssMb)), 'MB');
  rmSync(dir, { recursive: true, force: true });
}

async function hashBench(base: string): Promise<void> {
  const file = join(base, 'big.bin');
  const bytes = Math.floor(1024 ** 3 / scale);
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024 ** 2);
  for (let written = 0; written < bytes; written += chunk.length)
    writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.length, bytes - written));
  closeSync(fd);
  execFileSync('cat', [file], { stdio: ['ignore', 'ignore', 'ignore'] }); // warm the page cache for both
  const ours: number[] = [];
  const peer: number[] = [];
  for (let i = 0; i < 3; i++) {
    let t0 = process.hrtime.bigint();
    const a = await md5OfFile(file);
    ours.push(Number(process.hrtime.bigint() - t0) / 1e9);
    t0 = process.hrtime.bigint();
    const b = execFileSync('md5sum', [file], { encoding: 'utf8' }).split(' ')[0];
    peer.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (a !== b) throw new Error(`md5 mismatch: ${a} vs md5sum ${b}`);
  }
  const mb = bytes / 1024 ** 2;
  const oursMbs = mb / Math.min(...ours);
  const peerMbs = mb / Math.min(...peer);
  emit('hash.md5_1GB_throughput', oursMbs, 'MB/s', 'md5sum', peerMbs);
  emit('hash.md5_ratio_vs_md5sum', (oursMbs / peerMbs) * 100, '%');
  rmSync(file, { force: true });
}

function overheadBench(base: string): void {
  const dir = join(base, 'trivial');
  mkdirSync(dir);
  const n = 100;
  let yaml = 'stages:\n';
  for (let i = 0; i < n; i++) yaml += `  t${i}:\n    cmd: "true"\n`;
  writeFileSync(join(dir, 'pipeline.yaml'), yaml);
  const growWalls: number[] = [];
  const growCpus: number[] = [];
  const loopWalls: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    rmSync(join(dir, 'pipeline.lock'), { force: true });
    rmSync(join(dir, '.grow'), { recursive: true, force: true });
    const g = grow(['run', '-q', '-j', '1'], dir);
    growWalls.push(g.wall);
    growCpus.push(g.cpu);
    const loop = measure(['sh', '-c', `i=0; while [ $i -lt ${n} ]; do sh -c true; i=$((i+1)); done`], dir);
    loopWalls.push(loop.wall);
  }
  const g = median(growWalls);
  const l = median(loopWalls);
  emit('trivial.100_stages_wall_j1', g, 's', 'sh loop', l);
  emit('trivial.overhead_per_stage', ((g - l) / n) * 1000, 'ms');
  emit('trivial.cpu_per_stage_incl_child_sh', (median(growCpus) / n) * 1000, 'ms');
  rmSync(dir, { recursive: true, force: true });
}

const loadavg = () => os.loadavg()[0].toFixed(1);

/**
 * Snakemake beside grow on one pipeline: 100 stages in groups of 15 chained stages (the first of
 * each group reads `in/g<k>.txt` and param `g<k>`), each writing 100 random files (2 GB in all).
 * Both tools get their own copy of the project and the same number of cores; measurements
 * alternate between them so that the others' load on a shared machine hits both alike.
 */
function snakeBench(base: string): void {
  const snakemake = spawnSync('snakemake', ['--version'], { encoding: 'utf8' });
  if (snakemake.status !== 0) {
    console.error('snakemake is not installed: skipping the side-by-side benchmark');
    return;
  }
  const stages = 100;
  const group = 15;
  const filesPerStage = 100;
  const fileBytes = Math.floor((2 * 1024 ** 3) / (stages * filesPerStage) / scale);
  const reps = Number(process.env.BENCH_REPS ?? 3);
  const gen = `
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
const [out, n, size] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
mkdirSync(out, { recursive: true });
const buf = Buffer.alloc(size);
for (let i = 0; i < n; i++) writeFileSync(out + '/f' + i + '.bin', randomFillSync(buf));
`;
  const groups = Math.ceil(stages / group);
  const depOf = (i: number) => (i % group === 0 ? `in/g${i / group}.txt` : `data/s${i - 1}`);
  let yaml = 'stages:\n';
  let snake = 'configfile: "params.yaml"\n\nrule all:\n    input: [f"data/s{i}" for i in range(' + stages + ')]\n\n';
  for (let i = 0; i < stages; i++) {
    const cmd = `node gen.mjs data/s${i} ${filesPerStage} ${fileBytes}`;
    const param = i % group === 0 ? `g${i / group}` : undefined;
    yaml += `  s${i}:\n    cmd: ${cmd}\n    deps: [gen.mjs, ${depOf(i)}]\n${param ? `    params: [${param}]\n` : ''}    outs: [data/s${i}]\n`;
    snake += `rule s${i}:\n    input: "gen.mjs", "${depOf(i)}"\n    output: directory("data/s${i}")\n${param ? `    params: v=config["${param}"]\n` : ''}    shell: "${cmd}"\n\n`;
  }
  const dirs = { grow: join(base, 'snake-grow'), snake: join(base, 'snake-snake') };
  for (const d of Object.values(dirs)) {
    mkdirSync(join(d, 'in'), { recursive: true });
    writeFileSync(join(d, 'gen.mjs'), gen);
    for (let g = 0; g < groups; g++) writeFileSync(join(d, 'in', `g${g}.txt`), 'v0\n');
    writeFileSync(join(d, 'params.yaml'), Array.from({ length: groups }, (_, g) => `g${g}: 0\n`).join(''));
  }
  writeFileSync(join(dirs.grow, 'pipeline.yaml'), yaml);
  writeFileSync(join(dirs.snake, 'Snakefile'), snake);
  const cores = String(availableParallelism());
  const runGrow = () => grow(['run', '-q', '-j', cores], dirs.grow);
  const runSnake = () => {
    const r = measure(['snakemake', '--cores', cores, '--quiet'], dirs.snake);
    if (r.code !== 0) throw new Error(`snakemake exited ${r.code}: ${r.stderr}`);
    return r;
  };
  type M = { wall: number; cpu: number; rssMb: number };
  const results: Record<string, { grow: M[]; snake: M[] }> = {};
  const both = (name: string, prepare: (tool: 'grow' | 'snake') => void) => {
    const r = (results[name] ??= { grow: [], snake: [] });
    for (let rep = 0; rep < reps; rep++) {
      // Alternate who goes first: a burst of load from the others then hits both alike.
      const order: ('grow' | 'snake')[] = rep % 2 === 0 ? ['grow', 'snake'] : ['snake', 'grow'];
      for (const tool of order) {
        prepare(tool);
        r[tool].push(tool === 'grow' ? runGrow() : runSnake());
      }
    }
  };
  const clean = (tool: 'grow' | 'snake') => {
    const d = dirs[tool];
    for (const p of ['data', '.grow', 'pipeline.lock', '.snakemake']) rmSync(join(d, p), { recursive: true, force: true });
  };
  console.error(`# snake: load average ${loadavg()} at the start`);
  both('cold', clean);
  // Let the hash state remember the files (racily clean ones are re-hashed once, see state.ts).
  grow(['status'], dirs.grow);
  both('noop', () => {});
  let v = 0;
  both('rerun_input', () => {
    v++;
    for (const d of Object.values(dirs)) writeFileSync(join(d, 'in', 'g0.txt'), `v${v}\n`);
  });
  grow(['status'], dirs.grow);
  both('rerun_param', () => {
    v++;
    for (const d of Object.values(dirs))
      writeFileSync(join(d, 'params.yaml'), Array.from({ length: groups }, (_, g) => `g${g}: ${g === 0 ? v : 0}\n`).join(''));
  });
  console.error(`# snake: load average ${loadavg()} at the end`);
  emit('snake.outs_files', stages * filesPerStage, 'files');
  emit('snake.outs_total', (stages * filesPerStage * fileBytes) / 1024 ** 3, 'GB');
  for (const [name, r] of Object.entries(results)) {
    const g = median(r.grow.map((m) => m.wall));
    const s = median(r.snake.map((m) => m.wall));
    emit(`snake.${name}_wall`, g, 's', 'snakemake', s);
    emit(`snake.${name}_ratio`, g / s, 'x');
    emit(`snake.${name}_cpu`, median(r.grow.map((m) => m.cpu)), 's', 'snakemake', median(r.snake.map((m) => m.cpu)));
    emit(`snake.${name}_peak_rss`, Math.max(...r.grow.map((m) => m.rssMb)), 'MB', 'snakemake', Math.max(...r.snake.map((m) => m.rssMb)));
  }
  for (const d of Object.values(dirs)) rmSync(d, { recursive: true, force: true });
}

/**
 * How the cost grows: `stages` stages whose outs hold `files` files in all (1 KB each, copied by
 * `cp -r` from a seed so that populating is cheap), then no-op run, status and a 1-stage re-run.
 */
function scaleCase(base: string, stages: number, files: number): void {
  const dir = join(base, `scale-${stages}-${files}`);
  const per = Math.max(1, Math.floor(files / stages));
  mkdirSync(join(dir, 'seed'), { recursive: true });
  let yaml = 'stages:\n';
  const buf = Buffer.alloc(1024);
  for (let i = 0; i < stages; i++) {
    const seed = join(dir, 'seed', `s${i}`);
    mkdirSync(seed);
    for (let f = 0; f < per; f++) writeFileSync(join(seed, `f${f}.bin`), randomFillSync(buf));
    writeFileSync(join(dir, 'seed', `s${i}.txt`), 'v0\n');
    yaml += `  s${i}:\n    cmd: cp -r seed/s${i} data/s${i}\n    deps: [seed/s${i}.txt]\n    outs: [data/s${i}]\n`;
  }
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'pipeline.yaml'), yaml);
  const first = grow(['run', '-q'], dir);
  grow(['status'], dir);
  const noop: { wall: number; cpu: number; rssMb: number }[] = [];
  const status: typeof noop = [];
  const one: typeof noop = [];
  for (let rep = 0; rep < 3; rep++) {
    noop.push(grow(['run', '-q'], dir));
    status.push(grow(['status'], dir));
    writeFileSync(join(dir, 'seed', `s${rep}.txt`), `v${rep + 1}\n`);
    one.push(grow(['run', '-q'], dir));
    grow(['status'], dir);
  }
  const tag = `scale.${stages}st_${stages * per}files`;
  emit(`${tag}.cold_run_wall`, first.wall, 's');
  emit(`${tag}.noop_run_wall`, median(noop.map((m) => m.wall)), 's');
  emit(`${tag}.noop_run_cpu`, median(noop.map((m) => m.cpu)), 's');
  emit(`${tag}.noop_run_peak_rss`, Math.max(...noop.map((m) => m.rssMb)), 'MB');
  emit(`${tag}.status_wall`, median(status.map((m) => m.wall)), 's');
  emit(`${tag}.status_cpu`, median(status.map((m) => m.cpu)), 's');
  emit(`${tag}.rerun_1_stage_wall`, median(one.map((m) => m.wall)), 's');
  rmSync(dir, { recursive: true, force: true });
}

function scaleBench(base: string): void {
  console.error(`# scale: load average ${loadavg()} at the start`);
  for (const [stages, files] of [
    [100, 10_000],
    [1000, 10_000],
    [100, 100_000],
    [1000, 100_000],
  ])
    scaleCase(base, stages, files / (SMALL ? 10 : 1));
  console.error(`# scale: load average ${loadavg()} at the end`);
}

const base = mkdtempSync(join(tmpdir(), 'grow-bench-'));
try {
  if (!existsSync(join(REPO, 'dist', 'src', 'pipeline', 'cli.js'))) throw new Error('run `npm run build` first');
  const only = process.argv[2];
  if (!only || only === 'trivial') overheadBench(base);
  if (!only || only === 'hash') await hashBench(base);
  if (!only || only === 'noop') noopBench(base);
  if (!only || only === 'snake') snakeBench(base);
  if (!only || only === 'scale') scaleBench(base);
} finally {
  rmSync(base, { recursive: true, force: true });
}
