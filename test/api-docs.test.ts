// The library's reference comes from its own TSDoc comments (TypeDoc, `npm run docs:api` writes
// docs/api/): every exported item's types exported too and every {@link} resolving, warnings as
// errors (typedoc.json).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

describe('the API reference', () => {
  it('builds from the TSDoc comments without a broken link or an unexported type', () => {
    const typedoc = join(import.meta.dirname, '..', 'node_modules', '.bin', 'typedoc');
    const run = spawnSync(typedoc, ['--emit', 'none'], { encoding: 'utf8', cwd: join(import.meta.dirname, '..') });
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/\[(warning|error)\]/);
    expect(run.status).toBe(0);
  }, 120_000);
});
