/**
 * `intra eval <model> <category>`: metrics, report.json, report.md, report.html and panels.
 * `intra eval --all <root> --models <dir>`: every category with a model, as the paper's Table 1,
 * and index.html linking their reports.
 *
 * @example intra eval bottle.intra data/bottle --out eval/bottle
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import type { Argv } from 'yargs';

import { IntraError } from '../errors.js';
import { evaluateCategory, reportMarkdown, type Report } from '../eval/evaluate.js';
import { writeIndexHtml } from '../eval/report-html.js';
import { engineOptions } from './options.js';

const TEXTURES = new Set(['carpet', 'grid', 'leather', 'tile', 'wood', 'weave', 'grain', 'magnetic_tile']);

const pct = (v: number | null): string => (v === null ? '  –  ' : (100 * v).toFixed(1).padStart(5));

/** The paper's Table 1 layout: Det. / Seg. ROC AUC in %, image size, and averages. */
export function table1(reports: readonly Report[]): string {
  const rows = ['Category        Det. / Seg.    AUPRO  F1-max  Image size'];
  const line = (name: string, det: number | null, seg: number | null, aupro: number | null, f1: number | null, size: string) =>
    `${name.padEnd(14)} ${pct(det)} / ${pct(seg)}  ${pct(aupro)}  ${pct(f1)}   ${size}`;
  const mean = (values: (number | null)[]): number | null => {
    const v = values.filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const average = (name: string, group: readonly Report[]) =>
    group.length ? [line(name, mean(group.map((r) => r.image_auroc)), mean(group.map((r) => r.pixel_auroc)), mean(group.map((r) => r.aupro)), mean(group.map((r) => r.image_f1_max)), '')] : [];
  const textures = reports.filter((r) => TEXTURES.has(r.category)), objects = reports.filter((r) => !TEXTURES.has(r.category));
  for (const group of [textures, objects]) {
    for (const r of group) rows.push(line(r.category, r.image_auroc, r.pixel_auroc, r.aupro, r.image_f1_max, `${r.image_size} x ${r.image_size}`));
    if (group === textures) rows.push(...average('avg. textures', textures));
    else rows.push(...average('avg. objects', objects));
  }
  rows.push(...average('avg. all', reports));
  return rows.join('\n');
}

export function register(cli: Argv): Argv {
  return cli.command(
    'eval [model] [category]',
    'evaluate a model on a category (image/pixel AUROC, AUPRO, F1-max), or --all categories under a root',
    (y) =>
      y
        .positional('model', { type: 'string' })
        .positional('category', { type: 'string' })
        .options(engineOptions)
        .option('out', { type: 'string', describe: 'report folder (default eval/<category>)' })
        .option('all', { type: 'string', describe: 'a root folder of categories: evaluate each with --models/<category>.intra' })
        .option('models', { type: 'string', describe: 'with --all: the folder of <category>.intra models' }),
    async (args) => {
      const common = { threads: args.threads, device: args.device, precision: args.precision };
      if (args.all !== undefined) {
        if (!args.models) throw new IntraError('INTRA_INVALID_ARGUMENT', 'Expected --models <dir> with --all');
        const reports: Report[] = [];
        const names = (await readdir(args.all, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
        for (const name of names) {
          const model = join(args.models, `${name}.intra`);
          if (!(await stat(model).then(() => true, () => false))) {
            process.stderr.write(`intra: no model ${model}; skipping ${name}\n`);
            continue;
          }
          reports.push(await evaluateCategory({ ...common, model, category: join(args.all, name), outDir: join(args.out ?? 'eval', name) }));
        }
        if (reports.length === 0) throw new IntraError('INTRA_DATASET', `No category under ${args.all} has a model in ${args.models}`);
        console.log(table1(reports));
        const index = join(args.out ?? 'eval', 'index.html');
        await writeIndexHtml(reports, TEXTURES, index);
        console.log(`reports: ${index}`);
        return;
      }
      if (!args.model || !args.category) throw new IntraError('INTRA_USAGE', 'Expected <model> <category>, or --all <root> --models <dir>');
      const name = args.category.replace(/\/+$/, '').split('/').pop() ?? 'category';
      const report = await evaluateCategory({ ...common, model: args.model, category: args.category, outDir: args.out ?? join('eval', name) });
      process.stdout.write(reportMarkdown(report));
      console.log(`report: ${join(args.out ?? join('eval', name), 'report.json')}`);
    },
  );
}
