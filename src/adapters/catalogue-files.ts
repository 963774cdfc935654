/**
 * Reads the addon manifests (addons/NAME/manifest.yaml) and builds the catalogue. Each manifest is
 * validated when loaded; a manifest whose exact bytes were validated before is taken from a cache
 * (dist/catalogue-cache-<hash of the folder>.json, keyed by every manifest's path and exact content), so `list` and
 * `--help`-speed commands need neither the YAML parser nor the schema library. A changed manifest is
 * parsed and validated again; a cache that cannot be written is simply not used.
 */
import { readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { buildCatalogue, type AddonManifest, type Catalogue } from '../catalogue.js';
import { CatalogueError } from '../errors.js';
import { packagePath } from './package-files.js';

interface CacheFile {
  key: string;
  entries: { file: string; manifest: AddonManifest }[];
}

/** One cache file per catalogue folder (the package's, or MK8S_ADDONS_ADDONS_DIR's), named by a hash of its path. */
function cachePath(dir: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < dir.length; i++) h = Math.imul(h ^ dir.charCodeAt(i), 0x01000193) >>> 0;
  return packagePath('dist', `catalogue-cache-${h.toString(16)}.json`);
}

function readCache(dir: string, key: string): CacheFile['entries'] | undefined {
  try {
    const cache = JSON.parse(readFileSync(cachePath(dir), 'utf8')) as CacheFile;
    return cache.key === key ? cache.entries : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(dir: string, cache: CacheFile): void {
  try {
    const tmp = `${cachePath(dir)}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(cache));
    renameSync(tmp, cachePath(dir));
  } catch {
    // A read-only install: validate on every load instead.
  }
}

/**
 * Loads every addons/NAME/manifest.yaml under `dir`: default the package's addons/, or the folder named
 * by env MK8S_ADDONS_ADDONS_DIR (a catalogue of your own, or the tests' data-only addons).
 */
export async function loadCatalogue(dir: string = process.env.MK8S_ADDONS_ADDONS_DIR || packagePath('addons')): Promise<Catalogue> {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (err) {
    throw new CatalogueError(`cannot read the addon catalogue at ${dir}: ${(err as Error).message}; reinstall mk8s-addons`);
  }
  const texts = names.map((name) => {
    const rel = path.join('addons', name, 'manifest.yaml');
    try {
      return { name, rel, text: readFileSync(path.join(dir, name, 'manifest.yaml'), 'utf8') };
    } catch (err) {
      throw new CatalogueError(`invalid addon manifest ${rel}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file is missing' : (err as Error).message}`);
    }
  });
  // The key is the manifests themselves: a cache entry is used only for exactly the bytes it validated.
  const key = texts.map((t) => `${t.rel}\0${t.text}`).join('\0');
  const cached = readCache(dir, key);
  if (cached) return buildCatalogue(cached);
  const entries = await validate(texts);
  const catalogue = buildCatalogue(entries);
  writeCache(dir, { key, entries });
  return catalogue;
}

async function validate(texts: { name: string; rel: string; text: string }[]): Promise<CacheFile['entries']> {
  // Loaded only here: the YAML parser and the schema cost more than the rest of a `list`.
  const { default: yaml } = await import('js-yaml');
  const { parseManifest } = await import('../catalogue-schema.js');
  return texts.map(({ name, rel, text }) => {
    let data: unknown;
    try {
      data = yaml.load(text, { filename: rel });
    } catch (err) {
      throw new CatalogueError(`invalid addon manifest ${rel}: ${(err as Error).message.split('\n')[0]?.replace(` in "${rel}"`, '')}`);
    }
    const manifest = parseManifest(rel, data);
    if (manifest.name !== name) {
      throw new CatalogueError(`invalid addon manifest ${rel}: field name: "${manifest.name}" must match its folder name "${name}"`);
    }
    return { file: rel, manifest };
  });
}
