import { describe, expect, it } from 'vitest';

import { turnedWindowOrigins, windowOrigins } from '../lib/native.js';

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

/** Symmetry t of an R x C array, as the engine's (torch.rot90 over rows and columns t % 4 times, then a column flip for t >= 4). */
function dihedral(a: number[][], t: number): number[][] {
  let x = a;
  for (let k = 0; k < t % 4; k++) {
    const cols = x[0]!.length;
    x = Array.from({ length: cols }, (_, i) => x.map((row) => row[cols - 1 - i]!));  // out[i][j] = x[j][C-1-i]
  }
  return t >= 4 ? x.map((row) => [...row].reverse()) : x;
}

describe('augmentation: a turned window is the window of the turned image', () => {
  it('matches torch.rot90 by hand', () => {
    expect(dihedral([[1, 2], [3, 4]], 1)).toEqual([[2, 4], [1, 3]]);  // torch.rot90([[1,2],[3,4]], 1, [0,1])
  });

  it('matches torch.rot90 on a rectangle by hand', () => {
    expect(dihedral([[1, 2, 3], [4, 5, 6]], 1)).toEqual([[3, 6], [2, 5], [1, 4]]);  // torch.rot90([[1,2,3],[4,5,6]], 1, [0,1])
  });

  it('puts every window, under every symmetry that keeps the grid, where the turned grid shows its turned patches', () => {
    // Square grids take all 8 symmetries; rectangles the 4 that keep their shape (t = 0, 2, 4, 6).
    for (const [gridRows, gridCols, window] of [[16, 16, 7], [9, 9, 7], [7, 7, 7], [10, 10, 3], [7, 12, 7], [11, 8, 5], [4, 9, 3]] as const) {
      const ids = Array.from({ length: gridRows }, (_, y) => Array.from({ length: gridCols }, (_, x) => y * gridCols + x));
      const symmetries = gridRows === gridCols ? [0, 1, 2, 3, 4, 5, 6, 7] : [0, 2, 4, 6];
      const rows: number[] = [], cols: number[] = [], transforms: number[] = [];
      for (let r = 0; r + window <= gridRows; r++) for (let c = 0; c + window <= gridCols; c++) for (const t of symmetries) rows.push(r), cols.push(c), transforms.push(t);
      const turned = turnedWindowOrigins(gridRows, gridCols, window, Int32Array.from(rows), Int32Array.from(cols), Int32Array.from(transforms));
      rows.forEach((r, k) => {
        const t = transforms[k]!, c = cols[k]!;
        const cut = ids.slice(r, r + window).map((row) => row.slice(c, c + window));
        const whole = dihedral(ids, t);
        const [r2, c2] = [turned.rows[k]!, turned.cols[k]!];
        expect(whole.slice(r2, r2 + window).map((row) => row.slice(c2, c2 + window))).toEqual(dihedral(cut, t));
      });
    }
  });

  it('rejects origins outside the grid, and quarter turns of a rectangle', () => {
    expect(() => turnedWindowOrigins(9, 9, 7, Int32Array.of(3), Int32Array.of(0), Int32Array.of(0))).toThrow('Expected window origins inside the grid');
    expect(() => turnedWindowOrigins(7, 9, 7, Int32Array.of(0), Int32Array.of(3), Int32Array.of(0))).toThrow('Expected window origins inside the grid');
    expect(() => turnedWindowOrigins(7, 9, 7, Int32Array.of(0), Int32Array.of(1), Int32Array.of(1))).toThrow(
      'a quarter turn of a 7x9 patch grid leaves the grid: only half turns and flips keep a rectangle',
    );
  });
});
