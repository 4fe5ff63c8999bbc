// The native layers point down only: common <- kernels (shared root files <- each family <- the
// checks) <- core <- addon, and no family includes another. Every #include "..." of native/ is
// resolved and held to these rules.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', 'native');

/** The files under `dir` whose names match `pattern`. */
function filesUnder(dir: string, pattern: RegExp): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), pattern) : pattern.test(e.name) ? [join(dir, e.name)] : []);
}

const FAMILIES = readdirSync(join(root, 'kernels'), { withFileTypes: true }).filter((e) => e.isDirectory() && e.name !== 'checks').map((e) => e.name);

/** Where a file sits: its layer, and its family for kernel files of a family folder. */
function place(file: string): { layer: string; family?: string } {
  const [layer, sub, ...rest] = relative(root, file).split('/');
  if (layer === 'kernels' && rest.length > 0 && sub === 'checks') return { layer: 'kernels/checks' };
  if (layer === 'kernels' && rest.length > 0) return { layer: 'kernels/family', family: sub };
  if (layer === 'kernels') return { layer: 'kernels/shared' };
  return { layer: layer! };
}

// What each layer may include (besides its own folder).
const ALLOWED: Record<string, string[]> = {
  common: ['common'],
  'kernels/shared': ['common', 'kernels/shared'],
  'kernels/family': ['common', 'kernels/shared'],
  'kernels/checks': ['common', 'kernels/shared', 'kernels/family', 'kernels/checks'],
  core: ['common', 'kernels/shared', 'kernels/family', 'kernels/checks', 'core'],
  // the addon binds core; what it needs of the kernels, core reaches for it (core/kernel_interface.h)
  addon: ['common', 'core', 'addon'],
  tools: ['common', 'kernels/shared', 'kernels/family', 'kernels/checks', 'core'],
};

describe('the native layers', () => {
  it('include only what lies below them, and no family includes another', () => {
    expect(FAMILIES.sort()).toEqual(['activation', 'attention', 'bias', 'filters', 'norm', 'optim']);
    const wrong: string[] = [];
    for (const file of filesUnder(root, /\.(h|cpp|cuh|cu|inc)$/)) {
      const from = place(file);
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/^#include "([^"]+)"/gm)) {
        const to = place(normalize(join(dirname(file), target!)));
        const sameFamily = from.family !== undefined && from.family === to.family;
        const allowed = sameFamily || (ALLOWED[from.layer]!.includes(to.layer) && !(from.family && to.family));
        if (!allowed) wrong.push(`${relative(root, file)} includes ${target} (${from.layer}${from.family ? ` ${from.family}` : ''} -> ${to.layer}${to.family ? ` ${to.family}` : ''})`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('the TypeScript modules', () => {
  it('import one another without a circle, type imports included', () => {
    const lib = join(import.meta.dirname, '..', 'lib');
    const files = filesUnder(lib, /\.ts$/);
    const edges = new Map(files.map((file) => [file, [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)\b[^;]*?from '(\.[^']+)\.js';/gms)].map(([, target]) => normalize(join(dirname(file), `${target!}.ts`)))]));
    const circles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        circles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(lib, f)).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(edges.size).toBeGreaterThan(40);
    expect(circles).toEqual([]);
  });
});
