// The method's constants against their published values. A kernel and its reference share
// these (native/kernels/filters/constants.h, core/anomaly_map.h, libtorch's Adam options), so a
// wrong one would pass every kernel check: here each is held to the text it comes from.
import { describe, expect, it } from 'vitest';

import { configFields, methodConstants } from '../lib/native.js';
import { recipeDefaults } from '../lib/train/recipes.js';

describe('the method\'s constants', () => {
  const c = methodConstants();

  it('GMS and SSIM: RIAD\'s stabilising constant, Wang et al.\'s K1 and K2 for a dynamic range of 1', () => {
    expect(c.gmsConstant).toBe(0.0026);  // Zavrtanik et al. 2021 (RIAD), GMS on images in [0, 1]
    expect(c.ssimC1).toBe((0.01 * 1) ** 2);  // Wang et al. 2004: C1 = (K1 L)^2, K1 = 0.01
    expect(c.ssimC2).toBe((0.03 * 1) ** 2);  // C2 = (K2 L)^2, K2 = 0.03
    // Ours (constants.h says why: a 16 x 16 patch leaves 6 x 6 valid pixels under 11 x 11)
    expect([c.ssimWindow, c.ssimSigma]).toEqual([7, 1.5]);
  });

  it("the paper's anomaly map: scales 1/2 and 1/4, kernels 21 and 11 at 512 pixels, Gaussian sigma 2 (§4.2)", () => {
    expect(c.paperMapScales).toEqual([2, 4]);
    expect(c.paperKernelsAt512).toEqual([21, 11]);
    expect(c.paperBlurSigma).toBe(2);
  });

  it("the thesis's anomaly map: scales 1, 1/2, 1/4 and a 21 x 21 mean filter (eqs. 4.12-4.13)", () => {
    expect(c.thesisMapScales).toEqual([1, 2, 4]);
    expect(c.thesisMeanFilter).toBe(21);
  });

  it("Adam's defaults (Kingma & Ba 2015), no weight decay; the loss weights and recipes as published", () => {
    expect([c.adamBeta1, c.adamBeta2, c.adamEps, c.adamWeightDecay]).toEqual([0.9, 0.999, 1e-8, 0]);
    // paper eq. 3 and §4.2: alpha = beta = 0.01; Adam at 1e-4, batch 256, patience 50
    expect(configFields().trainDefaults).toMatchObject({ alpha: 0.01, beta: 0.01, learningRate: 1e-4, batchSize: 256 });
    expect(recipeDefaults('paper')).toMatchObject({ learningRate: 1e-4, batchSize: 256, patience: 50 });
    // thesis Table 4.1: learning rate 0.001, batch 256, early stopping 150 epochs, at most 20000
    expect(recipeDefaults('thesis')).toMatchObject({ learningRate: 1e-3, batchSize: 256, patience: 150, epochs: 20_000, longResiduals: false });
  });
});

describe('the presets\' training', () => {
  it('comes from the engine, the one home of the cpu preset (geometry and training)', async () => {
    const { presetTraining } = await import('../lib/train/recipes.js');
    expect(presetTraining('cpu')).toEqual({
      batchSize: 64, learningRate: 5e-4, windowsPerImage: 32, trainPrecision: 'bf16-if-available', minutes: 30,
      map: { map: 'gms+intensity', normalise: 'z', imageScore: 'topk', topkArea: 0.0025 },
    });
    for (const preset of ['paper', 'small', 'tiny'] as const) expect(presetTraining(preset)).toEqual({});
    expect(() => presetTraining('huge' as never)).toThrow("Expected one of paper, small, cpu, tiny for preset but received 'huge'");
  });
});
