/**
 * The report's gallery: for the highest-scoring defect-free images, the lowest-scoring defective images and the best
 * detections, labelled panels (image, reconstruction, anomaly map, overlay, mask with the
 * predicted region outlined), all heat on one scale: full heat at twice the threshold, so the
 * threshold sits mid-ramp in every picture of a report. The pictures come from the evaluation's
 * own pass: a `GallerySelection` keeps the map and reconstruction of the images that are, so
 * far, among the candidates, and nothing is decoded or inferred twice.
 *
 * @example const pick = new GallerySelection(3); ... pick.offer(item, () => rendered); ... await buildGallery(pick, options);
 */
import { join } from 'node:path';

import sharp from 'sharp';

import type { TestItem } from '../data/dataset.js';
import type { ImageShape } from '../data/images.js';
import { heatPictures } from '../native.js';

export interface ScoredItem {
  item: TestItem;
  score: number;
}

export type GalleryGroup = 'highest-scoring defect-free images' | 'lowest-scoring defective images' | 'highest-scoring defective images';

export interface GalleryEntry {
  group: GalleryGroup;
  file: string;
  defect: string;
  score: number;
  verdict: string;
  /** the composite strip written beside the report */
  panel: string;
  /** PNG data URIs of the tiles, in the order of TILE_LABELS */
  tiles: string[];
}

export const TILE_LABELS = ['image', 'reconstruction', 'anomaly map', 'overlay', 'mask, predicted region outlined'] as const;

/** What the evaluation pass computed for one image, kept while it is a candidate. */
export interface Rendered {
  pixels: Uint8Array;
  map: Float32Array;
  reconstruction: Float32Array;
}

/**
 * The gallery's candidates while images stream past: the good images scored highest and the
 * anomalous ones scored lowest and highest, `perGroup` each; only their pictures are kept.
 */
export class GallerySelection {
  readonly #good: ScoredItem[] = [];
  readonly #missed: ScoredItem[] = [];
  readonly #detected: ScoredItem[] = [];
  readonly #kept = new Map<ScoredItem, Rendered>();

  constructor(readonly perGroup: number) {}

  /** Considers one scored image; `render` is called (to copy its pictures) only if it is kept. */
  offer(s: ScoredItem, render: () => Rendered): void {
    const lists = s.item.defect === 'good'
      ? [[this.#good, (a: ScoredItem, b: ScoredItem) => b.score - a.score] as const]
      : [[this.#missed, (a: ScoredItem, b: ScoredItem) => a.score - b.score] as const, [this.#detected, (a: ScoredItem, b: ScoredItem) => b.score - a.score] as const];
    let keep = false;
    for (const [list, order] of lists) {
      list.push(s);
      list.sort(order);
      const dropped = list.length > this.perGroup ? list.pop()! : undefined;
      if (dropped !== s) keep = true;
      if (dropped && dropped !== s && !this.#held(dropped)) this.#kept.delete(dropped);
    }
    if (keep && !this.#kept.has(s)) this.#kept.set(s, render());
  }

  #held(s: ScoredItem): boolean {
    return this.#good.includes(s) || this.#missed.includes(s) || this.#detected.includes(s);
  }

  /** The picks, by group, each with its pictures. */
  picks(): { group: GalleryGroup; s: ScoredItem; rendered: Rendered }[] {
    const groups: [GalleryGroup, ScoredItem[]][] = [['highest-scoring defect-free images', this.#good], ['lowest-scoring defective images', this.#missed], ['highest-scoring defective images', this.#detected]];
    return groups.flatMap(([group, list]) => list.map((s) => ({ group, s, rendered: this.#kept.get(s)! })));
  }
}

export interface GalleryOptions {
  size: ImageShape;
  channels: 1 | 3;
  /** the decision threshold; the heat scale is twice it */
  threshold: number;
  outDir: string;
}

function verdictOf(s: ScoredItem, threshold: number): string {
  const flagged = s.score > threshold, anomalous = s.item.defect !== 'good';
  if (anomalous) return flagged ? 'detected (true positive)' : 'missed (false negative)';
  return flagged ? 'flagged (false positive)' : 'normal (true negative)';
}

const dataUri = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

/** The heat ramp from 0 to twice the threshold as a PNG strip: the colour bar. */
export async function colourBar(width = 256, height = 12): Promise<string> {
  const ramp = Float32Array.from({ length: width }, (_, i) => i / (width - 1));
  const { heat } = await heatPictures(ramp, new Uint8Array(width), { width, height: 1, channels: 1 }, 1, ['heat']);
  return dataUri(await sharp(Buffer.from(heat), { raw: { width, height: 1, channels: 3 } }).resize(width, height, { fit: 'fill', kernel: 'nearest' }).png().toBuffer());
}

/** The mask in grey with the outline of `map > threshold` in red. */
function outlinedMask(mask: Uint8Array, map: Float32Array, threshold: number, { width, height }: ImageShape): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  const predicted = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && map[y * width + x]! > threshold;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const edge = predicted(x, y) && (!predicted(x - 1, y) || !predicted(x + 1, y) || !predicted(x, y - 1) || !predicted(x, y + 1));
      const v = mask[p]! > 127 ? 200 : 30;
      out.set(edge ? [255, 40, 40] : [v, v, v], p * 3);
    }
  }
  return out;
}

export async function buildGallery(selection: GallerySelection, options: GalleryOptions): Promise<GalleryEntry[]> {
  const { size, channels, threshold } = options;
  const picks = selection.picks();
  const scale = 2 * threshold;
  const entries: GalleryEntry[] = [];
  const png = (pixels: Uint8Array, c: number) => sharp(Buffer.from(pixels), { raw: { width: size.width, height: size.height, channels: c as 1 | 3 } }).toColourspace('srgb').png().toBuffer();
  for (let k = 0; k < picks.length; k++) {
    const { group, s, rendered } = picks[k]!;
    const map = rendered.map;
    const recon = Uint8Array.from(rendered.reconstruction, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
    const { heat, overlay } = await heatPictures(map, rendered.pixels, { ...size, channels }, scale, ['heat', 'overlay']);
    const mask = s.item.mask
      ? new Uint8Array(await sharp(s.item.mask).toColourspace('b-w').resize(size.width, size.height, { fit: 'fill', kernel: 'nearest' }).raw().toBuffer())
      : new Uint8Array(size.width * size.height);
    const tiles = await Promise.all([png(rendered.pixels, channels), png(recon, channels), png(heat, 3), png(overlay, 3), png(outlinedMask(mask, map, threshold, size), 3)]);
    const index = entries.filter((e) => e.group === group).length + 1;
    const panel = join(options.outDir, `${group.replace(/ /g, '-')}-${index}.png`);
    await sharp({ create: { width: size.width * tiles.length + 4 * (tiles.length - 1), height: size.height, channels: 3, background: '#ffffff' } })
      .composite(tiles.map((input, i) => ({ input, left: i * (size.width + 4), top: 0 })))
      .png()
      .toFile(panel);
    entries.push({ group, file: s.item.file, defect: s.item.defect, score: s.score, verdict: verdictOf(s, threshold), panel, tiles: tiles.map(dataUri) });
  }
  return entries;
}
