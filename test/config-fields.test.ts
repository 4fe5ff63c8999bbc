// The configs are described once, in the engine's field tables (native/core/config_fields.h):
// TypeScript's types are held against them here, so that a field added on one side and not the
// other fails this test, and its defaults are the engine's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { configFields, modelConfig, type ConfigField } from '../lib/native.js';
import { Engine } from '../lib/engine.js';

const typesSource = readFileSync(join(import.meta.dirname, '..', 'lib', 'native-types.ts'), 'utf8');

/** The fields of `export interface Name { ... }` in lib/native-types.ts, with their written types. */
function interfaceFields(name: string): Map<string, string> {
  const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`).exec(typesSource)?.[1];
  if (body === undefined) throw new Error(`no interface ${name} in lib/native-types.ts`);
  const fields = new Map<string, string>();
  for (const match of body.matchAll(/^\s{2}(\w+)\??: ([^;]+);/gm)) fields.set(match[1]!, match[2]!);
  return fields;
}

const tsType = (field: ConfigField) => ({ integer: 'number', number: 'number', boolean: 'boolean', choice: 'choice' })[field.type];

function expectSameFields(name: string, fields: ConfigField[], extra: string[] = []): void {
  const declared = interfaceFields(name);
  expect([...declared.keys()].sort(), name).toEqual([...fields.map((f) => f.name), ...extra].sort());
  for (const field of fields) {
    const written = declared.get(field.name)!;
    // A choice is a string union type named after its values (AttentionKind, Precision).
    if (tsType(field) === 'choice') expect(written, `${name}.${field.name}`).toMatch(/^[A-Z]\w+$/);
    else expect(written, `${name}.${field.name}`).toBe(tsType(field));
  }
}

describe('the config tables', () => {
  it('ModelConfig and ModelConfigInput have exactly the engine\'s model fields (the input adds the preset and the square shorthand)', () => {
    const { model } = configFields();
    expect(model.map((f) => f.name)).toContain('imageWidth');
    expectSameFields('ModelConfig', model);
    expectSameFields('ModelConfigInput', model, ['preset', 'imageSize']);
  });

  it('TrainConfig has exactly the engine\'s training fields, and its defaults are the engine\'s', () => {
    const { train, trainDefaults } = configFields();
    expectSameFields('TrainConfig', train);
    expect(Object.keys(trainDefaults).sort()).toEqual(train.map((f) => f.name).sort());
    const engine = Engine.create({ preset: 'tiny' });
    expect(engine.describe().train).toEqual(trainDefaults);
    engine.dispose();
    expect(trainDefaults).toMatchObject({ batchSize: 256, learningRate: 1e-4, validationWindowsPerImage: 256, augment: false, trainPrecision: 'fp32' });
  });

  it("MapConfig has exactly the engine's map fields, and a new engine has their defaults", () => {
    const { map, mapDefaults } = configFields();
    expectSameFields('MapConfig', map);
    expect(Object.keys(mapDefaults).sort()).toEqual(map.map((f) => f.name).sort());
    const engine = Engine.create({ preset: 'tiny' });
    expect(engine.describe().map).toEqual(mapDefaults);
    engine.dispose();
  });

  it('checks every integer field against its bounds with one message form', () => {
    expect(() => modelConfig({ preset: 'tiny', depth: 2000 })).toThrow('Expected at most 1024 for depth but received 2000');
    expect(() => modelConfig({ preset: 'tiny', heads: 0 })).toThrow('Expected a positive integer for heads but received 0');
    expect(() => Engine.create({ preset: 'tiny' }, { gmsScales: 4 })).toThrow('Expected at most 3 for gmsScales but received 4');
    expect(() => Engine.create({ preset: 'tiny' }, { validationWindowsPerImage: 0 })).toThrow('Expected a positive integer for validationWindowsPerImage but received 0');
    expect(() => Engine.create({ preset: 'tiny' }, { alpha: -1 })).toThrow('Expected a non-negative number for alpha but received');
  });
});

describe('intra info', () => {
  it('shows each preset\'s geometry and the training defaults from the engine\'s tables', async () => {
    const { infoReport } = await import('../lib/cli/info.js');
    const report = infoReport(1);
    expect(Object.keys(report.presets)).toEqual(['paper', 'small', 'cpu', 'tiny']);
    expect(report.presets.cpu).toEqual((({ parameters: _, ...c }) => c)(modelConfig({ preset: 'cpu' })));
    expect(Object.keys(report.presets.paper!).sort()).toEqual(configFields().model.map((f) => f.name).sort());
    expect(report.trainDefaults).toEqual(configFields().trainDefaults);
    // The waiting the addon's loader set (or the caller's), as the engine's threads run with it.
    expect(report.waiting).toEqual({ ompWaitPolicy: process.env.OMP_WAIT_POLICY, blasThreadTimeout: process.env.OPENBLAS_THREAD_TIMEOUT });
    expect(report.waiting.blasThreadTimeout).toMatch(/^\d+$/);
  });
});

describe('training config fields from JavaScript', () => {
  it.each([
    [{ batchSize: 0 }, 'Expected a positive integer for batchSize but received 0'],
    [{ batchSize: 2.5 }, 'Expected an integer for batchSize but received 2.5'],
    [{ batchSize: '64' }, "Expected an integer for batchSize but received '64'"],
    [{ learningRate: 0 }, 'Expected a positive number for learningRate but received 0'],
    [{ learningRate: Number.NaN }, 'Expected a finite number for learningRate but received nan'],
    [{ seed: -1 }, 'Expected a non-negative integer for seed but received -1'],
    [{ augment: 1 }, 'Expected a boolean for augment but received 1'],
    [{ trainPrecision: 'fp16' }, "Expected one of fp32, bf16 for precision but received 'fp16'"],
  ])('%o is refused: %s', (train, message) => {
    expect(() => Engine.create({ preset: 'tiny' }, train as never)).toThrow(message);
  });
});
