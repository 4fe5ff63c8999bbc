/**
 * Pictures of anomaly maps: the map as a grey PNG and a heat-map overlay on the image,
 * both at the image's original resolution. The per-pixel colouring runs in the addon.
 *
 * @example await writeMapPictures(map, image, 256, 3, { scale: threshold * 2, mapFile, overlayFile });
 */
import sharp from 'sharp';

import type { DecodedImage } from '../data/images.js';
import { heatPictures } from '../native.js';

export async function writeMapPictures(
  map: Float32Array,
  image: DecodedImage,
  size: number,
  channels: number,
  options: { scale: number; mapFile: string; overlayFile: string },
): Promise<void> {
  const { grey, overlay } = await heatPictures(map, image.pixels, { width: size, height: size, channels }, options.scale);
  const to = { width: image.originalWidth, height: image.originalHeight };
  await Promise.all([
    sharp(grey, { raw: { width: size, height: size, channels: 1 } }).resize(to.width, to.height, { fit: 'fill' }).toColourspace('b-w').png().toFile(options.mapFile),
    sharp(overlay, { raw: { width: size, height: size, channels: 3 } }).resize(to.width, to.height, { fit: 'fill' }).png().toFile(options.overlayFile),
  ]);
}
