import { describe, expect, it } from 'vitest';

import { heatPictures } from '../lib/native.js';

describe('heat-map pictures', () => {
  it('scales the map to grey and blends the heat colours over the image, by hand', async () => {
    const scale = 0.5;  // exact in float32: 0.25 * 255 / 0.5 = 127.5 rounds to 128
    const map = Float32Array.of(0, scale / 2, scale, 2 * scale);
    const image = Uint8Array.of(100, 100, 100, 100);  // grey, 1 channel
    const { grey, heat, overlay } = await heatPictures(map, image, { width: 2, height: 2, channels: 1 }, scale, ['grey', 'heat', 'overlay']);
    expect(Array.from(grey)).toEqual([0, 128, 255, 255]);
    // the ramp itself: level 0 is (0, 0, 130), level 255 is (220, 0, 0)
    expect(Array.from(heat.subarray(0, 3))).toEqual([0, 0, 130]);
    expect(Array.from(heat.subarray(6, 9))).toEqual([220, 0, 0]);
    // level 0 is (0, 0, 130): 0.55 * ramp + 0.45 * 100 -> (45, 45, 116.5 -> 117)
    expect(Array.from(overlay.subarray(0, 3))).toEqual([45, 45, 117]);
    // level 255 is (220, 0, 0) -> (166, 45, 45)
    expect(Array.from(overlay.subarray(6, 9))).toEqual([166, 45, 45]);
  });

  it('uses each colour channel of a colour image', async () => {
    const { overlay } = await heatPictures(Float32Array.of(0), Uint8Array.of(0, 100, 200), { width: 1, height: 1, channels: 3 }, 1, ['overlay']);
    expect(Array.from(overlay)).toEqual([0, 45, 162]);  // 0.45 * (0, 100, 200) + 0.55 * (0, 0, 130) = (0, 45, 161.5)
  });

  it('rejects mismatched buffers', () => {
    expect(() => heatPictures(new Float32Array(4), new Uint8Array(3), { width: 2, height: 2, channels: 1 }, 1, ['grey'])).toThrow(
      'Expected an image of 4 bytes for image but received Uint8Array of length 3',
    );
    expect(() => heatPictures(new Float32Array(1), new Uint8Array(1), { width: 1, height: 1, channels: 1 }, 1, [])).toThrow('Expected one or more of grey, heat, overlay for pictures');
    expect(() => heatPictures(new Float32Array(1), new Uint8Array(1), { width: 1, height: 1, channels: 1 }, 1, ['blue' as never])).toThrow("Expected one of grey, heat, overlay for pictures but received 'blue'");
  });

  it('renders only the pictures asked for', async () => {
    const pictures = await heatPictures(Float32Array.of(0.5), Uint8Array.of(9), { width: 1, height: 1, channels: 1 }, 1, ['heat', 'overlay']);
    expect(Object.keys(pictures).sort()).toEqual(['heat', 'overlay']);
  });
});
