/**
 * Decoding and resizing with sharp. Images become uint8 (H, W, C) at the model's size;
 * masks are binarised and kept at their original resolution for pixel metrics.
 *
 * @example const img = await loadImage('a.png', { size: 256, channels: 3 });
 */
import { stat } from 'node:fs/promises';

import sharp from 'sharp';

import { IntraError } from '../errors.js';
import { textureDescriptors, type ImageSet } from '../native.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp', '.bmp'] as const;

/** An image's (or a model's) size in pixels. */
export interface ImageShape {
  width: number;
  height: number;
}

/** A side for a square, or a shape. @example shapeOf(256) // { width: 256, height: 256 } */
export function shapeOf(size: number | ImageShape): ImageShape {
  return typeof size === 'number' ? { width: size, height: size } : size;
}

/** A model's shape. */
export function modelShape(model: { imageWidth: number; imageHeight: number }): ImageShape {
  return { width: model.imageWidth, height: model.imageHeight };
}

/** `W×H` for messages. */
export function shapeText(shape: ImageShape): string {
  return `${shape.width}x${shape.height}`;
}

export interface DecodedImage {
  file: string;
  /** uint8 (height, width, channels) at the size asked for */
  pixels: Uint8Array;
  /** the file's own size, for maps at original resolution */
  originalWidth: number;
  originalHeight: number;
  /** with `texture`: the texture descriptors measured at the file's own size, at the size asked for (TEXTURE_DESCRIPTORS, height, width) */
  texture?: Float32Array;
}

/** 1 for grey (with or without alpha), 3 for colour (with or without alpha). */
export async function channelsOf(file: string): Promise<1 | 3> {
  const meta = await sharp(file).metadata().catch((cause: unknown) => {
    throw imageError(file, cause);
  });
  return channelsFromMetadata(file, meta.channels, meta.space);
}

function channelsFromMetadata(file: string, channels: number | undefined, space: string | undefined): 1 | 3 {
  if (channels === 1 || channels === 2) return 1;
  if (channels === 3 || channels === 4) return 3;
  throw new IntraError('INTRA_IMAGE', `Cannot read ${file}: unsupported channel layout (${channels ?? '?'} channels, ${space ?? '?'})`);
}

/** What sharp would report vaguely, said precisely: missing, a loop of links, a folder, empty. */
async function checkReadableFile(file: string): Promise<void> {
  const info = await stat(file).catch((cause: NodeJS.ErrnoException) => {
    throw imageError(file, cause);
  });
  if (info.isDirectory()) throw new IntraError('INTRA_IMAGE', `Cannot read ${file}: it is a directory`);
  if (!info.isFile()) throw new IntraError('INTRA_IMAGE', `Cannot read ${file}: not a regular file`);
  if (info.size === 0) throw new IntraError('INTRA_IMAGE', `Cannot read ${file}: not a readable image (the file is empty)`);
}

function imageError(file: string, cause: unknown): IntraError {
  const why = (cause as Error)?.message ?? String(cause);
  if (/no such file|ENOENT|file is missing/i.test(why)) return new IntraError('INTRA_IMAGE', `Cannot read ${file}: no such file`);
  if (/ELOOP|too many (levels of )?symbolic links/i.test(why)) return new IntraError('INTRA_IMAGE', `Cannot read ${file}: a loop of symbolic links`);
  if (/EISDIR|is a directory/i.test(why)) return new IntraError('INTRA_IMAGE', `Cannot read ${file}: it is a directory`);
  if (/pixel limit/i.test(why)) {
    return new IntraError('INTRA_IMAGE', `Cannot read ${file}: its header claims more pixels than the limit of 268,402,689 (0x3FFF x 0x3FFF)`);
  }
  return new IntraError('INTRA_IMAGE', `Cannot read ${file}: not a readable image (${why.split('\n')[0]})`);
}

/**
 * Decodes one image (PNG, JPEG, TIFF, WebP; 8 or 16 bit) to uint8 (height, width, channels) at
 * `size` (a side for a square, or a shape).
 * Alpha is flattened onto black (transparent background is not part of the object); 16-bit
 * samples are scaled to 8 bits. An image whose channel class (grey or colour) differs from
 * `channels` is an error: a grey model does not silently score colour images. So is an image
 * of fewer pixels than one window of the model (`window` squared, L x K on a side): what the
 * model would see is an upscaled guess. (By area: a real part 103 pixels wide and 250 long
 * is an image; 1x1 or 8x8 is not.)
 */
export async function loadImage(file: string, options: { size: number | ImageShape; channels: 1 | 3; window?: number; texture?: boolean }): Promise<DecodedImage> {
  const target = shapeOf(options.size);
  try {
    await checkReadableFile(file);
    const input = sharp(file, { failOn: 'error' });
    const meta = await input.metadata();
    const own = channelsFromMetadata(file, meta.channels, meta.space);
    if (own !== options.channels) {
      throw new IntraError(
        'INTRA_CHANNELS',
        `Cannot use ${file}: it is ${own === 1 ? 'grey' : 'colour'} but the model expects ${options.channels === 1 ? 'grey (1 channel)' : 'colour (3 channels)'} images`,
      );
    }
    const width = meta.autoOrient?.width ?? meta.width ?? 0, height = meta.autoOrient?.height ?? meta.height ?? 0;
    if (options.window !== undefined && width * height < options.window * options.window) {
      throw new IntraError(
        'INTRA_IMAGE_SIZE',
        `Cannot use ${file}: ${width}x${height} pixels is less than one window of the model (${options.window}x${options.window} pixels): the model would see an upscaled guess`,
      );
    }
    let pipeline = input.flatten({ background: { r: 0, g: 0, b: 0 } }).resize(target.width, target.height, { fit: 'fill', kernel: 'lanczos3' });
    pipeline = options.channels === 1 ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb');
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== options.channels || info.width !== target.width || info.height !== target.height) {
      throw new IntraError('INTRA_IMAGE', `Cannot read ${file}: decoded to ${info.width}x${info.height}x${info.channels}`);
    }
    const decoded: DecodedImage = {
      file,
      pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
      originalWidth: width || info.width,
      originalHeight: height || info.height,
    };
    if (options.texture) decoded.texture = await imageTexture(file, options.channels, target);
    return decoded;
  } catch (cause) {
    if (cause instanceof IntraError) throw cause;
    throw imageError(file, cause);
  }
}

/**
 * Decodes one image at its own size (height, width, channels) uint8, grey or colour as
 * `channels` asks: for what is measured before the model's downscale (texture descriptors).
 */
export async function loadImageAtOwnSize(file: string, channels: 1 | 3): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  try {
    await checkReadableFile(file);
    let pipeline = sharp(file, { failOn: 'error' }).flatten({ background: { r: 0, g: 0, b: 0 } });
    pipeline = channels === 1 ? pipeline.toColourspace('b-w') : pipeline.toColourspace('srgb');
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new IntraError('INTRA_CHANNELS', `Cannot use ${file}: decoded to ${info.channels} channels, expected ${channels}`);
    return { pixels: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  } catch (cause) {
    if (cause instanceof IntraError) throw cause;
    throw imageError(file, cause);
  }
}

/**
 * An image's texture descriptors (the texture term's input, native/core/texture.h), measured at
 * its own size, before the model's downscale removes fine streaks, and brought to `shape`:
 * (TEXTURE_DESCRIPTORS, height, width).
 *
 * @example const descriptors = await imageTexture('part.png', 1, { height: 144, width: 112 });
 */
export async function imageTexture(file: string, channels: 1 | 3, shape: ImageShape): Promise<Float32Array> {
  const image = await loadImageAtOwnSize(file, channels);
  return textureDescriptors(image.pixels, { height: image.height, width: image.width, channels }, shape);
}

/** A binary mask (1 = defect) at its own resolution; checked against the image's size. */
export async function loadMask(file: string, expected?: { width: number; height: number; image: string }): Promise<{ mask: Uint8Array; width: number; height: number }> {
  try {
    const { data, info } = await sharp(file, { failOn: 'error' })
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('b-w')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (expected && (info.width !== expected.width || info.height !== expected.height)) {
      throw new IntraError(
        'INTRA_MASK',
        `Mask ${file} is ${info.width}x${info.height} but its image ${expected.image} is ${expected.width}x${expected.height}`,
      );
    }
    const mask = new Uint8Array(info.width * info.height);
    for (let i = 0; i < mask.length; i++) mask[i] = data[i]! >= 128 ? 1 : 0;
    return { mask, width: info.width, height: info.height };
  } catch (cause) {
    if (cause instanceof IntraError) throw cause;
    throw imageError(file, cause);
  }
}

/** Packs decoded images of one size into the engine's (count, H, W, C) layout. */
export function packImages(images: readonly DecodedImage[], size: number | ImageShape, channels: number): ImageSet {
  const { width, height } = shapeOf(size);
  const one = width * height * channels;
  const data = new Uint8Array(images.length * one);
  images.forEach((image, i) => data.set(image.pixels, i * one));
  const set: ImageSet = { data, count: images.length, height, width, channels };
  // The texture descriptors travel along when every image has them.
  if (images.length > 0 && images.every((image) => image.texture)) {
    const descriptors = images[0]!.texture!.length;
    set.texture = new Float32Array(images.length * descriptors);
    images.forEach((image, i) => set.texture!.set(image.texture!, i * descriptors));
  }
  return set;
}
