/**
 * Number formatting shared by the tables, reports and pages: one rule for percentages.
 *
 * @example percent(0.9734) // '97.3'; percent(null) // '–'; percent(0.5, { unit: true }) // '50.0%'
 */
export function percent(value: number | null | undefined, options: { unit?: boolean; width?: number } = {}): string {
  const text = value === null || value === undefined ? '–' : `${(100 * value).toFixed(1)}${options.unit ? '%' : ''}`;
  return options.width ? text.padStart(options.width) : text;
}
