/**
 * Runner benchmarks (`npm run bench:runner`): one JSON line per measurement
 *   {"name", "value", "unit", "peer"?, "peer_value"?}
 * where a peer (md5sum, a shell loop) is measured in the same run, on the same machine state.
 *
 *  1. no-op `grow status` / `grow run` on 100 stages whose outs total 2 GB in 10,000 files:
 *     wall time and peak RSS (targets < 0.5 s, < 150 MB): nothing may be re-read.
 *  2. hashing a 1 GB file with hash.ts vs `md5sum` (target ≥ 80% of its throughput).
 *  3. 100 trivial stages (`true`) end to end vs a shell loop running `sh -c true` 100 times:
 *     runner overhead per stage (target ≤ 15 ms).
 *
 * Everything is generated under os.tmpdir() and removed at the end. Set BENCH_SMALL=1 for a quick
 * smoke run (1/20 of the data). Uses the compiled CLI (run `npm run build` first).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, writeSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { md5OfFile } from '../src/pipeline/hash.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const GROW = join(REPO, 'bin', 'grow.js');
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
  const r = spawnSync('/usr/bin/time', ['-f', '__RSS_KB=%M __CPU=%U+%S', ...cmd], { cwd, encoding: 'utf8', env: { ...process.env, CI: '1' } });
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
  writeFileSync(join(dir, 'gen.mjs'), `
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
const [out, n, size] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
mkdirSync(out, { recursive: true });
const buf = Buffer.alloc(size);
for (let i = 0; i < n; i++) writeFileSync(out + '/f' + i + '.bin', randomFillSync(buf));
`);
  let yaml = 'stages:\n';
  for (let i = 0; i < stages; i++) {
    yaml += `  s${i}:\n    cmd: node gen.mjs data/s${i} ${filesPerStage} ${fileBytes}\n    deps: [gen.mjs${i % 10 === 9 ? `, data/s${i - 1}` : ''}]\n    outs: [data/s${i}]\n`;
  }
  writeFileSync(join(dir, 'pipeline.yaml'), yaml);
  const first = grow(['run', '-q'], dir);
  emit('noop.populate_run_wall', first.wall, 's');
  // Files hashed within 100 ms of being written are "racily clean" and not yet remembered by the
  // hash state (see state.ts); one status records them, as any later command would.
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
  for (let written = 0; written < bytes; written += chunk.length) writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.length, bytes - written));
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

const base = mkdtempSync(join(tmpdir(), 'grow-bench-'));
try {
  if (!existsSync(join(REPO, 'dist', 'src', 'pipeline', 'cli.js'))) throw new Error('run `npm run build` first');
  const only = process.argv[2];
  if (!only || only === 'trivial') overheadBench(base);
  if (!only || only === 'hash') await hashBench(base);
  if (!only || only === 'noop') noopBench(base);
} finally {
  rmSync(base, { recursive: true, force: true });
}
