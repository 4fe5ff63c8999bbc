/**
 * Detection and segmentation metrics, computed exactly: ROC AUC with ties counted half,
 * AUPRO up to a false-positive rate (MVTec AD's definition), and F1-max.
 *
 * @example rocAuc(Float32Array.of(0.1, 0.9), Uint8Array.of(0, 1)) // 1
 */
import { IntraError } from '../errors.js';
import type { MaskRegions } from '../native.js';

/** ROC AUC of positive scores against negative scores: P(pos > neg) + P(pos = neg) / 2. */
export function rocAucSeparate(positives: Float32Array, negatives: Float32Array): number | null {
  if (positives.length === 0 || negatives.length === 0) return null;
  const pos = Float32Array.from(positives).sort();
  const neg = Float32Array.from(negatives).sort();
  let below = 0;  // negatives strictly below the current positive
  let wins = 0;
  for (let i = 0; i < pos.length; ) {
    const v = pos[i]!;
    let j = i;
    while (j < pos.length && pos[j] === v) j++;
    while (below < neg.length && neg[below]! < v) below++;
    let equal = 0;
    while (below + equal < neg.length && neg[below + equal] === v) equal++;
    wins += (j - i) * (below + equal / 2);
    i = j;
  }
  return wins / (pos.length * neg.length);
}

/** ROC AUC of `scores` with binary `labels` (1 = anomalous). */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const split = splitByLabel(scores, labels);
  return rocAucSeparate(split.positives, split.negatives);
}

function splitByLabel(scores: ArrayLike<number>, labels: ArrayLike<number>): { positives: Float32Array; negatives: Float32Array } {
  let p = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) p++;
  const positives = new Float32Array(p), negatives = new Float32Array(labels.length - p);
  let a = 0, b = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]) positives[a++] = scores[i]!;
    else negatives[b++] = scores[i]!;
  }
  return { positives, negatives };
}

/** A point of a ROC curve: the rates when scores at or above `threshold` are called anomalous. */
export interface RocPoint {
  fpr: number;
  tpr: number;
  threshold: number;
}

/**
 * The ROC curve of sorted positive and negative scores, one point per distinct threshold
 * (from (0, 0) to (1, 1)), thinned to about `maxPoints` (a point is kept once either rate has
 * moved by 1/maxPoints; the corners of the curve where it turns are what a chart shows).
 */
function rocFromSorted(pos: Float32Array, neg: Float32Array, maxPoints: number): RocPoint[] {
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let i = pos.length - 1, j = neg.length - 1;
  const step = 1 / maxPoints;
  while (i >= 0 || j >= 0) {
    const v = Math.max(i >= 0 ? pos[i]! : -Infinity, j >= 0 ? neg[j]! : -Infinity);
    while (i >= 0 && pos[i] === v) i--;
    while (j >= 0 && neg[j] === v) j--;
    const point = { fpr: (neg.length - 1 - j) / neg.length, tpr: (pos.length - 1 - i) / pos.length, threshold: v };
    const last = points[points.length - 1]!;
    if (i < 0 && j < 0) points.push(point);
    else if (Math.abs(point.fpr - last.fpr) >= step || Math.abs(point.tpr - last.tpr) >= step) points.push(point);
  }
  return points;
}

/** The ROC curve of `scores` with binary `labels` (1 = anomalous); null without both kinds. */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>, maxPoints = 1000): RocPoint[] | null {
  const { positives, negatives } = splitByLabel(scores, labels);
  if (positives.length === 0 || negatives.length === 0) return null;
  return rocFromSorted(positives.sort(), negatives.sort(), maxPoints);
}

/** The largest F1 over all thresholds (predict anomalous when score >= threshold). */
export function f1Max(scores: ArrayLike<number>, labels: ArrayLike<number>): { f1: number; threshold: number } | null {
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) positives++;
  if (positives === 0) return null;
  let tp = 0, fp = 0, best = { f1: 0, threshold: Infinity };
  for (let i = 0; i < order.length; ) {
    const v = scores[order[i]!]!;
    while (i < order.length && scores[order[i]!] === v) {
      if (labels[order[i]!]) tp++;
      else fp++;
      i++;
    }
    const f1 = (2 * tp) / (2 * tp + fp + (positives - tp));
    if (f1 > best.f1) best = { f1, threshold: v };
  }
  return best;
}

/**
 * Collects pixel scores for AUROC and AUPRO one image at a time, so callers need not keep
 * every map: negatives (mask 0) and positives tagged with their region.
 */
export class PixelMetrics {
  #negatives: Float32Array[] = [];
  #positives: Float32Array[] = [];
  #regions: Int32Array[] = [];
  #regionSizes: number[] = [];

  /**
   * A map and its mask's regions (labelRegions(): 1 = defect, labelled once per image however
   * many metrics take it), both (height, width) at the same resolution. A map without a mask is
   * kept as given when `shared` (the caller hands the same array to several metrics and changes
   * it no more), else copied.
   */
  add(map: Float32Array, regions: MaskRegions | undefined, options: { shared?: boolean } = {}): void {
    if (!regions) {
      this.#negatives.push(options.shared ? map : Float32Array.from(map));
      return;
    }
    const { mask, labels, count } = regions;
    if (mask.length !== map.length || labels.length !== map.length) {
      throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a mask of the map's ${map.length} pixels but received ${mask.length}`);
    }
    const offset = this.#regionSizes.length;
    for (let r = 0; r < count; r++) this.#regionSizes.push(0);
    let p = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i]) p++;
    const negatives = new Float32Array(mask.length - p), positives = new Float32Array(p), regionOf = new Int32Array(p);
    let a = 0, b = 0;
    for (let i = 0; i < mask.length; i++) {
      if (mask[i]) {
        positives[a] = map[i]!;
        regionOf[a++] = offset + labels[i]! - 1;
        this.#regionSizes[offset + labels[i]! - 1]!++;
      } else {
        negatives[b++] = map[i]!;
      }
    }
    this.#negatives.push(negatives);
    this.#positives.push(positives);
    this.#regions.push(regionOf);
  }

  #concat<T extends Float32Array | Int32Array>(parts: T[], make: (n: number) => T): T {
    const out = make(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  rocAuc(): number | null {
    return rocAucSeparate(this.#concat(this.#positives, (n) => new Float32Array(n)), this.#concat(this.#negatives, (n) => new Float32Array(n)));
  }

  /** The pixel-level ROC curve, thinned to about `maxPoints`; null without both kinds of pixel. */
  rocCurve(maxPoints = 400): RocPoint[] | null {
    const pos = this.#concat(this.#positives, (n) => new Float32Array(n)), neg = this.#concat(this.#negatives, (n) => new Float32Array(n));
    if (pos.length === 0 || neg.length === 0) return null;
    return rocFromSorted(pos.sort(), neg.sort(), maxPoints);
  }

  /** Area under the per-region-overlap curve up to `fprLimit`, divided by `fprLimit`. */
  aupro(fprLimit = 0.3): number | null {
    return this.proCurve(fprLimit)?.aupro ?? null;
  }

  /**
   * The per-region-overlap curve up to `fprLimit` (thinned to about `maxPoints` for charts) and
   * the area under it divided by `fprLimit` (Bergmann et al., MVTec AD). Exact: every distinct
   * score is a threshold; the curve is cut at `fprLimit` by linear interpolation.
   */
  proCurve(fprLimit = 0.3, maxPoints = 400): { aupro: number; points: { fpr: number; pro: number }[] } | null {
    const regionCount = this.#regionSizes.length;
    const negatives = this.#concat(this.#negatives, (n) => new Float32Array(n)).sort();
    if (regionCount === 0 || negatives.length === 0) return null;
    const scores = this.#concat(this.#positives, (n) => new Float32Array(n));
    const regions = this.#concat(this.#regions, (n) => new Int32Array(n));
    // Sort positives by score, carrying the region in the low mantissa bits of a float64:
    // a float32 widened to float64 leaves the low 29 bits zero, and for scores >= 0 the
    // float64 order is the order of its bits.
    const keys = new Float64Array(scores.length);
    const words = new Uint32Array(keys.buffer);
    for (let i = 0; i < scores.length; i++) {
      keys[i] = Math.max(0, scores[i]!);
      words[2 * i] = (words[2 * i]! | regions[i]!) >>> 0;
    }
    keys.sort();
    const pos = new Float32Array(keys.length);
    const region = new Int32Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      region[i] = words[2 * i]! & 0x1fffffff;
      words[2 * i] = (words[2 * i]! & ~0x1fffffff) >>> 0;
      pos[i] = keys[i]!;  // exact: the float32 score again
    }
    // Sweep thresholds from high to low.
    let i = pos.length - 1, j = negatives.length - 1;
    let falsePositives = 0, pro = 0;
    let lastFpr = 0, lastPro = 0, area = 0;
    const points = [{ fpr: 0, pro: 0 }];
    const keep = (fpr: number, pro: number, always: boolean) => {
      const last = points[points.length - 1]!;
      if (always || Math.abs(fpr - last.fpr) >= fprLimit / maxPoints || Math.abs(pro - last.pro) >= 1 / maxPoints) points.push({ fpr, pro });
    };
    while (i >= 0 || j >= 0) {
      const v = Math.max(i >= 0 ? pos[i]! : -Infinity, j >= 0 ? negatives[j]! : -Infinity);
      while (i >= 0 && pos[i] === v) {
        pro += 1 / (this.#regionSizes[region[i]!]! * regionCount);
        i--;
      }
      while (j >= 0 && negatives[j] === v) {
        falsePositives++;
        j--;
      }
      const fpr = falsePositives / negatives.length;
      if (fpr >= fprLimit) {
        const w = fpr > lastFpr ? (fprLimit - lastFpr) / (fpr - lastFpr) : 0;
        const proAtLimit = lastPro + w * (pro - lastPro);
        area += ((fprLimit - lastFpr) * (lastPro + proAtLimit)) / 2;
        keep(fprLimit, proAtLimit, true);
        return { aupro: area / fprLimit, points };
      }
      area += ((fpr - lastFpr) * (lastPro + pro)) / 2;
      lastFpr = fpr;
      lastPro = pro;
      keep(fpr, pro, false);
    }
    keep(lastFpr, lastPro, true);
    return { aupro: area / fprLimit, points };
  }
}
