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
import { table1 } from '../eval/table1.js';
import { engineOptions, engineOptionsOf, mapConfigOf, mapOptions } from './options.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'eval [model] [category]',
    'evaluate a model on a category (image/pixel AUROC, AUPRO, F1-max), or --all categories under a root',
    (y) =>
      y
        .positional('model', { type: 'string' })
        .positional('category', { type: 'string' })
        .options(engineOptions)
        .options(mapOptions)
        .option('out', { type: 'string', describe: 'report folder (default eval/<category>)' })
        .option('all', { type: 'string', describe: 'a root folder of categories: evaluate each with --models/<category>.intra' })
        .option('models', { type: 'string', describe: 'with --all: the folder of <category>.intra models' }),
    async (args) => {
      const common = { ...engineOptionsOf(args), map: mapConfigOf(args) };
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
        await writeIndexHtml(reports, index);
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
