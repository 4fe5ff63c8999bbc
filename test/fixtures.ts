// Tiny images generated in code for the native tests.
import { rng } from '../lib/data/random.js';
import type { ImageSet } from '../lib/native.js';

/** A deterministic PRNG: the library's (mulberry32), as a function. */
export function random(seed: number): () => number {
  return rng(seed).next;
}

/** Grey diagonal stripes (period 16) with a random phase and mild noise: an easy texture. */
export function stripes(count: number, size: number, seed: number, channels = 1): ImageSet {
  const rand = random(seed);
  const data = new Uint8Array(count * size * size * channels);
  for (let n = 0; n < count; n++) {
    const phase = rand() * 16;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const v = 128 + 70 * Math.sin((2 * Math.PI * (x + y + phase)) / 16) + (rand() - 0.5) * 8;
        for (let c = 0; c < channels; c++) data[((n * size + y) * size + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { data, count, height: size, width: size, channels };
}

/** A copy of image `index` of `set` with a flat dark square pasted at (x, y). */
export function withDefect(set: ImageSet, index: number, x: number, y: number, side: number): ImageSet {
  const { height, width, channels } = set;
  const one = height * width * channels;
  const data = set.data.slice(index * one, (index + 1) * one);
  for (let yy = y; yy < y + side; yy++) {
    for (let xx = x; xx < x + side; xx++) {
      for (let c = 0; c < channels; c++) data[(yy * width + xx) * channels + c] = 20;
    }
  }
  return { data, count: 1, height, width, channels };
}

export function pick(set: ImageSet, index: number): ImageSet {
  const one = set.height * set.width * set.channels;
  return { ...set, data: set.data.slice(index * one, (index + 1) * one), count: 1 };
}

/**
 * A tiny grey model trained two steps on stripes, saved at `model`, and `count` 64x64 PNG
 * files of those stripes in `dir` (img-000.png ...) plus `broken.png`, which is not a PNG.
 */
export async function tinyModelAndImages(model: string, dir: string, count: number): Promise<void> {
  const { Engine } = await import('../lib/engine.js');
  const { default: sharp } = await import('sharp');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const engine = Engine.create({ preset: 'tiny', channels: 1 }, { seed: 1, batchSize: 16 }, { threads: 1 });
  const set = stripes(4, 64, 2);
  await engine.setTrainingImages(set);
  await engine.trainSteps(2);
  await engine.fitNormalStatistics();
  await engine.save(model);
  engine.dispose();
  mkdirSync(dir, { recursive: true });
  const pictures = await Promise.all(
    [0, 1, 2, 3].map((i) => sharp(Buffer.from(set.data.subarray(i * 4096, (i + 1) * 4096)), { raw: { width: 64, height: 64, channels: 1 } }).toColourspace('b-w').png().toBuffer()),
  );
  for (let i = 0; i < count; i++) writeFileSync(join(dir, `img-${String(i).padStart(3, '0')}.png`), pictures[i % 4]!);
  writeFileSync(join(dir, 'broken.png'), 'not a png');
}
