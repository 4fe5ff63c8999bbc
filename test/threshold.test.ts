// The decision threshold, parsed in one place for intra score, intra queue submit and the workers.
import { describe, expect, it } from 'vitest';

import { parseThreshold, thresholdFor } from '../lib/infer/threshold.js';

describe('the threshold option', () => {
  it('takes a number, or the model\'s (said or left out)', () => {
    expect(parseThreshold('0.02')).toBe(0.02);
    expect(parseThreshold('1e-3')).toBe(0.001);
    expect(parseThreshold(0.5)).toBe(0.5);
    for (const v of ['model', '', undefined]) expect(parseThreshold(v)).toBe('model');
    expect(thresholdFor(undefined, 0.7, 'm.intra')).toBe(0.7);
    expect(thresholdFor('model', 0.7, 'm.intra')).toBe(0.7);
    expect(thresholdFor('0.1', 0.7, 'm.intra')).toBe(0.1);
    expect(thresholdFor(undefined, undefined, 'm.intra')).toBeUndefined();  // no verdicts
  });

  it('refuses what is not a number, and "model" for a model without one', () => {
    for (const v of ['high', ' ', 'NaN', 'Infinity', '0.1x']) {
      expect(() => parseThreshold(v)).toThrow(`Expected a number or "model" for --threshold but received '${v}'`);
    }
    expect(() => thresholdFor('model', undefined, 'm.intra')).toThrow('Model m.intra holds no threshold; give one with --threshold');
  });
});
