/**
 * The paper's Table 1 layout for many categories' reports: Det. / Seg. ROC AUC in %, AUPRO,
 * F1-max and image size, textures then objects, with averages.
 *
 * @example console.log(table1(reports));
 */
import { percent } from '../format.js';
import type { Report } from './evaluate.js';

/** Texture categories (MVTec AD's and ours): Table 1 averages them apart from the objects. */
export const TEXTURES: ReadonlySet<string> = new Set(['carpet', 'grid', 'leather', 'tile', 'wood', 'weave', 'grain', 'magnetic_tile']);

const pct = (v: number | null): string => percent(v, { width: 5 });

/** The paper's Table 1 layout: Det. / Seg. ROC AUC in %, image size, and averages. */
export function table1(reports: readonly Report[]): string {
  const rows = ['Category        Det. / Seg.    AUPRO  F1-max  Image size'];
  const line = (name: string, det: number | null, seg: number | null, aupro: number | null, f1: number | null, size: string) =>
    `${name.padEnd(14)} ${pct(det)} / ${pct(seg)}  ${pct(aupro)}  ${pct(f1)}   ${size}`;
  const mean = (values: (number | null)[]): number | null => {
    const v = values.filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const average = (name: string, group: readonly Report[]) =>
    group.length ? [line(name, mean(group.map((r) => r.image_auroc)), mean(group.map((r) => r.pixel_auroc)), mean(group.map((r) => r.aupro)), mean(group.map((r) => r.image_f1_max)), '')] : [];
  const textures = reports.filter((r) => TEXTURES.has(r.category)), objects = reports.filter((r) => !TEXTURES.has(r.category));
  for (const group of [textures, objects]) {
    for (const r of group) rows.push(line(r.category, r.image_auroc, r.pixel_auroc, r.aupro, r.image_f1_max, `${r.image_size} x ${r.image_size}`));
    if (group === textures) rows.push(...average('avg. textures', textures));
    else rows.push(...average('avg. objects', objects));
  }
  rows.push(...average('avg. all', reports));
  return rows.join('\n');
}
