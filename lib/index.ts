/** The public API of intra-engine; the CLI is built on it. */
export * from './errors.js';
export * from './native.js';
export { infoReport } from './cli/info.js';
