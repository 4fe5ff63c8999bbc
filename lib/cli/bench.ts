/**
 * `intra bench kernels`: every kernel family, fused against its reference, and the
 * attention sweep over window sides with a chart.
 *
 * @example intra bench kernels --json > kernels.json
 */
import { writeFile } from 'node:fs/promises';

import type { Argv } from 'yargs';

import { benchKernels, crossover, kernelTable, sweepChart } from '../bench/kernels.js';

export function register(cli: Argv): Argv {
  return cli.command('bench', 'benchmarks (see `intra bench kernels --help`)', (y) =>
    y
      .command(
        'kernels',
        'time fused kernels against their references; sweep attention over window sides',
        (k) =>
          k
            .option('json', { type: 'boolean', default: false, describe: 'print a JSON array of records' })
            .option('out', { type: 'string', default: 'bench-kernels.json', describe: 'also write the records here' })
            .option('chart', { type: 'string', default: 'bench-kernels.svg', describe: 'the sweep as an SVG chart' })
            .option('threads', { type: 'number', default: 0 })
            .option('repeats', { type: 'number', describe: 'timed runs per measurement (median reported)' })
            .option('quick', { type: 'boolean', default: false, describe: 'a short smoke run' }),
        async (args) => {
          const records = await benchKernels({
            threads: args.threads,
            repeats: args.repeats,
            quick: args.quick,
            onRecord: args.json ? undefined : (r) => process.stderr.write(`  ${r.op} ${r.pass} ${r.shape.join('x')} ${r.impl}: ${r.ms.toFixed(2)} ms\n`),
          });
          await writeFile(args.out, `${JSON.stringify(records, null, 2)}\n`);
          await writeFile(args.chart, sweepChart(records));
          if (args.json) {
            console.log(JSON.stringify(records));
            return;
          }
          console.log(kernelTable(records));
          const cross = crossover(records);
          console.log(
            cross
              ? `\nlinear attention costs less than softmax from S = ${cross.seq} (L = ${cross.window}), forward+backward, fused`
              : '\nlinear attention never costs less than softmax in this sweep (forward+backward, fused)',
          );
          console.log(`records: ${args.out}; chart: ${args.chart}`);
        },
      )
      .demandCommand(1, 'Name a benchmark: kernels'),
  );
}
