/**
 * `intra train <category> --out model.intra`: trains one category with early stopping,
 * a checkpoint after every epoch, `--resume`, and a clean stop on Ctrl-C.
 *
 * @example intra train data/bottle --out bottle.intra --preset small --epochs 50
 */
import type { Argv, Options } from 'yargs';

import { modelShape, shapeText } from '../data/images.js';
import type { TrainJobOptions } from '../fleet/training.js';
import { ANOMALY_MAPS, PRECISIONS, type AnomalyMapKind, type AttentionKind, type GroupConfig, type ImageScoreRule, type MapNormalisation, type MapTerms, type Precision, type Preset } from '../native.js';
import { RECIPES, type Recipe } from '../train/recipes.js';
import { trainCategory, type Progress } from '../train/train.js';
import { IntraError } from '../errors.js';
import { launchRanks } from '../train/launch.js';
import { commandLine, duration, engineOptions, engineOptionsOf, mapConfigOf, mapOptions, modelOptions, parseShape } from './options.js';

/** The training flags `intra train` and `intra queue train` share (what a training run is). */
export const trainingFlags = {
  'image-size': { type: 'string', describe: 'pixels per side, or auto (256/320/512 by the paper\'s rule)' },
  shape: { type: 'string', default: 'auto', describe: "the model's shape: auto (the training images' median aspect at about image-size² pixels; square for square data), square, or WxH in pixels" },
  recipe: { choices: RECIPES, default: 'paper' as const, describe: "whose defaults: the paper's, or the thesis's MSA-vs-linear set-up (msa or linear, no long residuals, lr 1e-3, patience 150, no augmentation, multi-scale GMS loss, its anomaly map and image sizes)" },
  batch: { type: 'number', describe: 'windows per step (default 256; cpu preset 64)' },
  lr: { type: 'number', describe: 'Adam learning rate (default: paper 1e-4, thesis 1e-3; cpu preset 5e-4)' },
  epochs: { type: 'number', describe: 'most epochs (default: paper 1000, thesis 20000; with --resume, changes the stored limit)' },
  patience: { type: 'number', describe: 'epochs without improvement before stopping (default: paper 50, thesis 150)' },
  minutes: { type: 'number', describe: 'training-time budget: no epoch starts that would end past it (over all resumes; raise it with --resume to go on; cpu preset: 30)' },
  'windows-per-image': { type: 'number', describe: 'training windows per image per epoch (default 600; cpu preset 32)' },
  augment: { type: 'boolean', describe: 'random rotations and flips of windows, positions turned with them (default off: it cost accuracy on real data, see docs/real-data.md)' },
  seed: { type: 'number', default: 0 },
  'train-precision': { choices: PRECISIONS, describe: 'bf16 = bf16 matrix products, fp32 master weights (default fp32; cpu preset: bf16 where the CPU has it)' },
  'anomaly-map': { choices: ANOMALY_MAPS, describe: "the anomaly map: the paper's (scales 1/2 and 1/4, mean filter then Gaussian) or the thesis's (MSGMS over 3 scales, a 21x21 mean filter); default: the recipe's" },
  'long-residuals': { type: 'boolean', describe: "the paper's long residual connections (default: paper on, thesis off; --no-long-residuals: the paper's ablation)" },
} satisfies Record<string, Options>;

/** The training options of a command's parsed training flags (the map settings included). */
export function trainingOptionsOf(args: {
  recipe: Recipe; preset: Preset; attention?: AttentionKind; imageSize?: string; shape: string; batch?: number; lr?: number; epochs?: number; patience?: number; minutes?: number;
  windowsPerImage?: number; augment?: boolean; seed: number; trainPrecision?: Precision; anomalyMap?: AnomalyMapKind; longResiduals?: boolean;
  map?: MapTerms; normalise?: MapNormalisation; imageScore?: ImageScoreRule; topkArea?: string;
}): TrainJobOptions {
  const imageSize = args.imageSize === undefined ? undefined : args.imageSize === 'auto' ? 'auto' : Number(args.imageSize);
  return {
    recipe: args.recipe,
    preset: args.preset,
    attention: args.attention,
    imageSize: imageSize as number | 'auto' | undefined,
    shape: parseShape(args.shape),
    batchSize: args.batch,
    learningRate: args.lr,
    epochs: args.epochs,
    patience: args.patience,
    minutes: args.minutes,
    windowsPerImage: args.windowsPerImage,
    augment: args.augment,
    seed: args.seed,
    trainPrecision: args.trainPrecision,
    anomalyMap: args.anomalyMap,
    longResiduals: args.longResiduals,
    map: mapConfigOf(args),
  };
}

/** `argv` without the named options and their values (`--x v` or `--x=v`). */
function withoutOption(argv: readonly string[], names: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (names.includes(arg)) i++;
    else if (!names.some((n) => arg.startsWith(`${n}=`))) out.push(arg);
  }
  return out;
}

/** The data-parallel group of this process, from the flags or PyTorch's launcher variables; undefined when alone. */
export function groupOf(args: { rank?: number; worldSize?: number; masterAddr?: string; masterPort?: number; groupTimeout: number; bucketMb?: number; overlap?: boolean }, env: NodeJS.ProcessEnv = process.env): GroupConfig | undefined {
  const number = (flag: number | undefined, name: string, fallback: number) => {
    if (flag !== undefined) return flag;
    const text = env[name];
    if (text === undefined || text === '') return fallback;
    const value = Number(text);
    if (!Number.isInteger(value)) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected an integer in ${name} but received '${text}'`);
    return value;
  };
  const worldSize = number(args.worldSize, 'WORLD_SIZE', 1);
  if (worldSize <= 1) return undefined;
  const rank = number(args.rank, 'RANK', -1);
  if (rank < 0 || rank >= worldSize) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a rank in 0..${worldSize - 1} (--rank or RANK) for WORLD_SIZE ${worldSize} but received ${rank < 0 && args.rank === undefined && env.RANK === undefined ? 'none' : rank}`);
  if (!(args.groupTimeout > 0)) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a positive number of seconds for --group-timeout but received ${args.groupTimeout}`);
  const { bucketMb, overlap } = args;
  if (bucketMb !== undefined && !(bucketMb > 0)) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a positive number of MiB for --bucket-mb but received ${bucketMb}`);
  // Left out, the bucket size and the overlap are the engine's defaults (GroupConfig).
  return {
    rank, worldSize, masterAddr: args.masterAddr ?? env.MASTER_ADDR ?? '127.0.0.1', port: number(args.masterPort, 'MASTER_PORT', 29500), timeoutMs: Math.round(args.groupTimeout * 1000),
    ...(bucketMb === undefined ? {} : { bucketBytes: Math.max(1, Math.round(bucketMb * 2 ** 20)) }), ...(overlap === undefined ? {} : { overlap }),
  };
}

/** How a process joins a data-parallel training: `intra train` and `intra bench train` take the same flags. */
export const groupFlags = {
  procs: { type: 'number', describe: 'start N local ranks of one data-parallel training (the threads split between them; each computes a share of every batch)' },
  rank: { type: 'number', describe: "this process's rank in a data-parallel training (default $RANK)" },
  'world-size': { type: 'number', describe: 'ranks in the training (default $WORLD_SIZE, else 1)' },
  'master-addr': { type: 'string', describe: "rank 0's host, where the rendezvous is served (default $MASTER_ADDR, else 127.0.0.1)" },
  'master-port': { type: 'number', describe: 'the rendezvous port (default $MASTER_PORT, else 29500)' },
  'group-timeout': { type: 'number', default: 60, describe: 'seconds a rank waits for the others (rendezvous and each step): a lost rank stops the rest after at most this long' },
  'bucket-mb': { type: 'number', default: 25, describe: 'gradients are summed over the ranks in buckets of at most this many MiB (the first: 1 MiB)' },
  overlap: { type: 'boolean', default: true, describe: 'sum each gradient bucket while the backward still runs (--no-overlap: all after it)' },
} as const satisfies Record<string, Options>;

export function register(cli: Argv): Argv {
  return cli.command(
    'train <category>',
    'train a model on <category>/train/good',
    (y) =>
      y
        .positional('category', { type: 'string', demandOption: true })
        .option('out', { type: 'string', demandOption: true, describe: 'model file (.intra), also the checkpoint' })
        .options(modelOptions)
        .options(engineOptions)
        .options(trainingFlags)
        .option('resume', { type: 'boolean', default: false, describe: 'continue from the checkpoint at --out (with --image-size auto: the trials, or the chosen run without its trials)' })
        .option('overwrite', { type: 'boolean', default: false, describe: 'train a new model in place of one already at --out (without it, an existing model is an error)' })
        .option('trial-epochs', { type: 'number', describe: "epochs of each size's trial with --image-size auto (default: the paper's 200)" })
        .option('log', { type: 'string', describe: 'JSON lines per epoch (default <out>.log.jsonl)' })
        .options(mapOptions)
        .options(groupFlags),
    async (args) => {
      if (args.procs !== undefined) {
        const argv = withoutOption(commandLine(), ['--procs', '--threads']);
        process.exitCode = await launchRanks({ procs: args.procs, argv, threads: args.threads, timeoutMs: args.groupTimeout * 1000 });
        return;
      }
      const group = groupOf(args);
      if (group) process.stderr.write(`intra: rank ${group.rank} of ${group.worldSize}, rendezvous at ${group.masterAddr}:${group.port}${group.rank === 0 ? '' : ' (rank 0 writes the model and the log)'}\n`);
      const controller = new AbortController();
      const onInterrupt = (): void => {
        process.stderr.write('\nintra: interrupted; saving the checkpoint and stopping (resume with --resume)\n');
        controller.abort();
      };
      process.once('SIGINT', onInterrupt);
      const tty = process.stderr.isTTY === true;
      const bar = (p: Progress): void => {
        const width = 24, done = Math.round((width * p.step) / p.stepsPerEpoch);
        process.stderr.write(
          `\repoch ${p.epoch}/${p.epochs} [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${p.windowsPerSecond.toFixed(0)} windows/s loss ${p.loss.toFixed(5)} ETA ${duration(p.etaSeconds)}   `,
        );
      };
      try {
        const result = await trainCategory({
          category: args.category,
          out: args.out,
          ...trainingOptionsOf(args),
          ...engineOptionsOf(args),
          ...(group ? { group } : {}),
          resume: args.resume,
          overwrite: args.overwrite,
          trialEpochs: args.trialEpochs,
          log: args.log,
          signal: controller.signal,
          onProgress: tty ? bar : undefined,
          onNote: (note) => process.stderr.write(`intra: ${note}\n`),
          onEpoch: (r) => {
            const line = `epoch ${r.epoch}: train ${r.train.loss.toFixed(5)} (l2 ${r.train.l2.toFixed(5)} gms ${r.train.gms.toFixed(4)} ssim ${r.train.ssim.toFixed(4)}) validation ${r.validation.loss.toFixed(5)}${r.best ? ' best' : ''} ${r.windowsPerSecond.toFixed(0)} windows/s ${duration(r.seconds)}`;
            process.stderr.write(tty ? `\r${line}\n` : `${line}\n`);
          },
        });
        const s = result.state;
        if (result.interrupted) {
          console.log(`stopped in epoch ${s.epoch + 1}; checkpoint ${result.out} (continue with --resume)`);
          process.exitCode = 130;
        } else {
          const trained = s.trainingSeconds === undefined ? '' : ` in ${duration(s.trainingSeconds)}`;
          const stopped = s.stopped === undefined ? '' : ` (stopped by the ${s.stopped} limit)`;
          console.log(`model ${result.out}: best epoch ${s.bestEpoch} of ${s.epoch}${trained}${stopped}, validation loss ${s.bestLoss?.toFixed(5)}, image ${shapeText(modelShape(result.model))}, threshold ${s.threshold?.toExponential(3)}`);
        }
      } finally {
        process.removeListener('SIGINT', onInterrupt);
      }
    },
  );
}
