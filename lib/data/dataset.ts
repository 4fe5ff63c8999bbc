/**
 * Dataset layouts: MVTec AD (`<category>/train/good`, `<category>/test/<kind>`,
 * `<category>/ground_truth/<kind>/<name>_mask.png`) and plain lists of images for scoring.
 *
 * @example const category = await readCategory('data/bottle');
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';

import { IntraError } from '../errors.js';
import { IMAGE_EXTENSIONS } from './images.js';

export interface TestItem {
  file: string;
  /** `good` or the defect kind (the folder name) */
  defect: string;
  /** the ground-truth mask; absent for good images */
  mask?: string;
}

export interface Category {
  dir: string;
  name: string;
  train: string[];
  test: TestItem[];
}

function isImage(file: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(extname(file).toLowerCase());
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

async function imagesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isFile() && isImage(e.name)).map((e) => join(dir, e.name)).sort();
}

function datasetError(message: string): IntraError {
  return new IntraError('INTRA_DATASET', message);
}

/** The training images of a category; `requireTest` also reads test images and their masks. */
export async function readCategory(dir: string, options: { requireTest?: boolean } = {}): Promise<Category> {
  if (!(await isDirectory(dir))) throw datasetError(`Category folder ${dir} does not exist`);
  const trainDir = join(dir, 'train', 'good');
  const category: Category = { dir, name: basename(dir), train: [], test: [] };
  if (await isDirectory(trainDir)) {
    category.train = await imagesIn(trainDir);
  } else if (!options.requireTest) {
    throw datasetError(`Category folder ${dir} has no train/good folder (expected the MVTec AD layout)`);
  }
  if (!options.requireTest) {
    if (category.train.length === 0) throw datasetError(`Category folder ${dir}: train/good holds no images`);
    return category;
  }
  const testDir = join(dir, 'test');
  if (!(await isDirectory(testDir))) throw datasetError(`Category folder ${dir} has no test folder`);
  const kinds = (await readdir(testDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const defect of kinds) {
    for (const file of await imagesIn(join(testDir, defect))) {
      if (defect === 'good') {
        category.test.push({ file, defect });
        continue;
      }
      const stem = basename(file, extname(file));
      const mask = join(dir, 'ground_truth', defect, `${stem}_mask.png`);
      if (!(await stat(mask).then((s) => s.isFile(), () => false))) {
        throw datasetError(`Mask missing for ${file}: expected ${mask}`);
      }
      category.test.push({ file, defect, mask });
    }
  }
  if (category.test.length === 0) throw datasetError(`Category folder ${dir}: test holds no images`);
  return category;
}

/**
 * Expands files and folders (recursively, images only, sorted) into a list of image files.
 * Symbolic links are followed; each real folder is walked once, so a link cycle ends (its
 * images are listed through the first path that reaches them). A link that cannot be
 * followed (a loop of links, a dangling link named like an image) is listed as it is: it
 * becomes an error line when scored, never a hang and never a silent loss.
 */
export async function listImages(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  const walked = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (walked.has(real)) return;
    walked.add(real);
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isSymbolicLink()) {
        const target = await stat(full).catch(() => undefined);
        if (target?.isDirectory()) await walk(full);
        else if (isImage(e.name)) files.push(full);
      } else if (e.isDirectory()) {
        await walk(full);
      } else if (e.isFile() && isImage(e.name)) {
        files.push(full);
      }
    }
  };
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (info?.isDirectory()) await walk(path);
    else files.push(path);  // a missing or unreadable file becomes an error line when scored
  }
  return files;
}
