/**
 * HTML pages of the benchmarks, beside their JSON: `intra bench kernels` (the attention sweep
 * with the softmax/linear crossover, and every record) and `intra profile` (the phase
 * breakdown as bars; with --compare, the kinds side by side). Self-contained, as the reports.
 *
 * @example await writeFile('bench-kernels.html', await kernelsPage(records));
 */
import type { TopLevelSpec } from 'vega-lite';

import { renderChart } from '../eval/charts.js';
import { escapeHtml, htmlPage } from '../eval/html.js';
import { machineText, percent } from '../format.js';
import type { MachineLabel } from '../native.js';
import { crossover, sweepChart, type KernelRecord } from './kernels.js';
import type { ProfileReport } from './profile.js';

function machineLine(machine: MachineLabel | undefined, threads: number | undefined): string {
  if (!machine) return '';
  return `<p id="machine">${escapeHtml(machineText(machine))}${threads ? `, ${threads} threads` : ''}</p>`;
}

export async function kernelsPage(records: readonly KernelRecord[]): Promise<string> {
  const crossings = [...new Set(records.map((r) => r.device ?? 'cpu'))].map((device) => {
    const cross = crossover(records, 'forward+backward', device);
    return `<li>${device}: ${cross ? `linear attention costs less than softmax from S = ${cross.seq} (L = ${cross.window}), forward+backward, fused` : 'linear attention never costs less than softmax in this sweep'}</li>`;
  });
  const rows = records
    .map((r) => `<tr><td>${r.op}</td><td>${r.device ?? 'cpu'}</td><td>${r.dtype}</td><td>${r.pass}</td><td>${r.shape.join('×')}</td><td>${r.impl}</td><td>${r.ms.toFixed(3)}</td><td>${r.gflops_per_s?.toFixed(1) ?? (r.gb_per_s !== undefined ? `${r.gb_per_s.toFixed(1)} GB/s` : '–')}</td><td>${r.peak_bytes >= 0 ? (r.peak_bytes / 2 ** 20).toFixed(1) : '–'}</td><td>${r.speedup_vs_reference.toFixed(2)}×</td></tr>`)
    .join('');
  return htmlPage(
    'intra bench kernels',
    `<h1>Kernels: fused against reference, same run</h1>${machineLine(records[0]?.machine, records[0]?.threads)}
<ul id="crossover">${crossings.join('')}</ul>
<div class="charts"><figure id="chart-sweep">${await sweepChart(records, 'forward+backward')}</figure><figure id="chart-sweep-forward">${await sweepChart(records, 'forward')}</figure></div>
<h2>Every record</h2><table id="records"><tr><th>op</th><th>device</th><th>dtype</th><th>pass</th><th>shape</th><th>impl</th><th>ms</th><th>GFLOP/s</th><th>peak MiB</th><th>speedup</th></tr>${rows}</table>`,
  );
}

/** The phase breakdown: one bar per phase (milliseconds of self time), one colour per report. */
export function phaseChart(reports: readonly ProfileReport[], top = 14): Promise<string> {
  const label = (r: ProfileReport) => `${r.kind} ${r.preset} ${r.attention}`;
  const names = [...new Set(reports.flatMap((r) => r.summary.slice(0, top).map((p) => p.name)))];
  const values = reports.flatMap((r) =>
    names.map((name) => {
      const p = r.summary.find((q) => q.name === name);
      return { phase: name, ms: p?.ms ?? 0, share: percent(p?.share, { unit: true }), run: label(r) };
    }),
  );
  return renderChart({
    width: 520,
    height: { step: reports.length > 1 ? 10 * reports.length : 16 },
    background: 'white',
    title: reports.length > 1 ? 'Where the time goes, side by side' : `Where the time goes: ${label(reports[0]!)}`,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      y: { field: 'phase', type: 'nominal', sort: names, title: null },
      x: { field: 'ms', type: 'quantitative', title: 'milliseconds (self time)' },
      color: { field: 'run', type: 'nominal', title: null },
      ...(reports.length > 1 ? { yOffset: { field: 'run', type: 'nominal' } } : {}),
      tooltip: [{ field: 'phase' }, { field: 'ms', format: '.1f' }, { field: 'share' }],
    },
  } as TopLevelSpec);
}

/** With --ops: each run's kinds and its 40 ops with most self time. */
function opSections(reports: readonly ProfileReport[]): string {
  const sections = reports
    .filter((r) => r.ops !== undefined)
    .map((r) => {
      const ops = r.ops!;
      const kinds = ops.kinds.map((k) => `${escapeHtml(k.kind)} ${percent(k.share, { unit: true })}`).join(', ');
      const rows = ops.ops.slice(0, 40).map((o) => `<tr><td>${escapeHtml(o.name)}</td><td>${o.kind}</td><td>${o.calls}</td><td>${o.selfMs.toFixed(1)}</td><td>${percent(o.share, { unit: true })}</td><td>${o.totalMs.toFixed(1)}</td></tr>`).join('');
      return `<h3>${r.kind} ${r.preset} ${r.attention}: ops over ${escapeHtml(ops.span)}</h3><p>${kinds}</p><table class="ops"><tr><th>op</th><th>kind</th><th>calls</th><th>self ms</th><th>share</th><th>total ms</th></tr>${rows}</table>`;
    });
  return sections.length ? `<h2>Ops</h2>${sections.join('')}` : '';
}

export async function profilePage(reports: readonly ProfileReport[], machine: MachineLabel): Promise<string> {
  const summary = reports
    .map((r) => `<tr><td>${r.kind}</td><td>${r.preset}</td><td>${r.attention}</td><td>${(r.wallMs / 1000).toFixed(2)}</td><td>${percent(r.coverage, { unit: true })}</td><td>${r.epochSeconds?.toFixed(2) ?? '–'}</td></tr>`)
    .join('');
  const tables = reports
    .map((r) => `<h3>${r.kind} ${r.preset} ${r.attention}</h3><table class="phases"><tr><th>phase</th><th>ms</th><th>share</th></tr>${r.summary.map((p) => `<tr><td>${escapeHtml(p.name)}</td><td>${p.ms.toFixed(1)}</td><td>${percent(p.share, { unit: true })}</td></tr>`).join('')}</table>`)
    .join('');
  return htmlPage(
    'intra profile',
    `<h1>Profile: where the time goes</h1>${machineLine(machine, undefined)}
<table id="runs"><tr><th>kind</th><th>preset</th><th>attention</th><th>wall s</th><th>phases cover</th><th>epoch s</th></tr>${summary}</table>
<div class="charts"><figure id="chart-phases">${await phaseChart(reports)}</figure></div>
<h2>Phases</h2><div class="charts">${tables}</div>${opSections(reports)}`,
  );
}
