/**
 * How noisy is the validation loss? At a fixed model, the loss over the validation images'
 * fixed windows is measured for several window draws (seeds) and counts per image; its spread
 * is set against the 1e-4 margin that picks the best epoch and stops training early. The
 * training config's default count comes from this measurement (docs/real-data.md).
 *
 * @example const records = await validationNoise({ model: 'tile.intra', counts: [64, 256], seeds: 8 });
 */
import { modelShape, packImages } from '../data/images.js';
import { IntraError } from '../errors.js';
import { machineLabel, type MachineLabel } from '../native.js';
import { Engine } from '../engine.js';
import { decodeAll, type TrainState } from '../train/train.js';

/** The margin by which a validation loss must improve to count (best epoch, early stopping, --image-size auto). */
export const VALIDATION_MARGIN = 1e-4;

export interface ValidationNoiseRecord {
  bench: 'validation';
  model: string;
  windows_per_image: number;
  images: number;
  seeds: number;
  mean_loss: number;
  /** sample standard deviation over the seeds */
  std_loss: number;
  std_over_margin: number;
  seconds_per_validation: number;
  machine: MachineLabel;
}

export async function validationNoise(options: { model: string; counts?: number[]; seeds?: number; threads?: number; onRecord?: (r: ValidationNoiseRecord) => void }): Promise<ValidationNoiseRecord[]> {
  const counts = options.counts ?? [16, 64, 256, 1024], seeds = options.seeds ?? 8;
  if (seeds < 2) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected at least 2 seeds but received ${seeds}`);
  const engine = await Engine.load(options.model, { threads: options.threads, purpose: 'scoring' });
  try {
    const state = engine.metadata<Partial<TrainState>>();
    const files = state.validationFiles ?? [];
    if (files.length === 0) throw new IntraError('INTRA_INVALID_STATE', `Model ${options.model} records no validation images`);
    const { model } = engine.describe();
    const images = packImages(await decodeAll(files, modelShape(model), model.channels as 1 | 3), modelShape(model), model.channels);
    const records: ValidationNoiseRecord[] = [];
    for (const count of counts) {
      const losses: number[] = [];
      let seconds = 0;
      for (let s = 0; s < seeds; s++) {
        await engine.setValidationImages(images, { windowsPerImage: count, windowSeed: 7919 * (s + 1) });
        const started = performance.now();
        losses.push((await engine.validate()).loss);
        seconds += (performance.now() - started) / 1000;
      }
      const mean = losses.reduce((a, b) => a + b, 0) / losses.length;
      const std = Math.sqrt(losses.reduce((a, b) => a + (b - mean) ** 2, 0) / (losses.length - 1));
      const record: ValidationNoiseRecord = {
        bench: 'validation', model: options.model, windows_per_image: count, images: images.count, seeds,
        mean_loss: mean, std_loss: std, std_over_margin: std / VALIDATION_MARGIN, seconds_per_validation: seconds / seeds, machine: machineLabel(),
      };
      records.push(record);
      options.onRecord?.(record);
    }
    return records;
  } finally {
    engine.dispose();
  }
}
