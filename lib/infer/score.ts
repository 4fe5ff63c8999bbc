/**
 * Streams images through a model: decoding of the next batch overlaps the engine's work
 * on this one, memory stays bounded (two batches in flight), a bad file yields an error
 * line and scoring goes on.
 *
 * @example for await (const line of scoreFiles(engine, files, { threshold: 0.02 })) console.log(JSON.stringify(line));
 */
import { mkdir } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';

import { loadImage, modelShape, packImages, type DecodedImage, type ImageShape } from '../data/images.js';
import { IntraError } from '../errors.js';
import type { Engine } from '../engine.js';
import { writeMapPictures } from './heatmap.js';
import { usesTexture } from './map-settings.js';

export interface ScoreLine {
  file: string;
  score?: number;
  anomalous?: boolean;
  ms?: number;
  error?: string;
  code?: string;
  /** said when the image was scored but its result is less trustworthy (e.g. an aspect unlike the model's) */
  warning?: string;
}

/** Beyond this factor between an image's aspect and the model's, the stretch is called out. */
export const ASPECT_TOLERANCE = 1.25;

/**
 * The warning for an image whose aspect (width / height) differs from the model's by more than
 * ASPECT_TOLERANCE, or undefined: it is stretched to the model's shape, never silently.
 *
 * @example aspectWarning({ width: 400, height: 100 }, { width: 128, height: 128 }) // 'aspect 4.00 (400x100) ...'
 */
export function aspectWarning(image: ImageShape, model: ImageShape): string | undefined {
  const own = image.width / image.height, wanted = model.width / model.height;
  if (Math.max(own / wanted, wanted / own) <= ASPECT_TOLERANCE) return undefined;
  return `aspect ${own.toFixed(2)} (${image.width}x${image.height}) unlike the model's ${wanted.toFixed(2)} (${model.width}x${model.height}): the image was stretched to the model's shape, which can hide or invent defects`;
}

export interface ScoreOptions {
  /** images per engine call */
  batch?: number;
  threshold?: number;
  /** folder for `<name>.map.png` and `<name>.overlay.png` */
  mapsDir?: string;
  /** the value shown as full heat in pictures; default: twice the threshold, else each map's maximum */
  mapScale?: number;
}

type Decoded = { file: string; image?: DecodedImage; error?: IntraError; ms: number };

async function decodeBatch(files: readonly string[], size: ImageShape, channels: 1 | 3, window: number, texture: boolean): Promise<Decoded[]> {
  return Promise.all(
    files.map(async (file) => {
      const started = performance.now();
      try {
        const image = await loadImage(file, { size, channels, window, texture });
        return { file, image, ms: performance.now() - started };
      } catch (cause) {
        const error = cause instanceof IntraError ? cause : new IntraError('INTRA_IMAGE', `Cannot read ${file}: ${String(cause)}`);
        return { file, error, ms: performance.now() - started };
      }
    }),
  );
}

function pictureName(file: string, used: Set<string>): string {
  const rel = relative(process.cwd(), file);
  const flat = (rel.startsWith('..') ? basename(file) : rel).replace(/[\\/]/g, '__');
  let name = flat.slice(0, flat.length - extname(flat).length);
  const base = name;
  for (let k = 2; used.has(name); k++) name = `${base}-${k}`;
  used.add(name);
  return name;
}

/** Times the phases of a run (the profiler's recorder); the default runs them untimed. */
export interface PhaseTimer {
  time<T>(phase: string, run: () => Promise<T>): Promise<T>;
}
export const untimed: PhaseTimer = { time: (_, run) => run() };

/** One image through the scoring path, with what the caller asked to keep. */
export interface ScoredImage {
  line: ScoreLine;
  /** the decoded image (absent when it could not be read) */
  image?: DecodedImage;
  /** its anomaly map at the model's shape (with `keep.maps` or `mapsDir`) */
  map?: Float32Array;
  /** its reconstruction, (H, W, C) in [0, 1] (with `keep.reconstruction`) */
  reconstruction?: Float32Array;
}

export interface ScoreImagesOptions extends ScoreOptions {
  keep?: { maps?: boolean; reconstruction?: boolean };
  /** phases: "decode" (the wait for the next batch, whose decoding overlaps compute), "engine call", "pictures" */
  timer?: PhaseTimer;
}

/**
 * The scoring path itself: `intra score`, `intra eval`, the fleet's workers and `intra profile
 * score` all run it, so what is profiled is what runs.
 */
export async function* scoreImages(engine: Engine, files: readonly string[], options: ScoreImagesOptions = {}): AsyncGenerator<ScoredImage> {
  const { model } = engine.describe();
  const size = modelShape(model), channels = model.channels as 1 | 3, window = model.windowSize * model.patchSize;
  const area = size.width * size.height, batch = options.batch ?? 8, timer = options.timer ?? untimed;
  // The texture term reads each image at its own size too (decoding, beside the engine's work).
  const texture = usesTexture(engine.describe().map);
  const wantMaps = options.mapsDir !== undefined || options.keep?.maps === true, wantReconstruction = options.keep?.reconstruction === true;
  const used = new Set<string>();
  if (options.mapsDir) await mkdir(options.mapsDir, { recursive: true });
  const batches: string[][] = [];
  for (let i = 0; i < files.length; i += batch) batches.push(files.slice(i, i + batch));

  let pending = batches.length > 0 ? decodeBatch(batches[0]!, size, channels, window, texture) : undefined;
  for (let b = 0; b < batches.length; b++) {
    const decoded = await timer.time('decode', () => pending!);
    pending = b + 1 < batches.length ? decodeBatch(batches[b + 1]!, size, channels, window, texture) : undefined;
    const good = decoded.filter((d) => d.image);
    let scores: Float32Array | undefined, maps: Float32Array | undefined, reconstruction: Float32Array | undefined, computeMs = 0;
    let batchError: IntraError | undefined;
    if (good.length > 0) {
      const started = performance.now();
      try {
        const packed = packImages(good.map((d) => d.image!), size, channels);
        // The maps cross back only when they are used.
        if (wantMaps || wantReconstruction) ({ scores, maps, reconstruction } = await timer.time('engine call', () => engine.anomalyMaps(packed, { withReconstruction: wantReconstruction })));
        else scores = await timer.time('engine call', () => engine.anomalyScores(packed));
      } catch (cause) {
        batchError = cause instanceof IntraError ? cause : new IntraError('INTRA_NATIVE', String(cause));
      }
      computeMs = (performance.now() - started) / good.length;
    }
    let k = 0;
    for (const d of decoded) {
      if (!d.image || batchError) {
        const error = d.error ?? batchError!;
        yield { line: { file: d.file, error: error.message, code: error.code } };
        continue;
      }
      const score = scores![k]!;
      const line: ScoreLine = { file: d.file, score };
      if (options.threshold !== undefined) line.anomalous = score > options.threshold;
      const warning = aspectWarning({ width: d.image.originalWidth, height: d.image.originalHeight }, size);
      if (warning !== undefined) line.warning = warning;
      const map = maps?.subarray(k * area, (k + 1) * area);
      if (options.mapsDir) {
        const scale = options.mapScale ?? (options.threshold !== undefined ? 2 * options.threshold : Math.max(score, 1e-12));
        const name = pictureName(d.file, used);
        try {
          await timer.time('pictures', () => writeMapPictures(map!, d.image!, size, channels, {
            scale,
            mapFile: join(options.mapsDir!, `${name}.map.png`),
            overlayFile: join(options.mapsDir!, `${name}.overlay.png`),
          }));
        } catch (cause) {
          // The score stands; the pictures could not be written: this image's line says so
          // and the run goes on.
          line.error = `Cannot write the map pictures of ${d.file} to ${options.mapsDir}: ${(cause as Error).message}`;
          line.code = 'INTRA_IO';
        }
      }
      line.ms = Math.round((d.ms + computeMs) * 100) / 100;
      const pixels = area * channels;
      yield { line, image: d.image, map, reconstruction: reconstruction?.subarray(k * pixels, (k + 1) * pixels) };
      k++;
    }
  }
}

/** The scoring path's JSON lines (see scoreImages); `timer` times its phases (the profiler). */
export async function* scoreFiles(engine: Engine, files: readonly string[], options: ScoreOptions = {}, timer?: PhaseTimer): AsyncGenerator<ScoreLine> {
  for await (const scored of scoreImages(engine, files, { ...options, timer })) yield scored.line;
}
