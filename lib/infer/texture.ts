/**
 * The texture term's input: each image's local texture descriptors (textureDescriptors,
 * measured at the image's own size, before the model's downscale). The engine fits a Gaussian
 * per pixel over the training images' (Engine.addTextureSamples, fitTextureStatistics) and
 * scores an image by its squared Mahalanobis distance to it (native/core/texture.h). The term
 * sees what the reconstruction cannot: a region ground, woven or polished otherwise than the
 * rest, whose fine streaks the model's downscale removes.
 *
 * @example
 * const descriptors = await imageTexture('part.png', 1, { height: 144, width: 112 });
 */
import { loadImageAtOwnSize, type ImageShape } from '../data/images.js';
import { textureDescriptors } from '../native.js';

/** An image's texture descriptors at the model's shape: (descriptors, height, width). */
export async function imageTexture(file: string, channels: 1 | 3, shape: ImageShape): Promise<Float32Array> {
  const image = await loadImageAtOwnSize(file, channels);
  return textureDescriptors(image.pixels, { height: image.height, width: image.width, channels }, shape);
}
