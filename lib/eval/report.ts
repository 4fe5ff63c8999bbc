/**
 * What an evaluation reports (report.json): the figures overall and per defect type, the
 * curves, the gallery and the model's details. Types only: evaluate.ts computes a Report, the
 * page and the Table 1 layout read it.
 *
 * @example import type { Report } from './report.js';
 */
import type { MachineLabel, MapConfig, ModelConfig } from '../native.js';
import type { HistogramBin } from './charts.js';
import type { GalleryEntry } from './gallery.js';
import type { RocPoint } from './metrics.js';

export interface Metrics {
  image_auroc: number | null;
  pixel_auroc: number | null;
  aupro: number | null;
  image_f1_max: number | null;
  image_f1_threshold: number | null;
  images: number;
}

export interface Report extends Metrics {
  category: string;
  model: string;
  /** the model's shape in pixels */
  image_width: number;
  image_height: number;
  attention: string;
  /** the map settings the scores and maps were computed with, and their short name */
  map: MapConfig;
  map_name: string;
  by_defect: Record<string, Metrics>;
  scores: { file: string; defect: string; score: number }[];
  panels: string[];
  seconds: number;
  /** the decision threshold of the verdicts and the gallery, and where it came from */
  threshold: number | null;
  threshold_rule: string;
  model_info: ModelConfig & { preset: string | null; epochs_trained: number | null; best_epoch: number | null; best_loss: number | null; training: string | null };
  /** test images per defect type ("good" included) */
  counts: Record<string, number>;
  curves: { image_roc: RocPoint[] | null; pixel_roc: RocPoint[] | null; pro: { fpr: number; pro: number }[] | null };
  histogram: { domain: [number, number]; bins: HistogramBin[] };
  history: { epoch: number; train: number; validation: number }[];
  gallery: Omit<GalleryEntry, 'tiles'>[];
  machine: MachineLabel;
  finished_at: string;
  html: string;
}
