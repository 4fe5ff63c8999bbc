/**
 * Argument checks of the engine's API, with sharp-style messages ("Expected ... for ... but
 * received ..."), run before anything crosses to the addon.
 *
 * @example checkImages(images, 'images');
 */
import { invalidArgument, requireInteger, requireOneOf } from './errors.js';
import { DEVICES, IMAGE_SCORE_RULES, KERNEL_DEVICES, KERNEL_FAULTS, KERNELS, LOAD_PURPOSES, MAP_NORMALISATIONS, MAP_TERMS, PRECISIONS, TEXTURE_DESCRIPTORS, type CheckedImplementation, type EngineOptions, type ImageSet, type KernelCheckOptions, type KernelDevice, type KernelFault, type KernelOpDescription, type LoadOptions, type MapConfig, type ModelConfigInput } from './native-types.js';

/**
 * Only that the config is an object: every field's rules (types, bounds, the patch grid, the
 * presets and attention kinds) live in the engine's config table and validate(), one place with
 * one message each.
 */
export function checkModelInput(input: ModelConfigInput): void {
  if (typeof input !== 'object' || input === null) invalidArgument('an object', 'model config', input);
}

/** `op` is one of the registry's ops (kernelOps()) and `shape` a shape it takes. */
export function checkShape(op: unknown, shape: unknown, ops: readonly KernelOpDescription[]): void {
  const name = requireOneOf(op, 'op', ops.map((o) => o.name));
  const { ranks, shape: holds } = ops.find((o) => o.name === name)!;
  if (!Array.isArray(shape) || !ranks.includes(shape.length) || !shape.every((v) => Number.isInteger(v) && v > 0)) {
    invalidArgument(`a shape ${holds} of positive integers`, 'shape', shape);
  }
}

export function checkTarget(options: KernelCheckOptions): { device: KernelDevice; impl: CheckedImplementation; fault?: KernelFault } {
  const device = options.device ?? 'cpu', impl = options.impl ?? 'fused';
  requireOneOf(device, 'device', KERNEL_DEVICES);
  requireOneOf(impl, 'impl', ['fused', 'cuda-emulated'] as const);
  if (options.fault !== undefined) requireOneOf(options.fault, 'fault', KERNEL_FAULTS);
  return { device, impl, ...(options.fault !== undefined ? { fault: options.fault } : {}) };
}

export function checkOptions(options: EngineOptions): void {
  if (options.device !== undefined) requireOneOf(options.device, 'device', DEVICES);
  if (options.precision !== undefined) requireOneOf(options.precision, 'precision', PRECISIONS);
  if (options.threads !== undefined) requireInteger(options.threads, 'threads', 0);
  if (options.inferenceBatch !== undefined) requireInteger(options.inferenceBatch, 'inferenceBatch');
  if (options.kernels !== undefined) requireOneOf(options.kernels, 'kernels', KERNELS);
}

export function checkLoadOptions(options: LoadOptions): void {
  checkOptions(options);
  if (options.purpose !== undefined) requireOneOf(options.purpose, 'purpose', LOAD_PURPOSES);
}

export function checkImages(images: ImageSet, name: string): void {
  if (!(images?.data instanceof Uint8Array)) invalidArgument('a Uint8Array', `${name}.data`, images?.data);
  for (const key of ['count', 'height', 'width', 'channels'] as const) requireInteger(images[key], `${name}.${key}`);
  const expected = images.count * images.height * images.width * images.channels;
  if (images.data.length !== expected) {
    invalidArgument(`a buffer of count*height*width*channels = ${expected} bytes`, `${name}.data`, images.data);
  }
  if (images.texture !== undefined) {
    const descriptors = images.count * TEXTURE_DESCRIPTORS * images.height * images.width;
    if (!(images.texture instanceof Float32Array) || images.texture.length !== descriptors) {
      invalidArgument(`a Float32Array of count*${TEXTURE_DESCRIPTORS}*height*width = ${descriptors} texture descriptors`, `${name}.texture`, images.texture);
    }
  }
}

/** Map settings name only MapConfig's fields, each with one of its values: a misspelt key is an error, not a silent default. */
export function checkMapConfig(config: Partial<MapConfig>, name = 'map settings'): void {
  if (typeof config !== 'object' || config === null) invalidArgument('an object', name, config);
  const allowed = ['map', 'normalise', 'imageScore', 'topkArea'];
  for (const key of Object.keys(config)) if (!allowed.includes(key)) invalidArgument(`one of the fields ${allowed.join(', ')}`, `${name} field`, key);
  if (config.map !== undefined) requireOneOf(config.map, 'map', MAP_TERMS);
  if (config.normalise !== undefined) requireOneOf(config.normalise, 'normalise', MAP_NORMALISATIONS);
  if (config.imageScore !== undefined) requireOneOf(config.imageScore, 'imageScore', IMAGE_SCORE_RULES);
  if (config.topkArea !== undefined && !(typeof config.topkArea === 'number' && config.topkArea > 0 && config.topkArea <= 1)) {
    invalidArgument('a share of the map in (0, 1]', 'topkArea', config.topkArea);
  }
}
