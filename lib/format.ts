import type { MachineLabel } from './native.js';

/**
 * Number formatting shared by the tables, reports and pages: one rule for percentages.
 *
 * @example percent(0.9734) // '97.3'; percent(null) // '–'; percent(0.5, { unit: true }) // '50.0%'
 */
export function percent(value: number | null | undefined, options: { unit?: boolean; width?: number } = {}): string {
  const text = value === null || value === undefined ? '–' : `${(100 * value).toFixed(1)}${options.unit ? '%' : ''}`;
  return options.width ? text.padStart(options.width) : text;
}

/**
 * One line naming the machine of a set of figures: CPU, its flags, our kernels' instruction
 * set, what runs the fp32 and bf16 matrix products. Tables and pages print the same line.
 *
 * @example machineText(machineLabel()) // 'AMD EPYC (avx2 ... avx512_bf16; our kernels avx512_bf16; fp32 products openblas Zen, bf16 onednn avx512_core_bf16; OPENBLAS_CORETYPE auto)'
 */
export function machineText(machine: MachineLabel | undefined): string {
  if (!machine) return 'unknown CPU';
  const products = machine.matrix_products ? `fp32 products ${machine.matrix_products.fp32}, bf16 ${machine.matrix_products.bf16}; ` : '';
  return `${machine.cpu} (${machine.cpu_features.join(' ')}; our kernels ${machine.kernel_isa ?? '?'}; ${products}OPENBLAS_CORETYPE ${machine.blas_coretype}${machine.omp_wait_policy ? `, OMP_WAIT_POLICY ${machine.omp_wait_policy}` : ''}${machine.blas_thread_timeout ? `, OPENBLAS_THREAD_TIMEOUT ${machine.blas_thread_timeout}` : ''})`;
}
