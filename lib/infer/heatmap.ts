/**
 * Pictures of anomaly maps: the map as a grey PNG and a heat-map overlay on the image,
 * both at the image's original resolution.
 *
 * @example await writeMapPictures(map, image, { scale: threshold * 2, mapFile, overlayFile });
 */
import sharp from 'sharp';

import type { DecodedImage } from '../data/images.js';

/** A blue-cyan-yellow-red ramp, 256 entries. */
const RAMP: Uint8Array = (() => {
  const stops = [[0, 0, 0, 130], [0.35, 0, 200, 255], [0.65, 255, 230, 0], [1, 220, 0, 0]] as const;
  const ramp = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let k = 0;
    while (k < stops.length - 2 && t > stops[k + 1]![0]) k++;
    const [t0, ...c0] = stops[k]!;
    const [t1, ...c1] = stops[k + 1]!;
    const w = (t - t0) / (t1 - t0);
    for (let c = 0; c < 3; c++) ramp[i * 3 + c] = Math.round(c0[c]! + w * (c1[c]! - c0[c]!));
  }
  return ramp;
})();

/** The map scaled by `scale` (values >= scale saturate) as 8-bit grey. */
export function mapToGrey(map: Float32Array, scale: number): Uint8Array {
  const out = new Uint8Array(map.length);
  const k = scale > 0 ? 255 / scale : 0;
  for (let i = 0; i < map.length; i++) out[i] = Math.min(255, Math.round(map[i]! * k));
  return out;
}

/** Heat colours over the image: 55% heat, 45% image (grey images are shown in grey). */
export function overlay(grey: Uint8Array, image: Uint8Array, channels: number): Uint8Array {
  const out = new Uint8Array(grey.length * 3);
  for (let p = 0; p < grey.length; p++) {
    const g = grey[p]!;
    for (let c = 0; c < 3; c++) {
      const base = image[p * channels + (channels === 3 ? c : 0)]!;
      out[p * 3 + c] = Math.round(0.55 * RAMP[g * 3 + c]! + 0.45 * base);
    }
  }
  return out;
}

export async function writeMapPictures(
  map: Float32Array,
  image: DecodedImage,
  size: number,
  channels: number,
  options: { scale: number; mapFile: string; overlayFile: string },
): Promise<void> {
  const grey = mapToGrey(map, options.scale);
  const to = { width: image.originalWidth, height: image.originalHeight };
  await Promise.all([
    sharp(grey, { raw: { width: size, height: size, channels: 1 } }).resize(to.width, to.height, { fit: 'fill' }).toColourspace('b-w').png().toFile(options.mapFile),
    sharp(overlay(grey, image.pixels, channels), { raw: { width: size, height: size, channels: 3 } })
      .resize(to.width, to.height, { fit: 'fill' })
      .png()
      .toFile(options.overlayFile),
  ]);
}
