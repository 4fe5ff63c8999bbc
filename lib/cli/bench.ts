/**
 * `intra bench kernels`: every kernel family, fused against its reference, and the
 * attention sweep over window sides with a chart.
 *
 * @example intra bench kernels --json > kernels.json
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { Argv } from 'yargs';

import { benchKernels, crossover, kernelTable, sweepChart, type KernelRecord } from '../bench/kernels.js';
import { accuracyCurve, curveTable } from '../bench/curve.js';
import { compareMapSettings, mapsTable } from '../bench/maps.js';
import { parseTopkArea } from '../infer/map-settings.js';
import { benchFleet, fleetSummary } from '../bench/fleet.js';
import { loadTable, modelLoad, scoreMemory } from '../bench/memory.js';
import { kernelsPage } from '../bench/pages.js';
import { validationNoise } from '../bench/validation.js';
import { benchDataParallel, dataParallelTable, timeTrainingSteps } from '../bench/data-parallel.js';
import { BENCH_KERNELS, benchScore, benchTrain, throughputTable, type BenchKernels, type ThroughputRecord } from '../bench/throughput.js';
import { IntraError } from '../errors.js';
import { percent } from '../format.js';
import { parseShape, recordOption, recordRun } from './options.js';
import { groupFlags, groupOf } from './train.js';
import { performanceDoc, readmeSummary, readRecordFiles, replaceBlock } from '../bench/records.js';
import { ATTENTION_KINDS, KERNEL_DEVICES, KERNEL_DTYPES, PRECISIONS, PRESETS, type Precision } from '../native.js';

/** Records written by an earlier `intra bench kernels` run, checked enough to be drawn. */
async function readRecords(path: string): Promise<KernelRecord[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new IntraError('INTRA_IO', `--with ${path}: cannot read kernel records: ${(cause as Error).message}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((r) => typeof r === 'object' && r !== null && 'op' in r && 'ms' in r && 'impl' in r)) {
    throw new IntraError('INTRA_INVALID_ARGUMENT', `--with ${path}: expected a JSON array of kernel records (as --out writes)`);
  }
  return (parsed as KernelRecord[]).map((r) => ({ ...r, device: r.device ?? 'cpu' }));
}

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
            .option('html', { type: 'string', default: 'bench-kernels.html', describe: 'a page with the sweeps, the crossover and every record' })
            .option('threads', { type: 'number', default: 0 })
            .option('device', { choices: KERNEL_DEVICES, default: 'cpu' as const, describe: 'cpu, or cuda (our CUDA kernels against ATen on the GPU)' })
            .option('dtype', { choices: KERNEL_DTYPES, describe: 'default: float32 on the CPU, bfloat16 on a GPU' })
            .option('with', { type: 'string', describe: 'records of another run (e.g. the other device) to draw in the same chart' })
            .option('repeats', { type: 'number', describe: 'timed runs per measurement (median reported)' })
            .option('quick', { type: 'boolean', default: false, describe: 'a short smoke run' })
            .option('record', recordOption),
        async (args) => {
          const others = args.with ? await readRecords(args.with) : [];
          const records = await benchKernels({
            device: args.device,
            dtype: args.dtype,
            threads: args.threads,
            repeats: args.repeats,
            quick: args.quick,
            onRecord: args.json ? undefined : (r) => process.stderr.write(`  ${r.op} ${r.pass} ${r.shape.join('x')} ${r.impl}: ${r.ms.toFixed(2)} ms\n`),
          });
          await writeFile(args.out, `${JSON.stringify(records, null, 2)}\n`);
          await recordRun(args.record, 'bench kernels', records, args.threads, args.device === 'cuda');
          await writeFile(args.chart, await sweepChart([...records, ...others]));
          await writeFile(args.html, await kernelsPage([...records, ...others]));
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
          console.log(`records: ${args.out}; chart: ${args.chart}; page: ${args.html}`);
        },
      )
      .command(
        ['score', 'train'],
        'windows/s, images/s and GFLOP/s against the matrix-product ceiling, per precision (score: the model alone and the whole path)',
        (k) =>
          k
            .option('preset', { choices: PRESETS, default: 'paper' as const })
            .option('attention', { choices: ATTENTION_KINDS })
            .option('precision', { type: 'string', describe: 'comma-separated: fp32, bf16 (default both; with --procs bf16)' })
            .option('kernels', { type: 'string', default: 'fused', describe: 'comma-separated: fused, reference (both: the share our kernels take off, in one run)' })
            .option('ablate', { type: 'boolean', default: false, describe: 'also run our kernels with each family (attention, filters, norm, activation, bias, optimizer, weights) on its reference in turn: each one\'s share' })
            .option('image-size', { type: 'number', describe: 'default: the preset\'s (paper: 256)' })
            .option('images', { type: 'number', default: 1, describe: 'score: images per timed run' })
            .option('batch', { type: 'number', default: 32, describe: 'train: windows per step' })
            .option('steps', { type: 'number', default: 2, describe: 'train: steps per timed run' })
            .option('repeats', { type: 'number', default: 3, describe: 'timed runs (median reported) after one warm-up' })
            .option('threads', { type: 'number', default: 0 })
            .option('device', { choices: KERNEL_DEVICES, default: 'cpu' as const, describe: 'cpu, or cuda (engine and ceiling on the GPU)' })
            .option('json', { type: 'boolean', default: false, describe: 'one JSON object per configuration' })
            .option('record', recordOption)
            .options({ ...groupFlags, procs: { type: 'number', describe: 'train: N local ranks of one data-parallel training against one process with all the threads (sums overlapped with the backward, and after it); default precision bf16' } })
            .group(Object.keys(groupFlags), 'Data-parallel training (train):'),
        async (args) => {
          const which = args._[1] === 'train' ? 'train' : 'score';
          const group = which === 'train' ? groupOf(args) : undefined;
          if (which === 'score' && (args.procs !== undefined || args.worldSize !== undefined)) throw new IntraError('INTRA_INVALID_ARGUMENT', '--procs and --world-size are for `intra bench train`: scoring runs one process');
          const parallel = args.procs !== undefined || group !== undefined;
          const precisions = (args.precision ?? (parallel ? 'bf16' : 'fp32,bf16')).split(',').map((p) => p.trim());
          for (const p of precisions) {
            if (!(PRECISIONS as readonly string[]).includes(p)) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected fp32 or bf16 for precision but received '${p}'`);
          }
          if (parallel) {
            if (args.kernels !== 'fused' || args.ablate || args.device !== 'cpu') throw new IntraError('INTRA_INVALID_ARGUMENT', 'Data-parallel benches run our kernels on the CPU: --kernels, --ablate and --device are for one process');
            const common = { preset: args.preset, attention: args.attention, imageSize: args.imageSize, batch: args.batch, steps: args.steps, repeats: args.repeats, bucketMb: args.bucketMb };
            if (group) {
              // One rank of a group (started by --procs, or by hand on several machines): rank 0 prints, nothing is recorded.
              for (const precision of precisions as Precision[]) {
                const record = await timeTrainingSteps({ ...common, precision, threads: args.threads }, group);
                if (record) console.log(args.json ? JSON.stringify(record) : dataParallelTable([record]));
              }
              return;
            }
            const records = await benchDataParallel({
              ...common, procs: args.procs!, precisions: precisions as Precision[], threads: args.threads,
              onRecord: (r) => (args.json ? console.log(JSON.stringify(r)) : process.stderr.write(`  ${r.precision} ${r.run}: ${r.windows_per_s.toFixed(1)} windows/s\n`)),
            });
            if (!args.json) console.log(dataParallelTable(records));
            await recordRun(args.record, 'bench data-parallel', records, args.threads);
            return;
          }
          const kernels = args.kernels.split(',').map((k) => k.trim());
          for (const k of kernels) {
            if (!(BENCH_KERNELS as readonly string[]).includes(k)) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected one of ${BENCH_KERNELS.join(', ')} for kernels but received '${k}'`);
          }
          const options = {
            preset: args.preset, attention: args.attention, precisions: precisions as Precision[], kernels: kernels as BenchKernels[], ablate: args.ablate, imageSize: args.imageSize,
            images: args.images, batch: args.batch, steps: args.steps, repeats: args.repeats, threads: args.threads, device: args.device,
            onRecord: (r: ThroughputRecord) => {
              if (args.json) console.log(JSON.stringify(r));
            },
          };
          const records = which === 'train' ? await benchTrain(options) : await benchScore(options);
          if (!args.json) console.log(throughputTable(records));
          await recordRun(args.record, which === 'train' ? 'bench train' : 'bench score', records, args.threads, args.device === 'cuda');
        },
      )
      .command(
        'memory',
        'peak resident memory of `intra score` over many small images (it must not grow with their number)',
        (k) =>
          k
            .option('images', { type: 'string', default: '1000,5000,20000', describe: 'comma-separated image counts' })
            .option('dir', { type: 'string', default: 'bench-memory', describe: 'work folder (images are hard links of one file)' })
            .option('json', { type: 'boolean', default: false, describe: 'one JSON object per count' })
            .option('record', recordOption),
        async (args) => {
          const records = [];
          for (const count of args.images.split(',').map(Number)) {
            const r = await scoreMemory(count, args.dir);
            records.push(r);
            console.log(args.json ? JSON.stringify(r) : `${r.images} images: peak RSS ${r.peak_rss_mb} MB, ${r.seconds.toFixed(1)} s (${r.images_per_s.toFixed(0)} images/s), ${r.lines} lines`);
          }
          await recordRun(args.record, 'bench memory', records, 1);
        },
      )
      .command(
        'load <model>',
        'time and memory of loading a model, for training (everything) and for scoring (weights only), each in a fresh process',
        (k) =>
          k
            .positional('model', { type: 'string', demandOption: true })
            .option('repeats', { type: 'number', default: 3, describe: 'fresh processes per purpose (median reported)' })
            .option('threads', { type: 'number', default: 0 })
            .option('json', { type: 'boolean', default: false, describe: 'one JSON object per purpose' })
            .option('record', recordOption),
        async (args) => {
          const records = await modelLoad(args.model, { repeats: args.repeats, threads: args.threads });
          console.log(args.json ? records.map((r) => JSON.stringify(r)).join('\n') : loadTable(records));
          await recordRun(args.record, 'bench load', records, args.threads);
        },
      )
      .command(
        'fleet',
        'N workers through Redis against one `intra score` with all threads; Redis\'s cost per image; worker memory',
        (k) =>
          k
            .option('workers', { type: 'number', default: 2 })
            .option('preset', { choices: PRESETS, default: 'paper' as const })
            .option('precision', { choices: PRECISIONS, default: 'fp32' as const })
            .option('images', { type: 'number', default: 16, describe: 'images scored by both sides' })
            .option('queue-images', { type: 'number', default: 3000, describe: 'tiny images for Redis\'s cost per image' })
            .option('job-images', { type: 'number', default: 4, describe: 'images per job' })
            .option('threads', { type: 'number', default: 0, describe: 'all of them, split between the workers' })
            .option('redis', { type: 'string', describe: 'an existing Redis (default: a redis-server of our own)' })
            .option('json', { type: 'boolean', default: false, describe: 'one JSON object' })
            .option('record', recordOption),
        async (args) => {
          const record = await benchFleet({
            workers: args.workers, preset: args.preset, precision: args.precision, images: args.images, queueImages: args.queueImages,
            jobImages: args.jobImages, threads: args.threads, redis: args.redis,
            onNote: (line) => process.stderr.write(`  ${line}\n`),
          });
          console.log(args.json ? JSON.stringify(record) : fleetSummary(record));
          await recordRun(args.record, 'bench fleet', [record], record.threads);
        },
      )
      .command(
        'validation <model>',
        'the validation loss\'s spread over window draws, per windows-per-image count, against the 1e-4 margin',
        (k) =>
          k
            .positional('model', { type: 'string', demandOption: true })
            .option('counts', { type: 'string', default: '16,64,256,1024', describe: 'comma-separated windows per validation image' })
            .option('seeds', { type: 'number', default: 8, describe: 'window draws per count' })
            .option('threads', { type: 'number', default: 0 })
            .option('json', { type: 'boolean', default: false, describe: 'one JSON object per count' }),
        async (args) => {
          const counts = args.counts.split(',').map((c) => Number(c.trim()));
          for (const c of counts) if (!Number.isInteger(c) || c < 1) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected positive integers for --counts but received '${args.counts}'`);
          if (!args.json) console.log('windows/image  images  mean loss    std        std / 1e-4  s per validation');
          await validationNoise({
            model: args.model, counts, seeds: args.seeds, threads: args.threads,
            onRecord: (r) => console.log(args.json ? JSON.stringify(r)
              : `${String(r.windows_per_image).padStart(13)} ${String(r.images).padStart(7)}  ${r.mean_loss.toFixed(6)}  ${r.std_loss.toExponential(2)}  ${r.std_over_margin.toFixed(2).padStart(10)}  ${r.seconds_per_validation.toFixed(2)}`),
          });
        },
      )
      .command(
        'curve <category>',
        'accuracy against training minutes: one run stopped at each budget and evaluated there (image and pixel AUROC, AUPRO)',
        (k) =>
          k
            .positional('category', { type: 'string', demandOption: true })
            .option('out', { type: 'string', default: 'curve-out', describe: 'folder for the model and one evaluation per budget' })
            .option('preset', { choices: PRESETS, default: 'cpu' as const })
            .option('minutes', { type: 'string', default: '10,20,30', describe: 'comma-separated, increasing training budgets' })
            .option('batch', { type: 'number', describe: "windows per step (default: the preset's training, else 256)" })
            .option('lr', { type: 'number', describe: "Adam learning rate (default: the preset's, else the recipe's)" })
            .option('windows-per-image', { type: 'number' })
            .option('train-precision', { choices: PRECISIONS })
            .option('image-size', { type: 'number', describe: 'the pixel budget\'s side (default: the preset\'s)' })
            .option('shape', { type: 'string', default: 'auto', describe: 'auto, square or WxH (as intra train)' })
            .option('seed', { type: 'number', default: 0 })
            .option('threads', { type: 'number', default: 0 })
            .option('json', { type: 'boolean', default: false, describe: 'one JSON object per budget' })
            .option('record', recordOption),
        async (args) => {
          const minutes = args.minutes.split(',').map((m) => Number(m.trim()));
          if (!args.json) process.stderr.write(`training ${args.category} with the ${args.preset} preset to ${minutes.join(', ')} minutes, evaluating at each\n`);
          const records = await accuracyCurve({
            category: args.category, out: args.out, preset: args.preset, minutes, batchSize: args.batch, learningRate: args.lr,
            windowsPerImage: args.windowsPerImage, trainPrecision: args.trainPrecision, imageSize: args.imageSize, shape: parseShape(args.shape),
            seed: args.seed, threads: args.threads,
            onRecord: (r) => (args.json ? console.log(JSON.stringify(r)) : process.stderr.write(`  ${r.budget_minutes} min: image ${percent(r.image_auroc)} pixel ${percent(r.pixel_auroc)} AUPRO ${percent(r.aupro)}\n`)),
            onSkip: (budget, trained, epoch) => process.stderr.write(
              `  ${budget} min: no point: the run has trained ${trained.toFixed(2)} min and its last epoch took ${epoch.toFixed(2)} min, so the next would end past this budget\n`),
          });
          if (!args.json) console.log(`${curveTable(records)}\n(${records[0]!.machine.cpu}, ${records[0]!.threads || 'all'} threads)`);
          await recordRun(args.record, 'bench curve', records, args.threads);
        },
      )
      .command(
        'maps <model> <category>',
        "the map settings compared on one trained model: terms, normalisation and image score, each combination's image and pixel AUROC and AUPRO overall and per defect type, from one reconstruction",
        (k) =>
          k
            .positional('model', { type: 'string', demandOption: true })
            .positional('category', { type: 'string', demandOption: true })
            .option('topk-area', { type: 'string', describe: "the top-k share of the topk settings, e.g. 0.01 or 1% (default: the model's)" })
            .option('batch', { type: 'number', default: 8, describe: 'images per engine call' })
            .option('threads', { type: 'number', default: 0 })
            .option('json', { type: 'boolean', default: false, describe: 'one JSON object per setting' })
            .option('record', recordOption),
        async (args) => {
          const records = await compareMapSettings({
            model: args.model, category: args.category, threads: args.threads, batch: args.batch,
            topkArea: args.topkArea === undefined ? undefined : parseTopkArea(args.topkArea),
            onProgress: args.json || !process.stderr.isTTY ? undefined : (done, total) => process.stderr.write(`\r${done}/${total} images${done === total ? '\n' : ''}`),
          });
          if (args.json) for (const r of records) console.log(JSON.stringify(r));
          else console.log(`${mapsTable(records).join('\n')}\n(${records[0]!.category}, ${records[0]!.images} test images; ${records[0]!.machine.cpu}, ${records[0]!.threads || 'all'} threads)`);
          await recordRun(args.record, 'bench maps', records, args.threads);
        },
      )
      .command(
        'docs',
        'generate docs/performance.md and the README\'s table from the records folder (--check: fail where they differ from it)',
        (k) =>
          k
            .option('records', { type: 'string', default: 'records', describe: 'the records folder' })
            .option('doc', { type: 'string', default: join('docs', 'performance.md'), describe: 'the generated document' })
            .option('readme', { type: 'string', default: 'README.md', describe: 'the file whose <!-- performance --> block gets the summary table' })
            .option('check', { type: 'boolean', default: false, describe: 'write nothing; exit 1 naming each file that is not what the records make' }),
        async (args) => {
          const files = await readRecordFiles(args.records);
          const wanted = new Map<string, string>([
            [args.doc, performanceDoc(files, args.doc)],
            [args.readme, replaceBlock(await readFile(args.readme, 'utf8'), 'performance', readmeSummary(files), args.readme)],
          ]);
          const stale: string[] = [];
          for (const [path, text] of wanted) {
            const current = await readFile(path, 'utf8').catch(() => null);
            if (current === text) continue;
            if (args.check) stale.push(path);
            else {
              await mkdir(dirname(path), { recursive: true });
              await writeFile(path, text);
            }
          }
          if (stale.length) {
            throw new IntraError('INTRA_INVALID_STATE', `${stale.join(' and ')}: not what the ${files.length} records in ${args.records} make; run \`npm run docs:performance\``);
          }
          console.log(`${args.check ? 'checked' : 'wrote'} ${[...wanted.keys()].join(' and ')} from ${files.length} records in ${args.records}`);
        },
      )
      .demandCommand(1, 'Name a benchmark: kernels, score, train, memory, load, fleet, validation, curve, maps, or docs'),
  );
}
