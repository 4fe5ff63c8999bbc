/**
 * Pictures of anomaly maps: the map as a grey PNG and a heat-map overlay on the image,
 * both at the image's original resolution. The per-pixel colouring runs in the addon.
 *
 * @example await writeMapPictures(map, image, 256, 3, { scale: threshold * 2, mapFile, overlayFile });
 */
import { rename, unlink } from 'node:fs/promises';

import sharp from 'sharp';

import type { DecodedImage, ImageShape } from '../data/images.js';
import { heatPictures } from '../native.js';

export async function writeMapPictures(
  map: Float32Array,
  image: DecodedImage,
  size: ImageShape,
  channels: number,
  options: { scale: number; mapFile: string; overlayFile: string },
): Promise<void> {
  const { grey, overlay } = await heatPictures(map, image.pixels, { ...size, channels }, options.scale, ['grey', 'overlay']);
  const to = { width: image.originalWidth, height: image.originalHeight };
  await Promise.all([
    writeWhole(options.mapFile, sharp(grey, { raw: { ...size, channels: 1 } }).resize(to.width, to.height, { fit: 'fill' }).toColourspace('b-w').png()),
    writeWhole(options.overlayFile, sharp(overlay, { raw: { ...size, channels: 3 } }).resize(to.width, to.height, { fit: 'fill' }).png()),
  ]);
}

/** Writes to a temporary name and renames: a reader (or a killed run) never sees half a picture. */
async function writeWhole(file: string, picture: sharp.Sharp): Promise<void> {
  const temporary = `${file}.tmp-${process.pid}`;
  try {
    await picture.toFile(temporary);
    await rename(temporary, file);
  } catch (cause) {
    await unlink(temporary).catch(() => undefined);
    throw cause;
  }
}
