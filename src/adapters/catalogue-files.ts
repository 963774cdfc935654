/** Reads the addon manifests (addons/NAME/manifest.yaml) from disk and builds the catalogue. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { buildCatalogue, parseManifest, type Catalogue } from '../catalogue.js';
import { CatalogueError } from '../errors.js';
import { packagePath } from './package-files.js';

/**
 * Loads every addons/NAME/manifest.yaml under `dir`: default the package's addons/, or the folder named
 * by env MK8S_ADDONS_ADDONS_DIR (a catalogue of your own, or the tests' data-only addons).
 */
export function loadCatalogue(dir: string = process.env.MK8S_ADDONS_ADDONS_DIR || packagePath('addons')): Catalogue {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (err) {
    throw new CatalogueError(`cannot read the addon catalogue at ${dir}: ${(err as Error).message}; reinstall mk8s-addons`);
  }
  const entries = names.map((name) => {
    const file = path.join(dir, name, 'manifest.yaml');
    const rel = path.join('addons', name, 'manifest.yaml');
    let data: unknown;
    try {
      data = yaml.load(readFileSync(file, 'utf8'), { filename: rel });
    } catch (err) {
      throw new CatalogueError(`invalid addon manifest ${rel}: ${(err as Error).message.split('\n')[0]?.replace(` in "${rel}"`, '')}`);
    }
    const manifest = parseManifest(rel, data);
    if (manifest.name !== name) {
      throw new CatalogueError(`invalid addon manifest ${rel}: field name: "${manifest.name}" must match its folder name "${name}"`);
    }
    return { file: rel, manifest };
  });
  return buildCatalogue(entries);
}
