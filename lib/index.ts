/** The public API of intra-engine; the CLI is built on it. */
export * from './errors.js';
export * from './native.js';
export { infoReport } from './cli/info.js';
export { readCategory, listImages, type Category, type TestItem } from './data/dataset.js';
export { loadImage, loadMask, channelsOf, packImages, type DecodedImage } from './data/images.js';
export { synthesize, renderSample, SYNTH_CATEGORIES, type SynthCategory, type SynthDefect } from './data/synth.js';
export { trainCategory, splitValidation, chooseImageSize, type TrainOptions, type TrainResult, type TrainState, type EpochRecord } from './train/train.js';
export { scoreFiles, type ScoreLine, type ScoreOptions } from './infer/score.js';
export { evaluateCategory, reportMarkdown, type Report, type Metrics } from './eval/evaluate.js';
export { rocAuc, f1Max, PixelMetrics, labelRegions } from './eval/metrics.js';
export { benchKernels, crossover, sweepChart, type KernelRecord } from './bench/kernels.js';
export { benchScore, benchTrain, type ThroughputRecord } from './bench/throughput.js';
export { profileTrain, profileScore, chromeTrace, breakdown, type ProfileReport } from './bench/profile.js';
export { flopCount, inferenceFlops, trainingFlops } from './bench/flops.js';
