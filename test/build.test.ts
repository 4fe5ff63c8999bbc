import { existsSync, readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

describe('build manifests', () => {
  it('binding.gyp lists the same sources as CMakeLists.txt', () => {
    const cmake = readFileSync('CMakeLists.txt', 'utf8');
    const block = /set\(INTRA_SOURCES([\s\S]*?)\)/.exec(cmake)?.[1] ?? '';
    const cmakeSources = block.split(/\s+/).filter((s) => s.endsWith('.cpp'));
    const gyp = JSON.parse(readFileSync('binding.gyp', 'utf8')) as { targets: { sources: string[] }[] };
    expect(cmakeSources.length).toBeGreaterThan(5);
    // The addon's target and the per-instruction-set kernel libraries it depends on.
    const gypSources = gyp.targets.flatMap((t) => t.sources);
    expect([...gypSources].sort()).toEqual([...cmakeSources].sort());
  });

  it('npm never runs node-gyp on install', () => {
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { gypfile?: boolean; scripts: Record<string, string> };
    expect(manifest.gypfile).toBe(false);
    expect(manifest.scripts.install).toBeUndefined();
  });
});

describe('the README commands', () => {
  it('`npm run intra` runs the built CLI entry, which the package also exposes as its bin', () => {
    const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    const script = manifest.scripts.intra ?? '';
    const entry = /^node (\S+)$/.exec(script)?.[1];
    expect(entry).toBe(manifest.bin.intra);
    expect(existsSync(entry!), `${entry} is built by setup.sh (npm run build)`).toBe(true);
    expect(readFileSync('README.md', 'utf8')).toMatch(/\.\/setup\.sh && npm run intra -- demo/);
  });
});
