/**
 * `intra info`: what this build and machine offer, and each preset's parameter count.
 *
 * @example intra info --json
 */
import type { Argv } from 'yargs';

import { ATTENTION_KINDS, capabilities, configFields, modelConfig, PRESETS, type Capabilities, type ModelConfig, type TrainConfig } from '../native.js';

export interface InfoReport {
  libtorch: string;
  blas: string;
  /** what runs the fp32 and bf16 matrix products, with which instructions */
  matrixProducts: { fp32: string; bf16: string };
  threads: number;
  /** how idle threads wait: OpenMP's policy and OpenBLAS's spin (2^N cycles), as this process set them */
  waiting: { ompWaitPolicy: string | null; blasThreadTimeout: string | null };
  bf16: boolean;
  cuda: { built: boolean; available: boolean };
  /** the CPU's model, CPUID signature, core generation, label and relevant instruction sets */
  cpu: Capabilities['cpu'];
  /** which fused kernels this build has per device (null: none for CUDA) */
  fusedKernels: { cpu: string; cuda: string | null };
  /** what data-parallel training runs its collectives on in this build (null: none) */
  dataParallel: Capabilities['dataParallel'];
  /** params[preset][attention] at 256x256, 3 channels */
  params: Record<string, Record<string, number>>;
  /** each preset's geometry: the model config's fields (the engine's table) */
  presets: Record<string, ModelConfig>;
  /** the training config's fields and their defaults (the engine's table) */
  trainDefaults: TrainConfig;
}

/** The capabilities and parameter counts that `intra info` prints. */
export function infoReport(threads = 0): InfoReport {
  const caps = capabilities(threads);
  const params: Record<string, Record<string, number>> = {};
  for (const preset of PRESETS) {
    const counts: Record<string, number> = {};
    for (const attention of ATTENTION_KINDS) {
      counts[attention] = modelConfig({ preset, attention, imageSize: 256, channels: 3 }).parameters;
    }
    params[preset] = counts;
  }
  const presets: Record<string, ModelConfig> = {};
  for (const preset of PRESETS) {
    const { parameters: _, ...config } = modelConfig({ preset });
    presets[preset] = config;
  }
  const { trainDefaults } = configFields();
  const waiting = { ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? null, blasThreadTimeout: process.env.OPENBLAS_THREAD_TIMEOUT ?? null };
  return { libtorch: caps.libtorch, blas: caps.blas, matrixProducts: caps.matrixProducts, threads: caps.threads, waiting, bf16: caps.bf16, cuda: caps.cuda, fusedKernels: caps.fusedKernels, dataParallel: caps.dataParallel, cpu: caps.cpu, params, presets, trainDefaults };
}

export function register(cli: Argv): Argv {
  return cli.command(
    'info',
    'print libtorch, BLAS, threads, bf16, CUDA and the parameter counts of the presets',
    (y) =>
      y
        .option('json', { type: 'boolean', default: false, describe: 'one JSON object' })
        .option('threads', { type: 'number', default: 0, describe: 'threads (0 = all cores)' }),
    (args) => {
      const report = infoReport(args.threads);
      if (args.json) {
        console.log(JSON.stringify(report));
        return;
      }
      console.log(`cpu       ${report.cpu.label} (${report.cpu.features.join(' ')})`);
      console.log(`libtorch  ${report.libtorch}`);
      console.log(`blas      ${report.blas}`);
      console.log(`products  fp32: ${report.matrixProducts.fp32}; bf16: ${report.matrixProducts.bf16}`);
      console.log(`threads   ${report.threads}`);
      console.log(`waiting   OMP_WAIT_POLICY ${report.waiting.ompWaitPolicy ?? 'unset'}, OPENBLAS_THREAD_TIMEOUT ${report.waiting.blasThreadTimeout ?? 'unset'}`);
      console.log(`bf16      ${report.bf16 ? 'yes' : 'no'}`);
      console.log(`cuda      built: ${report.cuda.built ? 'yes' : 'no'}, device: ${report.cuda.available ? 'yes' : 'no'}`);
      console.log(`kernels   fused on cpu: ${report.fusedKernels.cpu}; fused on cuda: ${report.fusedKernels.cuda ?? 'none in this build'}`);
      console.log(`groups    ${report.dataParallel ? `data-parallel training on CPU engines over ${report.dataParallel} (intra train --procs)` : 'no data-parallel training in this build (libgloo-dev was missing when it was built)'}`);
      console.log('\nparameters at 256x256, 3 channels');
      console.log(['preset', ...ATTENTION_KINDS].map((s) => s.padStart(12)).join(''));
      for (const [preset, counts] of Object.entries(report.params)) {
        console.log([preset, ...ATTENTION_KINDS.map((k) => (counts[k] ?? 0).toLocaleString('en-US'))].map((s) => s.padStart(12)).join(''));
      }
      // Both tables come from the engine's field tables (native/core/config_fields.h).
      const { model: modelFields } = configFields();
      console.log('\npreset geometry');
      console.log(['field', ...PRESETS].map((s) => s.padStart(14)).join(''));
      for (const { name } of modelFields) {
        console.log([name, ...PRESETS.map((p) => String(report.presets[p]![name as keyof ModelConfig]))].map((s) => s.padStart(14)).join(''));
      }
      console.log('\ntraining defaults (the recipe and the preset may set others; intra train --help)');
      for (const [name, value] of Object.entries(report.trainDefaults)) console.log(`${name.padStart(26)}  ${String(value)}`);
    },
  );
}
