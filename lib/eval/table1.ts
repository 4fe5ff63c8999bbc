/**
 * The paper's Table 1 layout for many categories' reports: Det. / Seg. ROC AUC in %, AUPRO,
 * F1-max and image size, textures then objects, with averages.
 *
 * @example console.log(table1(reports));
 */
import { percent } from '../format.js';
import type { Report } from './report.js';

/** Texture categories (MVTec AD's and ours): Table 1 averages them apart from the objects. */
export const TEXTURES: ReadonlySet<string> = new Set(['carpet', 'grid', 'leather', 'tile', 'wood', 'weave', 'grain', 'magnetic_tile']);

const pct = (v: number | null): string => percent(v, { width: 5 });

type Scores = Pick<Report, 'image_auroc' | 'pixel_auroc' | 'aupro' | 'image_f1_max'>;

/** One row of Table 1: a category (with its report) or an average over a group. */
export interface Table1Row {
  name: string;
  scores: Scores;
  /** the category's report; absent on an average row */
  report?: Report;
}

function mean(values: (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

function averageRow(name: string, group: readonly Report[]): Table1Row[] {
  if (group.length === 0) return [];
  return [{ name, scores: { image_auroc: mean(group.map((r) => r.image_auroc)), pixel_auroc: mean(group.map((r) => r.pixel_auroc)), aupro: mean(group.map((r) => r.aupro)), image_f1_max: mean(group.map((r) => r.image_f1_max)) } }];
}

/** Table 1's rows in order: textures, their average, objects, their average, the average of all. */
export function table1Rows(reports: readonly Report[]): Table1Row[] {
  const textures = reports.filter((r) => TEXTURES.has(r.category)), objects = reports.filter((r) => !TEXTURES.has(r.category));
  const rows = (group: readonly Report[]) => group.map((r) => ({ name: r.category, scores: r, report: r }));
  return [...rows(textures), ...averageRow('avg. textures', textures), ...rows(objects), ...averageRow('avg. objects', objects), ...averageRow('avg. all', reports)];
}

/** The paper's Table 1 layout as text: Det. / Seg. ROC AUC in %, AUPRO, F1-max, image size. */
export function table1(reports: readonly Report[]): string {
  const lines = ['Category        Det. / Seg.    AUPRO  F1-max  Image size'];
  for (const { name, scores: s, report } of table1Rows(reports)) {
    const size = report ? `${report.image_width} x ${report.image_height}` : '';
    lines.push(`${name.padEnd(14)} ${pct(s.image_auroc)} / ${pct(s.pixel_auroc)}  ${pct(s.aupro)}  ${pct(s.image_f1_max)}   ${size}`);
  }
  return lines.join('\n');
}
