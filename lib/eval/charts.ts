/**
 * The report's charts as inline SVG, drawn by Vega-Lite (compiled and rendered on the server
 * side, no DOM, no script in the page). Axis domains are set explicitly, so a chart's pixels
 * map back to its data: the browser test reads the ROC path and the threshold rule that way.
 *
 * @example const svg = await rocChart('Image ROC', points, 0.975);
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** Plot-area size of every chart, in CSS pixels. */
export const CHART_SIZE = { width: 320, height: 240 } as const;

/** A Vega-Lite spec rendered to an SVG string, on the server. */
export async function renderChart(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const base = { ...CHART_SIZE, background: 'white', config: { font: 'system-ui, sans-serif', axis: { labelFontSize: 11, titleFontSize: 12 } } } as const;

/** A ROC-style curve from (0, 0): `points` joined by straight segments, with the chance diagonal when `diagonal`. */
export function curveChart(title: string, points: readonly { x: number; y: number }[], axes: { x: string; y: string; xMax?: number }, diagonal = true): Promise<string> {
  const xMax = axes.xMax ?? 1;
  return renderChart({
    ...base,
    title,
    layer: [
      ...(diagonal ? [{ data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] }, mark: { type: 'line' as const, color: '#bbb', strokeDash: [4, 4] }, encoding: { x: { field: 'x', type: 'quantitative' as const }, y: { field: 'y', type: 'quantitative' as const } } }] : []),
      {
        data: { values: points.map((p, i) => ({ x: p.x, y: p.y, i })) },
        mark: { type: 'line', color: '#1f5fa8', strokeWidth: 2, clip: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: axes.x, scale: { domain: [0, xMax], nice: false } },
          y: { field: 'y', type: 'quantitative', title: axes.y, scale: { domain: [0, 1], nice: false } },
          // in the data's order: a ROC curve has vertical steps, which sorting by x would scramble
          order: { field: 'i', type: 'quantitative' },
        },
      },
    ],
  } as TopLevelSpec);
}

export interface HistogramBin {
  start: number;
  end: number;
  group: string;
  count: number;
}

/** Score histogram, one colour per group (good, each defect type), stacked, with the threshold as a rule. */
export function histogramChart(title: string, bins: readonly HistogramBin[], domain: [number, number], threshold: number | null): Promise<string> {
  return renderChart({
    ...base,
    title,
    layer: [
      {
        data: { values: bins.map((b) => ({ ...b })) },
        mark: { type: 'bar', opacity: 0.85 },
        encoding: {
          // already binned: vertical bars from start to end
          x: { field: 'start', type: 'quantitative', bin: { binned: true }, title: 'image score', scale: { domain, nice: false } },
          x2: { field: 'end' },
          y: { field: 'count', type: 'quantitative', title: 'images', stack: 'zero' },
          color: { field: 'group', type: 'nominal', title: null, scale: { scheme: 'tableau10' } },
        },
      },
      ...(threshold === null
        ? []
        : [{
            data: { values: [{ threshold }] },
            mark: { type: 'rule' as const, color: '#d62728', strokeWidth: 2, strokeDash: [6, 3] },
            encoding: { x: { field: 'threshold', type: 'quantitative' as const } },
          }]),
    ],
  } as TopLevelSpec);
}

/** Training and validation loss per epoch, the best epoch as a rule. */
export function trainingChart(history: readonly { epoch: number; train: number; validation: number }[], bestEpoch: number | null): Promise<string> {
  const values = history.flatMap((h) => [{ epoch: h.epoch, loss: h.train, kind: 'train' }, { epoch: h.epoch, loss: h.validation, kind: 'validation' }]);
  return renderChart({
    ...base,
    title: 'Training curves',
    layer: [
      {
        data: { values },
        mark: { type: 'line', point: history.length < 40 },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
          y: { field: 'loss', type: 'quantitative', title: 'loss', scale: { zero: false } },
          color: { field: 'kind', type: 'nominal', title: null },
        },
      },
      ...(bestEpoch === null ? [] : [{ data: { values: [{ best: bestEpoch }] }, mark: { type: 'rule' as const, color: '#2ca02c', strokeDash: [4, 3] }, encoding: { x: { field: 'best', type: 'quantitative' as const } } }]),
    ],
  } as TopLevelSpec);
}
