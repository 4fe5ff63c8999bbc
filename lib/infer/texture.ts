/**
 * The texture term's inputs: each image's local texture descriptors (textureDescriptors,
 * measured at the image's own size, before the model's downscale), and their per-pixel
 * statistics over the training images. The engine standardises an image's descriptors by them,
 * squares and sums (native/core/texture.h). The term sees what the reconstruction cannot: a
 * region ground, woven or polished otherwise than the rest, whose fine streaks the model's
 * downscale removes.
 *
 * @example
 * const statistics = new TextureStatistics({ height: 144, width: 112 });
 * for (const file of trainFiles) statistics.add(await imageTexture(file, 1, shape));
 * const { mean, spread } = statistics.statistics();
 * engine.setTextureStatistics(mean, spread);
 */
import { loadImageAtOwnSize, type ImageShape } from '../data/images.js';
import { IntraError } from '../errors.js';
import { TEXTURE_DESCRIPTORS, textureDescriptors } from '../native.js';

/** An image's texture descriptors at the model's shape: (descriptors, height, width). */
export async function imageTexture(file: string, channels: 1 | 3, shape: ImageShape): Promise<Float32Array> {
  const image = await loadImageAtOwnSize(file, channels);
  return textureDescriptors(image.pixels, { height: image.height, width: image.width, channels }, shape);
}

/** Per-pixel mean and sample spread of each descriptor over the training images (Welford's updates in double). */
export class TextureStatistics {
  #count = 0;
  readonly #mean: Float64Array;
  readonly #squares: Float64Array;

  constructor(readonly shape: ImageShape) {
    this.#mean = new Float64Array(TEXTURE_DESCRIPTORS * shape.height * shape.width);
    this.#squares = new Float64Array(this.#mean.length);
  }

  get count(): number {
    return this.#count;
  }

  add(descriptors: Float32Array): void {
    if (descriptors.length !== this.#mean.length) {
      throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected ${TEXTURE_DESCRIPTORS} texture descriptors of ${this.shape.height}x${this.shape.width} (${this.#mean.length} values) but received ${descriptors.length} values`);
    }
    this.#count++;
    const mean = this.#mean, squares = this.#squares;
    for (let i = 0; i < descriptors.length; i++) {
      const delta = descriptors[i]! - mean[i]!;
      mean[i] = mean[i]! + delta / this.#count;
      squares[i] = squares[i]! + delta * (descriptors[i]! - mean[i]!);
    }
  }

  /** The per-pixel mean and sample spread of each descriptor, float32 (descriptors, height, width): what Engine.setTextureStatistics takes. */
  statistics(): { mean: Float32Array; spread: Float32Array } {
    if (this.#count < 2) throw new IntraError('INTRA_INVALID_STATE', `Texture statistics need at least two training images (have ${this.#count})`);
    const squares = this.#squares, n = this.#count;
    return { mean: Float32Array.from(this.#mean), spread: Float32Array.from(squares, (q) => Math.sqrt(Math.max(0, q / (n - 1)))) };
  }
}
