// Options shared by several commands.
import type { Options } from 'yargs';

import type { ImageShape } from '../data/images.js';
import { writeRecordFile, type RecordBench } from '../bench/records.js';
import { IntraError, requireInteger } from '../errors.js';
import { parseTopkArea } from '../infer/map-settings.js';
import { ATTENTION_KINDS, DEVICES, IMAGE_SCORE_RULES, MAP_NORMALISATIONS, MAP_TERMS, PRECISIONS, PRESETS, type Device, type EngineOptions, type ImageScoreRule, type MapConfig, type MapNormalisation, type MapTerms, type Precision } from '../native.js';

export const engineOptions = {
  threads: { type: 'number', default: 0, describe: 'threads (0 = all cores)' },
  device: { choices: DEVICES, default: 'cpu' as const, describe: 'cpu, cuda, or auto (says what it chose)' },
  precision: { choices: PRECISIONS, default: 'fp32' as const, describe: 'inference precision (bf16 on CPUs that have it)' },
  'inference-batch': {
    type: 'number',
    describe: 'windows per forward pass at inference (default 512): 64 needs far less memory at the same speed on a CPU (docs/fleet.md: Scoring memory)',
  },
} satisfies Record<string, Options>;

/** The engine options of a command's arguments; a bad --inference-batch is named as the flag. */
export function engineOptionsOf(args: { threads: number; device: Device; precision: Precision; inferenceBatch?: number }): EngineOptions {
  const { inferenceBatch } = args;
  if (inferenceBatch !== undefined) requireInteger(inferenceBatch, '--inference-batch');
  return { threads: args.threads, device: args.device, precision: args.precision, ...(inferenceBatch === undefined ? {} : { inferenceBatch }) };
}

/** The map settings (MapConfig) of `score`, `eval`, `train` and `refit`; left out, the model's own. */
export const mapOptions = {
  map: { choices: MAP_TERMS, describe: "the anomaly map's terms: gms (the paper's), gms+intensity (adds |x - x^|, which sees smooth brightness changes), gms+texture or gms+intensity+texture (add each image's local texture, measured at its own size, against the training images': a region finished otherwise than the rest; with --normalise z). These four flags, left out: the model's own settings (a new model: its preset's, the cpu preset's gms+intensity, z, topk 0.25%, else the paper's gms, mean, max)" },
  normalise: { choices: MAP_NORMALISATIONS, describe: "against the training images: mean (the paper's eq. 7) or z (also over each pixel's normal spread)" },
  'image-score': { choices: IMAGE_SCORE_RULES, describe: "the image's score: max (the paper's) or topk (the mean of the map's top --topk-area)" },
  'topk-area': { type: 'string', describe: 'with --image-score topk: the share of the map averaged, e.g. 0.01 or 1% (default 1%)' },
} satisfies Record<string, Options>;

/** The map settings given on the command line, or undefined when none was. */
export function mapConfigOf(args: { map?: MapTerms; normalise?: MapNormalisation; imageScore?: ImageScoreRule; topkArea?: string }): Partial<MapConfig> | undefined {
  const config: Partial<MapConfig> = {
    ...(args.map === undefined ? {} : { map: args.map }),
    ...(args.normalise === undefined ? {} : { normalise: args.normalise }),
    ...(args.imageScore === undefined ? {} : { imageScore: args.imageScore }),
    ...(args.topkArea === undefined ? {} : { topkArea: parseTopkArea(args.topkArea) }),
  };
  return Object.keys(config).length === 0 ? undefined : config;
}

export const modelOptions = {
  preset: { choices: PRESETS, default: 'paper' as const, describe: 'model size' },
  attention: { choices: ATTENTION_KINDS, describe: 'attention kind (default: the preset\'s, mfsa)' },
} satisfies Record<string, Options>;

/** "1m 05s" style durations for progress lines. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** `auto`, `square` or `WxH` (e.g. 128x256) from the command line. */
export function parseShape(text: string): 'auto' | 'square' | ImageShape {
  if (text === 'auto' || text === 'square') return text;
  const match = /^(\d+)x(\d+)$/.exec(text);
  if (!match) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected auto, square or WxH (e.g. 128x256) for --shape but received '${text}'`);
  return { width: Number(match[1]), height: Number(match[2]) };
}

/** `--record DIR` of the commands that write measurement records (lib/bench/records.ts). */
export const recordOption = {
  type: 'string',
  describe: 'also write this run\'s records into a records folder (the repository\'s: records), with the machine, libtorch, date and command; the same command on the same machine replaces its file',
} satisfies Options;

let commandLineArgs: readonly string[] = [];

/** The arguments `intra` was run with (after `intra`): what a record names as its command. */
export function commandLine(): readonly string[] {
  return commandLineArgs;
}

/** Set once per run by runCli, before the command runs. */
export function setCommandLine(argv: readonly string[]): void {
  commandLineArgs = [...argv];
}

/** With --record DIR: the run's records into DIR, and where they went on stderr. */
export async function recordRun<B extends RecordBench>(dir: string | undefined, bench: B, records: Parameters<typeof writeRecordFile<B>>[3], threads: number, onGpu = false): Promise<void> {
  if (dir === undefined) return;
  const path = await writeRecordFile(dir, bench, commandLine(), records, { threads, onGpu });
  process.stderr.write(`record: ${path}\n`);
}
