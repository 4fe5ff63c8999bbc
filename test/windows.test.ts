import { describe, expect, it } from 'vitest';

import { windowOrigins } from '../lib/native.js';

describe('window placement, eq. (4)-(5)', () => {
  it('centres the covered patch where it can (N = 16, L = 7)', () => {
    // 1-based: g(c) = max(1, c - 3); r = g - max(0, g + 7 - 16 - 1). Worked by hand:
    // c = 1..4 -> g = 1 -> r = 1; c = 5 -> r = 2; c = 13 -> g = 10 -> r = 10;
    // c = 14 -> g = 11 -> r = 11 - 1 = 10; c = 16 -> g = 13 -> r = 13 - 3 = 10.
    expect(Array.from(windowOrigins(16, 7))).toEqual([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9]);
  });

  it('handles the grid equal to the window and the smallest borders', () => {
    expect(Array.from(windowOrigins(7, 7))).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(windowOrigins(8, 7))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(Array.from(windowOrigins(9, 5))).toEqual([0, 0, 0, 1, 2, 3, 4, 4, 4]);
  });

  it('keeps every patch inside its window and the window inside the grid', () => {
    for (const [grid, window] of [[16, 7], [20, 7], [32, 9], [8, 3]] as const) {
      const origins = windowOrigins(grid, window);
      origins.forEach((r, t) => {
        expect(r).toBeGreaterThanOrEqual(0);
        expect(r + window).toBeLessThanOrEqual(grid);
        expect(t - r).toBeGreaterThanOrEqual(0);
        expect(t - r).toBeLessThan(window);
      });
    }
  });

  it('rejects a grid smaller than the window', () => {
    expect(() => windowOrigins(6, 7)).toThrow('Expected a grid of at least the window size 7 for gridSide but received 6');
  });
});
