/**
 * Synthetic categories in MVTec AD layout, deterministic by seed: two textures (`weave`,
 * colour; `grain`, grey) and two objects (`washer`, `chip`), each with several defect
 * kinds and exact masks (a mask is 1 exactly where the defect changed the picture).
 *
 * @example await synthesize('/tmp/synth', { seed: 1, categories: ['weave'], size: 128 });
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import sharp from 'sharp';

import { childSeed, rng, type Rng } from './random.js';

export const SYNTH_CATEGORIES = {
  weave: { kind: 'texture', channels: 3, defects: ['scratch', 'spot', 'stain'] },
  grain: { kind: 'texture', channels: 1, defects: ['crack', 'spot', 'scratch'] },
  washer: { kind: 'object', channels: 3, defects: ['missing', 'spot', 'scratch'] },
  chip: { kind: 'object', channels: 3, defects: ['missing', 'misplaced', 'stain'] },
} as const;
export type SynthCategory = keyof typeof SYNTH_CATEGORIES;
export type SynthDefect = 'scratch' | 'spot' | 'crack' | 'stain' | 'missing' | 'misplaced';

export interface SynthOptions {
  seed?: number;
  categories?: readonly SynthCategory[];
  size?: number;
  train?: number;
  testGood?: number;
  /** test images per defect kind */
  testPerDefect?: number;
}

export interface Sample {
  /** (size, size, channels) uint8 */
  image: Uint8Array;
  /** (size, size) 0/1 */
  mask: Uint8Array;
  channels: 1 | 3;
}

/** A float RGB canvas with a defect mask. */
class Canvas {
  readonly rgb: Float32Array;
  readonly mask: Uint8Array;
  constructor(readonly size: number) {
    this.rgb = new Float32Array(size * size * 3);
    this.mask = new Uint8Array(size * size);
  }
  get(x: number, y: number): [number, number, number] {
    const i = (y * this.size + x) * 3;
    return [this.rgb[i]!, this.rgb[i + 1]!, this.rgb[i + 2]!];
  }
  set(x: number, y: number, c: readonly number[], defect = false): void {
    if (x < 0 || y < 0 || x >= this.size || y >= this.size) return;
    const i = (y * this.size + x) * 3;
    this.rgb[i] = c[0]!;
    this.rgb[i + 1] = c[1]!;
    this.rgb[i + 2] = c[2]!;
    if (defect) this.mask[y * this.size + x] = 1;
  }
}

type Colour = readonly [number, number, number];
const grey = (v: number): Colour => [v, v, v];

function paintTexture(category: 'weave' | 'grain', canvas: Canvas, r: Rng): void {
  const s = canvas.size;
  const scale = s / 128;
  if (category === 'weave') {
    const period = 8 * scale * r.uniform(0.95, 1.05);
    const phaseX = r.uniform(0, period), phaseY = r.uniform(0, period);
    const tint: Colour = [r.uniform(150, 170), r.uniform(120, 135), r.uniform(80, 95)];
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const u = Math.sin((2 * Math.PI * (x + phaseX)) / period), v = Math.sin((2 * Math.PI * (y + phaseY)) / period);
        const thread = Math.abs(u) > Math.abs(v) ? u : v;  // warp over weft
        const shade = 0.75 + 0.25 * thread + 0.04 * r.normal();
        canvas.set(x, y, tint.map((c) => c * shade));
      }
    }
  } else {
    const freq = r.uniform(0.9, 1.1) / (6 * scale);
    const wobble = r.uniform(0, 2 * Math.PI);
    const base = r.uniform(140, 160);
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const bend = 4 * scale * Math.sin((2 * Math.PI * y) / (40 * scale) + wobble);
        const ring = Math.sin(2 * Math.PI * freq * (x + bend));
        canvas.set(x, y, grey(base + 28 * ring + 5 * r.normal()));
      }
    }
  }
}

interface ObjectLayout {
  centre: [number, number];
  parts: { x0: number; y0: number; x1: number; y1: number }[];  // chip pins
}

function paintObject(category: 'washer' | 'chip', canvas: Canvas, r: Rng): ObjectLayout {
  const s = canvas.size;
  const cx = s / 2 + r.uniform(-1, 1) * s * 0.02, cy = s / 2 + r.uniform(-1, 1) * s * 0.02;
  const layout: ObjectLayout = { centre: [cx, cy], parts: [] };
  if (category === 'washer') {
    const outer = s * 0.34, inner = s * 0.14;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const d = Math.hypot(x - cx, y - cy);
        if (d < outer && d > inner) {
          const shine = 170 + 40 * Math.cos(Math.atan2(y - cy, x - cx) * 2) + 3 * r.normal();
          canvas.set(x, y, [shine, shine, shine * 1.05]);
        } else {
          canvas.set(x, y, grey(30 + 3 * r.normal()));
        }
      }
    }
  } else {
    const w = s * 0.36, h = s * 0.26;
    for (let y = 0; y < s; y++) {
      for (let x = 0; x < s; x++) {
        const inside = Math.abs(x - cx) < w / 2 && Math.abs(y - cy) < h / 2;
        canvas.set(x, y, inside ? grey(40 + 3 * r.normal()) : [30 + 2 * r.normal(), 110 + 3 * r.normal(), 60 + 2 * r.normal()]);
      }
    }
    const pins = 4, pinW = Math.max(2, Math.round(s * 0.04)), pinH = Math.max(3, Math.round(s * 0.07));
    for (let i = 0; i < pins; i++) {
      const px = Math.round(cx - w / 2 + ((i + 0.5) * w) / pins - pinW / 2);
      for (const side of [-1, 1]) {
        const y0 = side < 0 ? Math.round(cy - h / 2 - pinH) : Math.round(cy + h / 2);
        const part = { x0: px, y0, x1: px + pinW, y1: y0 + pinH };
        layout.parts.push(part);
        for (let y = part.y0; y < part.y1; y++) for (let x = part.x0; x < part.x1; x++) canvas.set(x, y, [200, 195, 170]);
      }
    }
  }
  return layout;
}

function changed(a: readonly number[], b: readonly number[]): boolean {
  return Math.round(a[0]!) !== Math.round(b[0]!) || Math.round(a[1]!) !== Math.round(b[1]!) || Math.round(a[2]!) !== Math.round(b[2]!);
}

/** Paints over (x, y) and marks it in the mask only where the picture really changes. */
function paint(canvas: Canvas, x: number, y: number, colour: readonly number[]): void {
  if (x < 0 || y < 0 || x >= canvas.size || y >= canvas.size) return;
  if (changed(canvas.get(x, y), colour)) canvas.set(x, y, colour, true);
}

function applyDefect(defect: SynthDefect, canvas: Canvas, layout: ObjectLayout | undefined, r: Rng, grey1: boolean): void {
  const s = canvas.size, scale = s / 128;
  const [cx, cy] = layout?.centre ?? [s / 2, s / 2];
  // Defects land on the object (objects) or anywhere away from the border (textures).
  const spread = layout ? s * 0.22 : s * 0.35;
  const px = Math.round(cx + r.uniform(-spread, spread)), py = Math.round(cy + r.uniform(-spread, spread));
  switch (defect) {
    case 'spot': {
      const radius = r.uniform(5, 9) * scale;
      const tone = r.uniform(15, 40);
      for (let y = Math.floor(py - radius); y <= py + radius; y++) {
        for (let x = Math.floor(px - radius); x <= px + radius; x++) {
          if (Math.hypot(x - px, y - py) <= radius) paint(canvas, x, y, grey(tone));
        }
      }
      break;
    }
    case 'scratch': {
      const length = r.uniform(25, 40) * scale, angle = r.uniform(0, Math.PI), width = Math.max(1, 1.5 * scale);
      const tone = r.next() < 0.5 ? 245 : 10;
      for (let t = -length / 2; t <= length / 2; t += 0.5) {
        const x = px + t * Math.cos(angle), y = py + t * Math.sin(angle);
        for (let dy = -width; dy <= width; dy++) for (let dx = -width; dx <= width; dx++) paint(canvas, Math.round(x + dx / 2), Math.round(y + dy / 2), grey(tone));
      }
      break;
    }
    case 'crack': {
      let x = px, y = py, angle = r.uniform(0, 2 * Math.PI);
      const steps = Math.round(45 * scale);
      for (let i = 0; i < steps; i++) {
        angle += r.uniform(-0.6, 0.6);
        x += Math.cos(angle);
        y += Math.sin(angle);
        for (let d = 0; d < Math.max(2, 2 * scale); d++) paint(canvas, Math.round(x) + d, Math.round(y), grey(15));
      }
      break;
    }
    case 'stain': {
      // A translucent colour (or, on grey, a bright) blot added over whatever is there.
      const radius = r.uniform(8, 12) * scale;
      const tint: Colour = grey1 ? [90, 90, 90] : [110, -40, -50];
      for (let y = Math.floor(py - radius); y <= py + radius; y++) {
        for (let x = Math.floor(px - radius); x <= px + radius; x++) {
          if (x < 0 || y < 0 || x >= s || y >= s) continue;
          const d = Math.hypot(x - px, y - py) / radius;
          if (d > 1) continue;
          const w = 0.6 + 0.4 * (1 - d);
          const c = canvas.get(x, y);
          paint(canvas, x, y, c.map((v, k) => Math.max(0, Math.min(255, v + w * tint[k]!))));
        }
      }
      break;
    }
    case 'missing': {
      if (layout && layout.parts.length > 0) {
        const part = r.pick(layout.parts);
        const background: Colour = [30, 110, 60];
        for (let y = part.y0; y < part.y1; y++) for (let x = part.x0; x < part.x1; x++) paint(canvas, x, y, background);
      } else {
        // A wedge of the washer broken away.
        const start = r.uniform(0, 2 * Math.PI), span = r.uniform(0.5, 0.8);
        for (let y = 0; y < s; y++) {
          for (let x = 0; x < s; x++) {
            let a = Math.atan2(y - cy, x - cx) - start;
            a = ((a % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI);
            if (a < span && Math.hypot(x - cx, y - cy) < s * 0.36) paint(canvas, x, y, grey(30));
          }
        }
      }
      break;
    }
    case 'misplaced': {
      const part = r.pick(layout?.parts ?? []);
      const shift = Math.round(r.uniform(0.6, 1.0) * (part.x1 - part.x0 + 2)) * (r.next() < 0.5 ? -1 : 1);
      const background: Colour = [30, 110, 60];
      const pin: Colour = [200, 195, 170];
      const moved = new Set<number>();
      for (let y = part.y0; y < part.y1; y++) for (let x = part.x0 + shift; x < part.x1 + shift; x++) moved.add(y * s + x);
      for (let y = part.y0; y < part.y1; y++) for (let x = part.x0; x < part.x1; x++) if (!moved.has(y * s + x)) paint(canvas, x, y, background);
      for (const i of moved) paint(canvas, i % s, Math.floor(i / s), pin);
      break;
    }
  }
}

/** Renders one picture of a category: clean with `defect` undefined. Deterministic in `seed`. */
export function renderSample(category: SynthCategory, size: number, seed: number, defect?: SynthDefect): Sample {
  const spec = SYNTH_CATEGORIES[category];
  const canvas = new Canvas(size);
  const r = rng(seed);
  const layout = spec.kind === 'object' ? paintObject(category as 'washer' | 'chip', canvas, r) : (paintTexture(category as 'weave' | 'grain', canvas, r), undefined);
  if (defect) applyDefect(defect, canvas, layout, rng(seed ^ 0xdefec7), spec.channels === 1);
  const channels = spec.channels;
  const image = new Uint8Array(size * size * channels);
  for (let p = 0; p < size * size; p++) {
    for (let c = 0; c < channels; c++) image[p * channels + c] = Math.max(0, Math.min(255, Math.round(canvas.rgb[p * 3 + c]!)));
  }
  return { image, mask: canvas.mask, channels };
}

async function writePng(file: string, pixels: Uint8Array, size: number, channels: 1 | 3): Promise<void> {
  const image = sharp(pixels, { raw: { width: size, height: size, channels } });
  // sharp writes one raw channel as RGB unless told: grey stays grey in the file.
  await (channels === 1 ? image.toColourspace('b-w') : image).png().toFile(file);
}

/**
 * Writes categories under `root/<category>/{train/good, test/<kind>, ground_truth/<kind>}`.
 * Returns the category folders written.
 */
export async function synthesize(root: string, options: SynthOptions = {}): Promise<string[]> {
  const seed = options.seed ?? 0;
  const size = options.size ?? 128;
  const trainCount = options.train ?? 40;
  const testGood = options.testGood ?? 12;
  const perDefect = options.testPerDefect ?? 6;
  const categories = options.categories ?? (Object.keys(SYNTH_CATEGORIES) as SynthCategory[]);
  const written: string[] = [];
  for (const category of categories) {
    const spec = SYNTH_CATEGORIES[category];
    const dir = join(root, category);
    const jobs: Promise<void>[] = [];
    await mkdir(join(dir, 'train', 'good'), { recursive: true });
    await mkdir(join(dir, 'test', 'good'), { recursive: true });
    for (let i = 0; i < trainCount; i++) {
      const sample = renderSample(category, size, childSeed(seed, `${category}/train`, i));
      jobs.push(writePng(join(dir, 'train', 'good', `${String(i).padStart(3, '0')}.png`), sample.image, size, spec.channels));
    }
    for (let i = 0; i < testGood; i++) {
      const sample = renderSample(category, size, childSeed(seed, `${category}/test/good`, i));
      jobs.push(writePng(join(dir, 'test', 'good', `${String(i).padStart(3, '0')}.png`), sample.image, size, spec.channels));
    }
    for (const defect of spec.defects) {
      await mkdir(join(dir, 'test', defect), { recursive: true });
      await mkdir(join(dir, 'ground_truth', defect), { recursive: true });
      for (let i = 0; i < perDefect; i++) {
        const sample = renderSample(category, size, childSeed(seed, `${category}/test/${defect}`, i), defect);
        const name = String(i).padStart(3, '0');
        jobs.push(writePng(join(dir, 'test', defect, `${name}.png`), sample.image, size, spec.channels));
        jobs.push(writePng(join(dir, 'ground_truth', defect, `${name}_mask.png`), sample.mask.map((v) => v * 255), size, 1));
      }
    }
    await Promise.all(jobs);
    written.push(dir);
  }
  return written;
}
