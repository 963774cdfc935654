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
 *
 * Verdicts of checks whose inputs are more than the package's files (the cilium render check: the values,
 * the cluster's version, the helm binary) are kept per user instead (checkCacheDir), because the package
 * folder may be read-only (the snap's $SNAP): one file per key, `<key>.json`, written only by and trusted
 * only from this user.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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

/** mk8s-addons's per-user cache: `$MK8S_ADDONS_CACHE`, else `$XDG_CACHE_HOME/mk8s-addons`, else `~/.cache/mk8s-addons`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.MK8S_ADDONS_CACHE || (env.XDG_CACHE_HOME ? path.join(env.XDG_CACHE_HOME, 'mk8s-addons') : path.join(os.homedir(), '.cache', 'mk8s-addons'));
}

/**
 * Where check verdicts are kept: `$MK8S_ADDONS_CHECK_CACHE`, else `<cacheRoot>/checks` (root's
 * ~/.cache/mk8s-addons/checks on a MicroK8s host, writable where the snap's own folders are not).
 */
export function checkCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MK8S_ADDONS_CHECK_CACHE || path.join(cacheRoot(env), 'checks');
}

/** A file's identity without reading it: resolved path, device, inode, size, mtime and ctime (any rewrite changes ctime). */
export function fileIdentity(file: string): string {
  const real = realpathSync(file);
  const st = statSync(real, { bigint: true });
  return [real, st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].join(':');
}

/** How many verdicts a folder keeps; past it, the oldest go. */
const MAX_VERDICTS = 64;

/**
 * The verdict kept under exactly `key` in `dir`, else undefined. Only a regular file (not a symlink) owned
 * by this user and writable by nobody else counts, so another user cannot plant a verdict.
 */
export function readVerdict<T>(dir: string, key: string): T | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path.join(dir, `${key}.json`), constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0) return undefined;
    const entry = JSON.parse(readFileSync(fd, 'utf8')) as { key?: unknown; value?: T };
    return entry.key === key ? entry.value : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Keeps `value` (JSON) under `key` in `dir` (0700, files 0600, atomic); silently nothing when it cannot be written. */
export function writeVerdict(dir: string, key: string, value: unknown): void {
  const target = path.join(dir, `${key}.json`);
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(tmp, JSON.stringify({ key, value }), { mode: 0o600 });
    renameSync(tmp, target);
    const entries = readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.json$/.test(f));
    if (entries.length > MAX_VERDICTS) {
      const byAge = entries.map((f) => ({ f, t: statSync(path.join(dir, f)).mtimeMs })).sort((a, b) => a.t - b.t);
      for (const { f } of byAge.slice(0, entries.length - MAX_VERDICTS)) rmSync(path.join(dir, f), { force: true });
    }
  } catch {
    // Not writable (or full): check afresh next time.
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was written
    }
  }
}
