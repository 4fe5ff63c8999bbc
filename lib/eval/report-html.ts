/**
 * report.html: one self-contained page (inline SVG charts, pictures as data URIs, no script,
 * no font or request outside the file; a Content-Security-Policy says so to the browser) and,
 * for `intra eval --all`, index.html linking every category's report.
 *
 * @example await writeReportHtml(report, gallery, 'eval/bottle/report.html');
 */
import { writeFile } from 'node:fs/promises';
import { basename, dirname, relative } from 'node:path';

import { percent } from '../format.js';
import { curveChart, histogramChart, trainingChart } from './charts.js';
import type { Report } from './report.js';
import { colourBar, TILE_LABELS, type GalleryEntry, type GalleryGroup } from './gallery.js';
import { escapeHtml, htmlPage } from './html.js';
import { table1Rows } from './table1.js';

const pct = (v: number | null): string => percent(v, { unit: true });
const num = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : v.toPrecision(4));


function colourBarHtml(bar: string, threshold: number): string {
  return `<div class="bar"><img src="${bar}" alt="heat colour scale"><span><i>0</i><i>${num(threshold)}</i><i>≥ ${num(2 * threshold)}</i></span></div>`;
}

// Each tile keeps the picture's aspect: a long part (112 x 208) is drawn 180 wide and as tall as it is.
export function galleryHtml(entries: readonly GalleryEntry[], bar: string, threshold: number, size: { width: number; height: number }): string {
  const tileHeight = Math.round((180 * size.height) / size.width);
  const groups: GalleryGroup[] = ['highest-scoring defect-free images', 'lowest-scoring defective images', 'highest-scoring defective images'];
  return groups
    .map((group) => {
      const items = entries.filter((e) => e.group === group);
      if (items.length === 0) return '';
      const cards = items.map((e) => {
        const bad = e.score > threshold !== (e.defect !== 'good');  // a false positive or a missed defect
        const tiles = e.tiles
          .map((src, i) => `<figure><img src="${src}" width="180" height="${tileHeight}" alt="${escapeHtml(`${TILE_LABELS[i]} of ${basename(e.file)}`)}"><figcaption>${TILE_LABELS[i]}</figcaption>${i === 2 || i === 3 ? colourBarHtml(bar, threshold) : ''}</figure>`)
          .join('');
        return `<div class="entry" data-file="${escapeHtml(e.file)}" data-score="${e.score}"><div><b>${escapeHtml(basename(e.file))}</b> (${escapeHtml(e.defect)}) · score ${num(e.score)} · <span class="${bad ? 'verdict-bad' : 'verdict-ok'}">${escapeHtml(e.verdict)}</span><br><small>${escapeHtml(e.file)}</small></div><div class="tiles">${tiles}</div></div>`;
      });
      return `<h3>${group}</h3>${cards.join('')}`;
    })
    .join('');
}

export async function writeReportHtml(report: Report, gallery: readonly GalleryEntry[], path: string): Promise<void> {
  const m = report.model_info;
  const curve = (points: { fpr: number; tpr: number }[] | null) => (points ?? []).map((p) => ({ x: p.fpr, y: p.tpr }));
  const charts: { id: string; svg: string; caption: string }[] = [];
  if (report.curves.image_roc) charts.push({ id: 'chart-image-roc', svg: await curveChart(`Image ROC: AUROC ${pct(report.image_auroc)}`, curve(report.curves.image_roc), { x: 'false positive rate', y: 'true positive rate' }), caption: 'image level: one point per distinct score' });
  if (report.curves.pixel_roc) charts.push({ id: 'chart-pixel-roc', svg: await curveChart(`Pixel ROC: AUROC ${pct(report.pixel_auroc)}`, curve(report.curves.pixel_roc), { x: 'false positive rate', y: 'true positive rate' }), caption: 'pixel level, maps at the masks\' resolution' });
  if (report.curves.pro) charts.push({ id: 'chart-pro', svg: await curveChart(`PRO up to FPR 0.3: AUPRO ${pct(report.aupro)}`, report.curves.pro.map((p) => ({ x: p.fpr, y: p.pro })), { x: 'false positive rate', y: 'per-region overlap', xMax: 0.3 }, false), caption: 'per-region overlap against pixel false positive rate' });
  charts.push({ id: 'chart-histogram', svg: await histogramChart('Image scores', report.histogram.bins, report.histogram.domain, report.threshold), caption: `threshold ${num(report.threshold)} (dashed): ${report.threshold_rule}` });
  if (report.history.length > 0) charts.push({ id: 'chart-training', svg: await trainingChart(report.history, report.model_info.best_epoch), caption: `best epoch ${m.best_epoch ?? '–'} (dashed)` });

  const rows = [['all', report] as const, ...Object.entries(report.by_defect)]
    .map(([name, x]) => `<tr><td>${escapeHtml(name)}</td><td>${x.images}</td><td>${pct(x.image_auroc)}</td><td>${pct(x.pixel_auroc)}</td><td>${pct(x.aupro)}</td><td>${pct(x.image_f1_max)}</td></tr>`)
    .join('');
  const counts = Object.entries(report.counts).map(([d, n]) => `${escapeHtml(d)} ${n}`).join(', ');
  const bar = report.threshold === null ? '' : await colourBar();
  const html = htmlPage(`InTra report: ${report.category}`, `<h1>${escapeHtml(report.category)}: image AUROC ${pct(report.image_auroc)}, pixel AUROC ${pct(report.pixel_auroc)}</h1>
<div class="head">
<dl id="model"><dt>model</dt><dd>${escapeHtml(report.model)}</dd><dt>attention</dt><dd>${m.attention}${m.longResiduals ? ', long residuals' : ''}</dd>
<dt>preset</dt><dd>${m.preset ?? 'custom'}</dd><dt>size</dt><dd>${m.imageWidth}×${m.imageHeight}, ${m.channels === 1 ? 'grey' : 'colour'}, patch ${m.patchSize}, window ${m.windowSize}×${m.windowSize}, width ${m.dim}, depth ${m.depth}, ${m.heads} heads</dd>
<dt>training</dt><dd>${m.epochs_trained ?? '–'} epochs, best epoch ${m.best_epoch ?? '–'} (validation loss ${num(m.best_loss)})${m.training && m.training !== 'done' ? `, ${m.training}` : ''}</dd>
<dt>anomaly map</dt><dd id="map-settings" data-map="${escapeHtml(report.map.map)}" data-normalise="${report.map.normalise}" data-image-score="${report.map.imageScore}">${escapeHtml(report.map_name)}</dd>
<dt>threshold</dt><dd id="threshold" data-threshold="${report.threshold ?? ''}">${num(report.threshold)}: ${escapeHtml(report.threshold_rule)}</dd></dl>
<dl id="data"><dt>category</dt><dd>${escapeHtml(report.category)}</dd><dt>test images</dt><dd>${report.images}: ${counts}</dd>
<dt>machine</dt><dd>${escapeHtml(report.machine.cpu)} (${escapeHtml(report.machine.cpu_features.join(' '))})</dd>
<dt>finished</dt><dd>${escapeHtml(report.finished_at)}, in ${report.seconds.toFixed(1)} s</dd></dl>
</div>
<h2>Figures</h2><div class="cards">
<div class="card">image AUROC<b>${pct(report.image_auroc)}</b></div><div class="card">pixel AUROC<b>${pct(report.pixel_auroc)}</b></div>
<div class="card">AUPRO (FPR ≤ 0.3)<b>${pct(report.aupro)}</b></div><div class="card">image F1-max<b>${pct(report.image_f1_max)}</b>at score ≥ ${num(report.image_f1_threshold)}</div></div>
<div class="charts">${charts.map((c) => `<figure id="${c.id}">${c.svg}<figcaption>${escapeHtml(c.caption)}</figcaption></figure>`).join('')}</div>
<h2>Per defect type</h2><table id="per-defect"><tr><th>defect</th><th>images</th><th>image AUROC</th><th>pixel AUROC</th><th>AUPRO@0.3</th><th>image F1-max</th></tr>${rows}</table>
<h2>Gallery</h2>${report.threshold === null ? '<p>No threshold: no gallery.</p>' : `<p>Heat on one scale for every picture: 0 to twice the threshold; the threshold is mid-scale.</p><div id="gallery">${galleryHtml(gallery, bar, report.threshold, { width: report.image_width, height: report.image_height })}</div>`}`);
  await writeFile(path, html);
}

/** index.html for `intra eval --all`: the Table-1 layout, each category linking to its report. */
export async function writeIndexHtml(reports: readonly Report[], path: string): Promise<void> {
  const body = table1Rows(reports)
    .map(({ name, scores: s, report }) => {
      const label = report ? `<a href="${escapeHtml(relative(dirname(path), report.html))}">${escapeHtml(name)}</a>` : `<b>${escapeHtml(name)}</b>`;
      const size = report ? `${report.image_width}×${report.image_height}` : '';
      return `<tr><td>${label}</td><td>${pct(s.image_auroc)} / ${pct(s.pixel_auroc)}</td><td>${pct(s.aupro)}</td><td>${pct(s.image_f1_max)}</td><td>${size}</td></tr>`;
    })
    .join('');
  await writeFile(
    path,
    htmlPage('InTra: all categories', `<h1>All categories</h1><table id="table1"><tr><th>category</th><th>Det. / Seg. ROC AUC</th><th>AUPRO</th><th>F1-max</th><th>image size</th></tr>${body}</table>`),
  );
}
