/**
 * `intra score <model> <images or dirs...>`: one JSON line per image.
 *
 * @example intra score bottle.intra incoming/ --out scores.jsonl --maps heat/
 */
import { once } from 'node:events';
import { open, readFile, truncate } from 'node:fs/promises';

import type { Argv } from 'yargs';

import { listImages } from '../data/dataset.js';
import { IntraError } from '../errors.js';
import { scoreFiles } from '../infer/score.js';
import { useMapSettings } from '../infer/map-settings.js';
import { thresholdFor } from '../infer/threshold.js';
import { Engine } from '../engine.js';
import { duration, engineOptions, engineOptionsOf, mapConfigOf, mapOptions } from './options.js';

export function register(cli: Argv): Argv {
  return cli.command(
    'score <model> <inputs..>',
    'score images (files or folders): one JSON line per image',
    (y) =>
      y
        .positional('model', { type: 'string', demandOption: true })
        .positional('inputs', { type: 'string', array: true, demandOption: true })
        .options(engineOptions)
        .options(mapOptions)
        .option('out', { type: 'string', describe: 'write JSON lines here instead of stdout (appended and flushed line by line)' })
        .option('resume', { type: 'boolean', default: false, describe: 'with --out: skip the images already in it (a cut last line is redone), append the rest' })
        .option('threshold', { type: 'string', describe: 'a number, or "model" for the one fitted at training (default when present)' })
        .option('maps', { type: 'string', describe: 'folder for heat-map overlays and anomaly maps (PNG)' })
        .option('batch', { type: 'number', default: 8, describe: 'images per engine call' }),
    async (args) => {
      const engine = await Engine.load(args.model, { ...engineOptionsOf(args), purpose: 'scoring' });
      let threshold: number | undefined;
      try {
        threshold = thresholdFor(args.threshold, useMapSettings(engine, mapConfigOf(args), args.model).threshold, args.model);
      } catch (error) {
        engine.dispose();
        throw error;
      }
      if (args.resume && !args.out) throw new IntraError('INTRA_USAGE', 'Expected --out <file> with --resume');
      let files = await listImages(args.inputs);
      let done = new Set<string>();
      if (args.out && args.resume) {
        done = await resumableResults(args.out);
        const before = files.length;
        files = files.filter((f) => !done.has(f));
        process.stderr.write(`intra: resuming ${args.out}: ${before - files.length} of ${before} images already scored\n`);
      }
      // Each line reaches the file (the kernel) before the next image's is written: a killed run
      // loses at most the line being written, which --resume detects and redoes.
      const out = args.out ? await open(args.out, args.resume ? 'a' : 'w') : undefined;
      let failed = 0, total = 0, stretched = 0;
      // Progress on a terminal when the results go to a file; nothing extra when piped.
      const progress = out !== undefined && process.stderr.isTTY === true;
      const started = performance.now();
      try {
        for await (const line of scoreFiles(engine, files, { threshold, mapsDir: args.maps, batch: args.batch })) {
          total++;
          if (line.error) failed++;
          if (line.warning) stretched++;
          if (progress) {
            const rate = total / ((performance.now() - started) / 1000);
            process.stderr.write(`\r${total}/${files.length} images, ${rate.toFixed(1)} images/s, ETA ${duration((files.length - total) / rate)}   `);
            if (total === files.length) process.stderr.write('\n');
          }
          const text = `${JSON.stringify(line)}\n`;
          if (out) await out.write(text);
          else if (!process.stdout.write(text)) await once(process.stdout, 'drain');
        }
      } finally {
        engine.dispose();
        await out?.close();
      }
      if (stretched > 0) {
        process.stderr.write(`intra: warning: ${stretched} of ${total} images differ in aspect from the model (see their warning field)\n`);
      }
      if (failed > 0) {
        process.stderr.write(`intra: ${failed} of ${total} files could not be scored (see their error lines)\n`);
        process.exitCode = 1;
      }
    },
  );
}

/**
 * The files already scored in a results file, for --resume. A last line cut short by a
 * killed run (no newline, or not JSON) is cut off the file, so its image is scored again.
 */
export async function resumableResults(path: string): Promise<Set<string>> {
  const text = await readFile(path, 'utf8').catch((cause: NodeJS.ErrnoException) => {
    if (cause.code === 'ENOENT') return '';
    throw new IntraError('INTRA_IO', `Cannot resume from ${path}: ${cause.message}`);
  });
  const done = new Set<string>();
  let end = 0;
  for (let start = 0; start < text.length; ) {
    const newline = text.indexOf('\n', start);
    if (newline < 0) break;
    const line = text.slice(start, newline);
    let file: unknown;
    try {
      file = (JSON.parse(line) as { file?: unknown }).file;
    } catch {
      file = undefined;
    }
    if (typeof file !== 'string') {
      if (text.indexOf('\n', newline + 1) >= 0) {
        throw new IntraError('INTRA_IO', `Cannot resume from ${path}: line ${text.slice(0, start).split('\n').length} is not a result line`);
      }
      break;  // a cut last line followed by a newline from nowhere: redo it too
    }
    done.add(file);
    end = Buffer.byteLength(text.slice(0, newline + 1));
    start = newline + 1;
  }
  if (end < Buffer.byteLength(text)) await truncate(path, end);
  return done;
}
