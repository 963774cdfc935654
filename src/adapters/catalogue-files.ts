/**
 * Reads the addon manifests (addons/NAME/manifest.yaml, and NAME/manifest.yaml in every folder that env
 * MK8S_ADDONS_EXTRA_ADDONS names) and builds the catalogue. Each manifest is
 * validated when loaded; a manifest whose exact bytes were validated before is taken from a cache
 * (dist/catalogue-cache.json: per folder, at most 8 folders, keyed by every manifest's path and exact content), so `list` and
 * `--help`-speed commands need neither the YAML parser nor the schema library. A changed manifest is
 * parsed and validated again; a cache that cannot be written is simply not used.
 */
import { readdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { buildCatalogue, type Catalogue, type CatalogueEntry } from '../catalogue.js';
import { CatalogueError } from '../errors.js';
import { packagePath } from './package-files.js';

interface CacheFile {
  key: string;
  entries: CatalogueEntry[];
}

/** One cache file for every catalogue folder, at most this many folders in it (most recently written kept). */
const CACHED_FOLDERS = 8;
const cacheFile = () => packagePath('dist', 'catalogue-cache.json');

/** The cache: folder -> its manifests' key and validated entries. */
function readCacheFile(): Record<string, CacheFile> {
  try {
    const data = JSON.parse(readFileSync(cacheFile(), 'utf8')) as unknown;
    return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, CacheFile>) : {};
  } catch {
    return {};
  }
}

function readCache(dir: string, key: string): CacheFile['entries'] | undefined {
  const found = readCacheFile()[dir];
  return found?.key === key ? found.entries : undefined;
}

function writeCache(dir: string, cache: CacheFile): void {
  try {
    // The folder written last goes last; the oldest are dropped (tests load many temporary folders).
    const all = Object.entries(readCacheFile()).filter(([d]) => d !== dir);
    const kept = Object.fromEntries([...all.slice(-(CACHED_FOLDERS - 1)), [dir, cache]]);
    const tmp = `${cacheFile()}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(kept));
    renameSync(tmp, cacheFile());
  } catch {
    // A read-only install: validate on every load instead.
  }
}

/**
 * Loads every addons/NAME/manifest.yaml under `dir`: default the package's addons/, or the folder named
 * by env MK8S_ADDONS_ADDONS_DIR (a catalogue of your own instead, or the tests' data-only addons). Env
 * MK8S_ADDONS_EXTRA_ADDONS adds folders (separated by `:`) whose NAME/manifest.yaml addons join the
 * catalogue (a name that is already in it is an error): addons of your own beside the package's.
 */
export async function loadCatalogue(dir: string = process.env.MK8S_ADDONS_ADDONS_DIR || packagePath('addons')): Promise<Catalogue> {
  const extra = (process.env.MK8S_ADDONS_EXTRA_ADDONS ?? '').split(path.delimiter).filter((d) => d !== '').map((d) => path.resolve(d));
  const entries = [await loadFolder(dir, (name) => path.join('addons', name, 'manifest.yaml'), 'reinstall mk8s-addons')];
  for (const d of extra) entries.push(await loadFolder(d, (name) => path.join(d, name, 'manifest.yaml'), 'fix or remove it in MK8S_ADDONS_EXTRA_ADDONS'));
  return buildCatalogue(entries.flat());
}

/** One folder of addons, each validated (or taken from the cache when its bytes were validated before). */
async function loadFolder(dir: string, fileName: (name: string) => string, fix: string): Promise<CatalogueEntry[]> {
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (err) {
    throw new CatalogueError(`cannot read the addon catalogue at ${dir}: ${(err as Error).message}; ${fix}`);
  }
  const texts = names.map((name) => {
    const rel = fileName(name);
    try {
      return { name, rel, text: readFileSync(path.join(dir, name, 'manifest.yaml'), 'utf8') };
    } catch (err) {
      throw new CatalogueError(`invalid addon manifest ${rel}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file is missing' : (err as Error).message}`);
    }
  });
  // The key is the manifests themselves: a cache entry is used only for exactly the bytes it validated.
  const key = texts.map((t) => `${t.rel}\0${t.text}`).join('\0');
  const cached = readCache(path.resolve(dir), key);
  if (cached) return cached;
  const entries = (await validate(texts)).map((e, i) => ({ ...e, dir: path.resolve(dir, texts[i]?.name as string) }));
  // References between addons (requires, conflicts) are checked by buildCatalogue on every load: an
  // extra folder's addon may require one of the package's.
  writeCache(path.resolve(dir), { key, entries });
  return entries;
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
