// `grow exp run --sweep --executor slurm`: the points of a grid run their stages as real Slurm jobs,
// also with -P (points after the first in isolated copies of the project that share its cache), and
// each point becomes an experiment with the metrics its jobs wrote.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';
import { jobIdsIn, slurmSkip } from './cluster.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

const FAST = { GROW_SLURM_POLL_MS: '200' };

interface Shown {
  name: string;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

test('a sweep with --executor slurm runs every point as Slurm jobs and records each as an experiment', {
  skip: slurmSkip,
  timeout: 5 * 60_000,
}, async () => {
  const p = new TestProject({
    'params.yaml': 'train:\n  lr: 1\n',
    'train.sh': 'echo "{\\"score\\": $(( $(wc -l < data.txt) * $1 ))}" > score.json\n',
    'pipeline.yaml': `stages:
  prepare:
    cmd: ${record} && seq 3 > data.txt
    outs: [data.txt]
  train:
    cmd: ${record} && sh train.sh \${train.lr}
    deps: [data.txt, train.sh]
    params: [train.lr]
    metrics: [score.json]
`,
  });
  projects.push(p);
  const r = await p.ok(['exp', 'run', '-n', 'grid', '-P', '2', '--executor', 'slurm', '--sweep', 'train.lr=2,5'], 0, FAST);
  assert.match(r.stdout, /grid-1/);
  assert.match(r.stdout, /grid-2/);
  const shown = JSON.parse((await p.ok(['exp', 'show', '--json'])).stdout) as Shown[];
  const score = (name: string) => {
    const e = shown.find((x) => x.name === name);
    assert.ok(e, `experiment ${name} recorded: ${JSON.stringify(shown.map((x) => x.name))}`);
    return JSON.stringify(e.metrics);
  };
  assert.match(score('grid-1'), /"score":6\b/);
  assert.match(score('grid-2'), /"score":15\b/);
  // The point that ran in this workspace ran its stages as Slurm jobs (a job writes its id into the log).
  assert.ok(jobIdsIn(p.path('.grow/logs/train.log')).length >= 1, p.read('.grow/logs/train.log'));
});
