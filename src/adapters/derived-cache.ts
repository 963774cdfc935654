/**
 * Results that depend only on files of the package (a pinned chart's lint table, a values template
 * rendered for the same data), kept beside the compiled code in dist/derived-cache/<name>.json, so that a
 * dry-run does not recompute them, nor load the libraries that compute them, on every run.
 *
 * An entry is used only when its key matches: a sha256 digest of every input, i.e. the exact bytes of
 * the chart or template, the data, and the compiled code that derives the result. Different bytes are a
 * miss, never a stale answer. One entry per name (the last one written); a cache that cannot be read or
 * written (a read-only install) is simply not used. It lives in dist/, which only whoever may change the
 * program itself may write, unlike a shared temporary folder.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { packagePath } from './package-files.js';

const dir = (): string => packagePath('dist', 'derived-cache');
const file = (name: string): string => `${dir()}/${name.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;

/** The sha256 of the parts, each length-prefixed (so that ["ab", "c"] and ["a", "bc"] differ). */
export function digestOf(parts: readonly (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
    h.update(`${bytes.length}:`);
    h.update(bytes);
  }
  return h.digest('hex');
}

/** The bytes of compiled modules (pass `import.meta.url`s): part of a key, so that new code misses. */
export function codeOf(...moduleUrls: string[]): Buffer[] {
  return moduleUrls.map((u) => readFileSync(fileURLToPath(u)));
}

/** The value stored under `name` with exactly `key`, else undefined. */
export function readDerived<T>(name: string, key: string): T | undefined {
  try {
    const entry = JSON.parse(readFileSync(file(name), 'utf8')) as { key?: unknown; value?: T };
    return entry.key === key ? entry.value : undefined;
  } catch {
    return undefined;
  }
}

/** Stores `value` (JSON) under `name` and `key`, atomically; silently nothing when dist/ is not writable. */
export function writeDerived(name: string, key: string, value: unknown): void {
  const target = file(name);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    mkdirSync(dir(), { recursive: true });
    writeFileSync(tmp, JSON.stringify({ key, value }));
    renameSync(tmp, target);
  } catch {
    // A read-only install: derive on every run instead.
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written
    }
  }
}
