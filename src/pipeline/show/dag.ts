/**
 * `grow dag`: the stage graph as ASCII (each stage and the stages that consume its outs), as a
 * Mermaid flowchart, or as Graphviz dot.
 */
import type { Project } from '../project/project.ts';

export type DagFormat = 'ascii' | 'mermaid' | 'dot';

export function renderDag(project: Project, format: DagFormat = 'ascii'): string {
  const order = project.graph.topoOrder();
  const edges = order.flatMap((from) => project.graph.downstream(from).map((to) => [from, to] as const));
  if (format === 'mermaid') {
    const id = new Map(order.map((n, i) => [n, `s${i}`]));
    return [
      'flowchart TD',
      ...order.map((n) => `  ${id.get(n)}["${n.replace(/"/g, '#quot;')}"]`),
      ...edges.map(([a, b]) => `  ${id.get(a)} --> ${id.get(b)}`),
    ].join('\n');
  }
  if (format === 'dot') {
    const q = (s: string) => JSON.stringify(s);
    return [
      'digraph pipeline {',
      '  rankdir=TB;',
      ...order.map((n) => `  ${q(n)};`),
      ...edges.map(([a, b]) => `  ${q(a)} -> ${q(b)};`),
      '}',
    ].join('\n');
  }
  const lines: string[] = [];
  for (const n of order) {
    const ups = project.graph.upstream(n);
    const down = project.graph.downstream(n);
    lines.push(`${n}${ups.length === 0 ? '  (source)' : ''}`);
    down.forEach((d, i) => lines.push(`  ${i === down.length - 1 ? '└─>' : '├─>'} ${d}`));
  }
  return lines.join('\n');
}
