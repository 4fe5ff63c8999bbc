/**
 * The report's gallery: for the worst false positives, the worst false negatives and the best
 * detections, labelled panels (image, reconstruction, anomaly map, overlay, mask with the
 * predicted region outlined), all heat on one scale: full heat at twice the threshold, so the
 * threshold sits mid-ramp in every picture of a report.
 *
 * @example const gallery = await buildGallery(engine, scored, { size: 256, channels: 3, threshold: 0.02, outDir: 'eval/x', perGroup: 3 });
 */
import { join } from 'node:path';

import sharp from 'sharp';

import type { TestItem } from '../data/dataset.js';
import { loadImage, packImages } from '../data/images.js';
import { heatPictures, type Engine } from '../native.js';

export interface ScoredItem {
  item: TestItem;
  score: number;
}

export type GalleryGroup = 'worst false positives' | 'worst false negatives' | 'best detections';

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

export interface GalleryOptions {
  size: number;
  channels: 1 | 3;
  /** the decision threshold; the heat scale is twice it */
  threshold: number;
  outDir: string;
  perGroup: number;
}

function verdictOf(s: ScoredItem, threshold: number): string {
  const flagged = s.score > threshold, anomalous = s.item.defect !== 'good';
  if (anomalous) return flagged ? 'detected (true positive)' : 'missed (false negative)';
  return flagged ? 'flagged (false positive)' : 'normal (true negative)';
}

/** The pictures to show: good images scored highest, anomalous ones scored lowest and highest. */
export function galleryPicks(scored: readonly ScoredItem[], perGroup: number): { group: GalleryGroup; s: ScoredItem }[] {
  const good = scored.filter((s) => s.item.defect === 'good').sort((a, b) => b.score - a.score);
  const anomalous = scored.filter((s) => s.item.defect !== 'good').sort((a, b) => a.score - b.score);
  return [
    ...good.slice(0, perGroup).map((s) => ({ group: 'worst false positives' as const, s })),
    ...anomalous.slice(0, perGroup).map((s) => ({ group: 'worst false negatives' as const, s })),
    ...anomalous.slice(-perGroup).reverse().map((s) => ({ group: 'best detections' as const, s })),
  ];
}

const dataUri = (png: Buffer) => `data:image/png;base64,${png.toString('base64')}`;

/** The heat ramp from 0 to twice the threshold as a PNG strip: the colour bar. */
export async function colourBar(width = 256, height = 12): Promise<string> {
  const ramp = Float32Array.from({ length: width }, (_, i) => i / (width - 1));
  const { heat } = await heatPictures(ramp, new Uint8Array(width), { width, height: 1, channels: 1 }, 1);
  return dataUri(await sharp(Buffer.from(heat), { raw: { width, height: 1, channels: 3 } }).resize(width, height, { fit: 'fill', kernel: 'nearest' }).png().toBuffer());
}

/** The mask in grey with the outline of `map > threshold` in red. */
function outlinedMask(mask: Uint8Array, map: Float32Array, threshold: number, size: number): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  const predicted = (x: number, y: number) => x >= 0 && y >= 0 && x < size && y < size && map[y * size + x]! > threshold;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const edge = predicted(x, y) && (!predicted(x - 1, y) || !predicted(x + 1, y) || !predicted(x, y - 1) || !predicted(x, y + 1));
      const v = mask[p]! > 127 ? 200 : 30;
      out.set(edge ? [255, 40, 40] : [v, v, v], p * 3);
    }
  }
  return out;
}

export async function buildGallery(engine: Engine, scored: readonly ScoredItem[], options: GalleryOptions): Promise<GalleryEntry[]> {
  const { size, channels, threshold } = options;
  const picks = galleryPicks(scored, options.perGroup);
  if (picks.length === 0) return [];
  const images = await Promise.all(picks.map((p) => loadImage(p.s.item.file, { size, channels })));
  const { maps, reconstruction } = await engine.anomalyMaps(packImages(images, size, channels), { withReconstruction: true });
  const scale = 2 * threshold;
  const entries: GalleryEntry[] = [];
  const png = (pixels: Uint8Array, c: number) => sharp(Buffer.from(pixels), { raw: { width: size, height: size, channels: c as 1 | 3 } }).toColourspace('srgb').png().toBuffer();
  for (let k = 0; k < picks.length; k++) {
    const { group, s } = picks[k]!;
    const one = size * size * channels;
    const map = maps.subarray(k * size * size, (k + 1) * size * size);
    const recon = Uint8Array.from(reconstruction!.subarray(k * one, (k + 1) * one), (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
    const { heat, overlay } = await heatPictures(map, images[k]!.pixels, { width: size, height: size, channels }, scale);
    const mask = s.item.mask
      ? new Uint8Array(await sharp(s.item.mask).toColourspace('b-w').resize(size, size, { fit: 'fill', kernel: 'nearest' }).raw().toBuffer())
      : new Uint8Array(size * size);
    const tiles = await Promise.all([png(images[k]!.pixels, channels), png(recon, channels), png(heat, 3), png(overlay, 3), png(outlinedMask(mask, map, threshold, size), 3)]);
    const index = entries.filter((e) => e.group === group).length + 1;
    const panel = join(options.outDir, `${group.replace(/ /g, '-')}-${index}.png`);
    await sharp({ create: { width: size * tiles.length + 4 * (tiles.length - 1), height: size, channels: 3, background: '#ffffff' } })
      .composite(tiles.map((input, i) => ({ input, left: i * (size + 4), top: 0 })))
      .png()
      .toFile(panel);
    entries.push({ group, file: s.item.file, defect: s.item.defect, score: s.score, verdict: verdictOf(s, threshold), panel, tiles: tiles.map(dataUri) });
  }
  return entries;
}
