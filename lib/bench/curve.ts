/**
 * Accuracy against training time: one run of a preset on a category, stopped at each budget
 * in turn (`--minutes`, the run resumed from its finished model with the next budget), and
 * evaluated on the test set at each stop. What a user gets from N minutes on this machine.
 *
 * @example const records = await accuracyCurve({ category: 'data/tile', out: 'curve', preset: 'cpu', minutes: [10, 20, 30] });
 */
import { join } from 'node:path';

import { evaluateCategory } from '../eval/evaluate.js';
import { IntraError } from '../errors.js';
import { percent } from '../format.js';
import { machineLabel, type MachineLabel, type Preset } from '../native.js';
import { modelShape } from '../data/images.js';
import { stopReason, trainCategory, type TrainOptions, type TrainState } from '../train/train.js';

export interface CurveRecord {
  bench: 'curve';
  category: string;
  preset: Preset;
  /** the budget this point was trained to */
  budget_minutes: number;
  /** minutes actually spent in epochs (training and validation) */
  training_minutes: number;
  epochs: number;
  best_epoch: number;
  windows: number;
  image_width: number;
  image_height: number;
  image_auroc: number | null;
  pixel_auroc: number | null;
  aupro: number | null;
  /** per defect type (its images and the defect-free ones): image and pixel AUROC, AUPRO */
  by_defect?: Record<string, { image_auroc: number | null; pixel_auroc: number | null; aupro: number | null }>;
  threads: number;
  machine: MachineLabel;
}

export interface CurveOptions extends Omit<TrainOptions, 'out' | 'minutes' | 'resume' | 'epochs' | 'patience'> {
  /** folder for the model, its log and one evaluation per point */
  out: string;
  /** budgets in minutes, increasing */
  minutes: readonly number[];
  onRecord?: (record: CurveRecord) => void;
  /**
   * A budget the run cannot train towards: its last epoch, repeated, would already end past it
   * (an epoch longer than the gap between budgets, e.g. on a loaded machine). It gets no point.
   */
  onSkip?: (budget: number, trainedMinutes: number, lastEpochMinutes: number) => void;
}

export async function accuracyCurve(options: CurveOptions): Promise<CurveRecord[]> {
  const budgets = options.minutes;
  if (budgets.length === 0 || budgets.some((m, i) => !(m > 0) || (i > 0 && m <= budgets[i - 1]!))) {
    throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected increasing positive minutes but received ${budgets.join(', ')}`);
  }
  const { out, onRecord, onSkip, minutes: _, ...train } = options;
  const model = join(out, 'model.intra');
  const preset = train.preset ?? 'paper';
  const records: CurveRecord[] = [];
  // Early stopping would end the curve before its budgets: only the time limits it.
  const unbounded = { epochs: 1_000_000, patience: 1_000_000 };
  let last: TrainState | undefined;
  for (let i = 0; i < budgets.length; i++) {
    if (last && stopReason({ ...last, ...unbounded, minutes: budgets[i] }) === 'minutes') {
      onSkip?.(budgets[i]!, (last.trainingSeconds ?? 0) / 60, (last.history.at(-1)?.seconds ?? 0) / 60);
      continue;
    }
    const { state, model: config } = await trainCategory({ ...train, out: model, minutes: budgets[i], resume: last !== undefined, overwrite: last === undefined, ...unbounded });
    last = state;
    const report = await evaluateCategory({ model, category: train.category, outDir: join(out, `eval-${budgets[i]}min`), threads: train.threads, device: train.device });
    const shape = modelShape(config);
    const record: CurveRecord = {
      bench: 'curve',
      category: report.category,
      preset,
      budget_minutes: budgets[i]!,
      training_minutes: (state.trainingSeconds ?? 0) / 60,
      epochs: state.epoch,
      best_epoch: state.bestEpoch,
      windows: state.history.reduce((sum, r) => sum + r.train.windows, 0),
      image_width: shape.width,
      image_height: shape.height,
      image_auroc: report.image_auroc,
      pixel_auroc: report.pixel_auroc,
      aupro: report.aupro,
      by_defect: Object.fromEntries(Object.entries(report.by_defect).map(([d, m]) => [d, { image_auroc: m.image_auroc, pixel_auroc: m.pixel_auroc, aupro: m.aupro }])),
      threads: train.threads ?? 0,
      machine: machineLabel(),
    };
    records.push(record);
    onRecord?.(record);
  }
  return records;
}

/** The curve as a text table (percent). */
export function curveTable(records: readonly CurveRecord[]): string {
  const pct = (v: number | null) => percent(v, { width: 5 });
  const lines = ['preset   minutes  epochs  windows    shape     image  pixel  AUPRO'];
  for (const r of records) {
    lines.push(
      `${r.preset.padEnd(8)} ${r.training_minutes.toFixed(1).padStart(7)}  ${String(r.epochs).padStart(6)}  ${String(r.windows).padStart(8)}  ${`${r.image_width}x${r.image_height}`.padStart(8)}  ${pct(r.image_auroc)}  ${pct(r.pixel_auroc)}  ${pct(r.aupro)}`,
    );
  }
  return lines.join('\n');
}
