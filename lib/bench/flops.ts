/**
 * The documented FLOP count of the model: matrix products only (2 flops per multiply-add);
 * norms, GELU, softmax and other element-wise work are left out. A training step is
 * counted as three forward passes (the backward of a matrix product costs two).
 *
 * @example flopsPerWindow(modelConfig({ preset: 'paper' })) // about 5.43e9
 */
import type { ModelConfig } from '../native.js';

export interface FlopCount {
  /** the transformer blocks and head, per window */
  perWindow: number;
  /** the patch embedding of one patch (inference embeds each image patch once) */
  embeddingPerPatch: number;
}

export function flopCount(c: ModelConfig): FlopCount {
  const S = c.windowSize * c.windowSize, D = c.dim, P = c.patchSize * c.patchSize * c.channels;
  const qk = c.attention === 'mfsa' ? D / 2 : D;
  const queryKey = c.attention === 'mfsa' ? 2 * (2 * S * D * 2 * D + 2 * S * 2 * D * qk) : 2 * (2 * S * D * D);
  const valueOutput = 2 * (2 * S * D * D);
  const mlp = 2 * (2 * S * D * c.mlpRatio * D);
  const headDim = D / c.heads, qkHead = qk / c.heads;
  const attention =
    c.attention === 'linear'
      ? c.heads * (2 * S * qkHead * headDim * 2 + 2 * S * qkHead)  // phi(K)^T V, phi(Q) KV, normaliser
      : c.heads * (2 * S * S * qkHead + 2 * S * S * headDim);     // Q K^T, P V
  const block = queryKey + valueOutput + mlp + attention;
  return { perWindow: c.depth * block + 2 * D * P, embeddingPerPatch: 2 * P * D };
}

/** Forward FLOPs to reconstruct `images` whole images (every patch from its own window). */
export function inferenceFlops(c: ModelConfig, images: number): number {
  const patches = (c.imageHeight / c.patchSize) * (c.imageWidth / c.patchSize), f = flopCount(c);
  return images * patches * (f.perWindow + f.embeddingPerPatch);
}

/** FLOPs of `windows` training windows: three forward passes each, embedding included. */
export function trainingFlops(c: ModelConfig, windows: number): number {
  const f = flopCount(c);
  return 3 * windows * (f.perWindow + c.windowSize * c.windowSize * f.embeddingPerPatch);
}
