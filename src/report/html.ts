/**
 * index.html: one self-contained page (inline CSS, charts as inline SVG, no script, no external
 * URL) so it opens offline, from a file, in any browser, and can be mailed as is.
 */
import type { Chart } from './charts.ts';
import type { ReportInput } from './data.ts';
import { type Table, comparisonTable, equalFlopsTable, headlines, methodTable, profileTable } from './table.ts';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function htmlTable(t: Table, id: string): string {
  const groupRow =
    t.groups.length > 1
      ? `<tr>${t.groups.map(([g, span]) => `<th colspan="${span}" class="group">${escapeHtml(g)}</th>`).join('')}</tr>`
      : '';
  const head = `<tr>${t.header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map(
    (r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${escapeHtml(c)}</th>` : `<td>${escapeHtml(c)}</td>`)).join('')}</tr>`,
  );
  return `<table id="${id}"><thead>${groupRow}${head}</thead><tbody>${body.join('\n')}</tbody></table>`;
}

/** vega's SVG may carry an XML prolog or links to external stylesheets: neither belongs inline. */
function inlineSvg(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, '');
}

const css = `
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5rem 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: right; white-space: nowrap; }
th[scope=row], thead th:first-child { text-align: left; }
th.group { text-align: center; border-bottom: 1px solid #999; }
thead th { background: #f6f6f6; }
figure { margin: 1rem 0; } figcaption { font-size: 13px; color: #555; }
/* Charts scale down with the page; below 700 px the narrow rendering (legend below) replaces the wide one. */
figure.chart svg { max-width: 100%; height: auto; }
figure.chart .narrow { display: none; }
@media (max-width: 700px) { figure.chart .wide { display: none; } figure.chart .narrow { display: block; } body { margin: 1rem auto; } .facts dt { float: none; width: auto; } .facts dd { margin-left: 1rem; } }
.facts { color: #555; font-size: 14px; } .facts dt { font-weight: 600; float: left; clear: left; width: 11rem; }
.facts dd { margin-left: 11.5rem; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
.banner { background: #fff3cd; border: 2px solid #c0392b; padding: 0.5rem 1rem; font-weight: 600; }
`;

export function renderHtml(input: ReportInput, charts: Chart[]): string {
  const facts = Object.entries(input.facts)
    .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`)
    .join('');
  const heads =
    headlines(input)
      .map((h) => `<li>${escapeHtml(h)}</li>`)
      .join('') || '<li>no grown model in this run</li>';
  const figures = charts
    .map(
      (c) =>
        `<figure id="chart-${c.name}" class="chart"><div class="wide">${inlineSvg(c.svg)}</div><div class="narrow">${inlineSvg(c.narrowSvg)}</div><figcaption>${escapeHtml(c.title)}</figcaption></figure>`,
    )
    .join('\n');
  const sections = [
    `<h1>${escapeHtml(input.title)}</h1>`,
    ...(input.banner ? [`<div id="banner" class="banner">${input.banner.map((b) => `<p>${escapeHtml(b)}</p>`).join('')}</div>`] : []),
    `<dl class="facts">${facts}</dl>`,
    `<h2>Headline</h2><ul id="headline">${heads}</ul>`,
    `<h2>Models</h2><p>Loss: mean next-token cross-entropy (nats) on each dataset's held-out test split; ppl = exp(loss); acc = next-token accuracy. Saving = 1 − FLOPs M1 needed to reach M0's final validation loss / M0's FLOPs; "incl. small" also charges M1 for the small models and the growth operator.</p>`,
    `<div class="scroll">${htmlTable(comparisonTable(input), 'models')}</div>`,
  ];
  if (input.savings.length > 0) {
    sections.push(
      '<h2>Validation loss at equal compute</h2>',
      "<p>M0's validation loss interpolated at the FLOPs M1 spent (refine only, and with the small models' and operator's cost added), beside M1's final validation loss. “–”: M0 never trained that long.</p>",
      `<div class="scroll">${htmlTable(equalFlopsTable(input), 'equal-flops')}</div>`,
    );
  }
  if (input.byMethod.length > 0)
    sections.push('<h2>Growth methods over seeds</h2>', `<div class="scroll">${htmlTable(methodTable(input), 'methods')}</div>`);
  sections.push('<h2>Charts</h2>', figures);
  if (input.profile.length > 0) sections.push('<h2>Profile</h2>', `<div class="scroll">${htmlTable(profileTable(input), 'profile')}</div>`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title>
<style>${css}</style>
</head>
<body>
${sections.join('\n')}
</body>
</html>
`;
}
