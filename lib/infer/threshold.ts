/**
 * The decision threshold of a scoring run, parsed in one place for `intra score`, `intra queue
 * submit` and the workers: `model` (or nothing) for the one fitted at training, or a number.
 *
 * @example thresholdFor('0.02', 0.5, 'm.intra') // 0.02
 * @example thresholdFor('model', 0.5, 'm.intra') // 0.5
 */
import { IntraError } from '../errors.js';

/** `model`, or a finite number; anything else is INTRA_INVALID_ARGUMENT naming what was given. */
export function parseThreshold(value: string | number | undefined): number | 'model' {
  if (value === undefined || value === 'model' || value === '') return 'model';
  const number = typeof value === 'number' ? value : value.trim() === '' ? Number.NaN : Number(value);
  if (!Number.isFinite(number)) throw new IntraError('INTRA_INVALID_ARGUMENT', `Expected a number or "model" for --threshold but received '${value}'`);
  return number;
}

/**
 * The threshold to score with: the number given, or the model's. `model` said explicitly for a
 * model that holds none is an error; left out, scoring goes on without verdicts.
 */
export function thresholdFor(value: string | number | undefined, modelThreshold: number | undefined, model: string): number | undefined {
  const parsed = parseThreshold(value);
  if (parsed !== 'model') return parsed;
  if (value === 'model' && modelThreshold === undefined) {
    throw new IntraError('INTRA_INVALID_ARGUMENT', `Model ${model} holds no threshold; give one with --threshold`);
  }
  return modelThreshold;
}
