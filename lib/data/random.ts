/**
 * A small deterministic PRNG (mulberry32) for the synthetic data and sampling in JS.
 *
 * @example const rand = rng(7); rand.uniform(0, 1);
 */
export interface Rng {
  next(): number;
  uniform(low: number, high: number): number;
  int(low: number, highExclusive: number): number;
  pick<T>(items: readonly T[]): T;
  normal(): number;
}

export function rng(seed: number): Rng {
  let state = seed >>> 0 || 0x9e3779b9;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    uniform: (low, high) => low + (high - low) * next(),
    int: (low, high) => low + Math.floor(next() * (high - low)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    normal: () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()),
  };
}

/** Derives a seed for item `index` of stream `name` from a base seed (FNV-1a). */
export function childSeed(base: number, name: string, index: number): number {
  let h = 2166136261 ^ base;
  for (const ch of `${name}:${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}
