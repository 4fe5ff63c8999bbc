/**
 * Streams images through a model: decoding of the next batch overlaps the engine's work
 * on this one, memory stays bounded (two batches in flight), a bad file yields an error
 * line and scoring goes on.
 *
 * @example for await (const line of scoreFiles(engine, files, { threshold: 0.02 })) console.log(JSON.stringify(line));
 */
import { mkdir } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';

import { loadImage, packImages, type DecodedImage } from '../data/images.js';
import { IntraError } from '../errors.js';
import type { Engine } from '../native.js';
import { writeMapPictures } from './heatmap.js';

export interface ScoreLine {
  file: string;
  score?: number;
  anomalous?: boolean;
  ms?: number;
  error?: string;
  code?: string;
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

async function decodeBatch(files: readonly string[], size: number, channels: 1 | 3, window: number): Promise<Decoded[]> {
  return Promise.all(
    files.map(async (file) => {
      const started = performance.now();
      try {
        const image = await loadImage(file, { size, channels, window });
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

export async function* scoreFiles(engine: Engine, files: readonly string[], options: ScoreOptions = {}): AsyncGenerator<ScoreLine> {
  const { model } = engine.describe();
  const size = model.imageSize, channels = model.channels as 1 | 3, window = model.windowSize * model.patchSize;
  const batch = options.batch ?? 8;
  const used = new Set<string>();
  if (options.mapsDir) await mkdir(options.mapsDir, { recursive: true });
  const batches: string[][] = [];
  for (let i = 0; i < files.length; i += batch) batches.push(files.slice(i, i + batch));

  let pending = batches.length > 0 ? decodeBatch(batches[0]!, size, channels, window) : undefined;
  for (let b = 0; b < batches.length; b++) {
    const decoded = await pending!;
    pending = b + 1 < batches.length ? decodeBatch(batches[b + 1]!, size, channels, window) : undefined;
    const good = decoded.filter((d) => d.image);
    let scores: Float32Array | undefined, maps: Float32Array | undefined, computeMs = 0;
    let batchError: IntraError | undefined;
    if (good.length > 0) {
      const started = performance.now();
      try {
        const packed = packImages(good.map((d) => d.image!), size, channels);
        // The maps cross back only when pictures are drawn from them.
        if (options.mapsDir) ({ scores, maps } = await engine.anomalyMaps(packed));
        else scores = await engine.anomalyScores(packed);
      } catch (cause) {
        batchError = cause instanceof IntraError ? cause : new IntraError('INTRA_NATIVE', String(cause));
      }
      computeMs = (performance.now() - started) / good.length;
    }
    let k = 0;
    for (const d of decoded) {
      if (!d.image || batchError) {
        const error = d.error ?? batchError!;
        yield { file: d.file, error: error.message, code: error.code };
        continue;
      }
      const score = scores![k]!;
      const line: ScoreLine = { file: d.file, score };
      if (options.threshold !== undefined) line.anomalous = score > options.threshold;
      if (options.mapsDir) {
        const map = maps!.subarray(k * size * size, (k + 1) * size * size);
        const scale = options.mapScale ?? (options.threshold !== undefined ? 2 * options.threshold : Math.max(score, 1e-12));
        const name = pictureName(d.file, used);
        try {
          await writeMapPictures(map, d.image, size, channels, {
            scale,
            mapFile: join(options.mapsDir, `${name}.map.png`),
            overlayFile: join(options.mapsDir, `${name}.overlay.png`),
          });
        } catch (cause) {
          // The score stands; the pictures could not be written: this image's line says so
          // and the run goes on.
          line.error = `Cannot write the map pictures of ${d.file} to ${options.mapsDir}: ${(cause as Error).message}`;
          line.code = 'INTRA_IO';
        }
      }
      line.ms = Math.round((d.ms + computeMs) * 100) / 100;
      k++;
      yield line;
    }
  }
}
