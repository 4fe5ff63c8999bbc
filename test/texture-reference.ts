// The texture term's Gaussian per pixel written out in float64 (native/core/texture.h): the
// training descriptors' mean and covariance, its off-diagonal part shrunk by D / (n + D), a ridge
// of 1% of the mean variance, the inverse by Gauss-Jordan elimination times the sample correction
// n max(n - D - 2, 1) / ((n + 1)(n - 1)), and the squared Mahalanobis distance.

/** samples: each (D, area) as the engine lays descriptors out. */
export function gaussianReference(samples: readonly Float32Array[], descriptors: number, area: number): { mean: Float64Array; precision: Float64Array } {
  const n = samples.length, D = descriptors;
  const mean = new Float64Array(D * area);
  for (const s of samples) s.forEach((v, i) => (mean[i] = mean[i]! + v / n));
  const covariance = new Float64Array(area * D * D);
  for (let p = 0; p < area; p++) {
    for (let a = 0; a < D; a++) {
      for (let b = 0; b < D; b++) {
        let total = 0;
        for (const s of samples) total += (s[a * area + p]! - mean[a * area + p]!) * (s[b * area + p]! - mean[b * area + p]!);
        covariance[(p * D + a) * D + b] = (a === b ? 1 : 1 - D / (n + D)) * (total / (n - 1));
      }
    }
  }
  let variance = 0;
  for (let p = 0; p < area; p++) for (let a = 0; a < D; a++) variance += covariance[(p * D + a) * D + a]!;
  const ridge = Math.max(0.01 * (variance / (area * D)), 1e-6);
  const precision = new Float64Array(area * D * D), correction = (n * Math.max(n - D - 2, 1)) / ((n + 1) * (n - 1));
  for (let p = 0; p < area; p++) {
    const m = Array.from({ length: D }, (_, a) => Array.from({ length: 2 * D }, (_, b) => (b < D ? covariance[(p * D + a) * D + b]! + (a === b ? ridge : 0) : b - D === a ? 1 : 0)));
    for (let c = 0; c < D; c++) {
      let pivot = c;
      for (let r = c + 1; r < D; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[pivot]![c]!)) pivot = r;
      [m[c], m[pivot]] = [m[pivot]!, m[c]!];
      const scale = m[c]![c]!;
      for (let k = 0; k < 2 * D; k++) m[c]![k] = m[c]![k]! / scale;
      for (let r = 0; r < D; r++) {
        if (r === c) continue;
        const f = m[r]![c]!;
        for (let k = 0; k < 2 * D; k++) m[r]![k] = m[r]![k]! - f * m[c]![k]!;
      }
    }
    for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) precision[(p * D + a) * D + b] = m[a]![D + b]! * correction;
  }
  return { mean, precision };
}

/** The squared Mahalanobis distance of one image's descriptors (D, area) per pixel. */
export function mahalanobisReference(descriptors: ArrayLike<number>, gaussian: { mean: Float64Array; precision: Float64Array }, D: number, area: number): Float64Array {
  const out = new Float64Array(area);
  for (let p = 0; p < area; p++) {
    const d = Array.from({ length: D }, (_, a) => descriptors[a * area + p]! - gaussian.mean[a * area + p]!);
    let total = 0;
    for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) total += d[a]! * gaussian.precision[(p * D + a) * D + b]! * d[b]!;
    out[p] = total;
  }
  return out;
}
