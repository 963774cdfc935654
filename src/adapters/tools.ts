/**
 * The helm and kubectl binaries mk8s-addons runs, found at run time (no install script):
 *
 * 1. MicroK8s's own, in its snap (`$SNAP/bin/helm3`, `$SNAP/bin/helm`; `$SNAP/kubectl`, `$SNAP/bin/kubectl`);
 * 2. else a plain binary beside the package in `vendor/bin/` (a checkout after `npm ci`, or the snap);
 * 3. else the one bundled in the npm package as `vendor/tools/<name>.br` (brotli), unpacked on first use
 *    into `<cache>/tools/<sha256>/<name>` and kept only when its sha256 is the one in
 *    `vendor/tools/SHA256SUMS`. The cache is `$MK8S_ADDONS_CACHE`, else `$XDG_CACHE_HOME/mk8s-addons`,
 *    else `~/.cache/mk8s-addons`.
 *
 * `snap` is MicroK8s's snap folder as resolved for the node (flags, then env), never mk8s-addons's own snap.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress } from 'node:zlib';
import { exists, readText } from './fs.js';
import { packagePath } from './package-files.js';
import { cacheRoot } from './derived-cache.js';
import { PreconditionError } from '../errors.js';

export type ToolName = 'helm' | 'kubectl';

/** A binary to run and where it came from (for the message that says which one is used). */
export interface ResolvedTool {
  path: string;
  source: 'microk8s' | 'package' | 'bundled';
  /** One line for the user, e.g. `helm: MicroK8s's own /snap/microk8s/current/bin/helm3`. */
  describe: string;
}

const MICROK8S_CANDIDATES: Record<ToolName, readonly string[]> = {
  helm: ['bin/helm3', 'bin/helm'],
  kubectl: ['kubectl', 'bin/kubectl'],
};

/** Where bundled tools are unpacked: `$MK8S_ADDONS_CACHE`, else the XDG cache, else ~/.cache. */
export function toolCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), 'tools');
}

/** Parses a `sha256sum` listing (`<hex>  <name>` lines) into name -> hex. */
export function parseSha256Sums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (m) sums.set(m[2] as string, m[1] as string);
  }
  return sums;
}

/** Unpacks `archive` (brotli) to `target` through a temporary file; keeps it only when its sha256 is `want`. */
async function unpackVerified(archive: string, target: string, want: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  const hash = createHash('sha256');
  const tee = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(createReadStream(archive), createBrotliDecompress(), tee, createWriteStream(tmp, { mode: 0o700 }));
    const got = hash.digest('hex');
    if (got !== want) {
      throw new PreconditionError(`the bundled ${path.basename(target)} unpacked from ${archive} has sha256 ${got}, not ${want} as vendor/tools/SHA256SUMS says; the package is damaged: reinstall mk8s-addons`);
    }
    await chmod(tmp, 0o755);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Unpacks in progress in this process, by target. */
const unpacking = new Map<string, Promise<void>>();

/** The bundled tool, unpacked into the cache when it is not there yet (undefined: the package has none). */
export async function bundledTool(name: ToolName, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedTool | undefined> {
  const archive = packagePath('vendor', 'tools', `${name}.br`);
  const sumsFile = packagePath('vendor', 'tools', 'SHA256SUMS');
  const sums = await readText(sumsFile);
  if (sums === undefined || !(await exists(archive))) return undefined;
  const want = parseSha256Sums(sums).get(name);
  if (!want) throw new PreconditionError(`${sumsFile} has no sha256 for ${name}; the package is damaged: reinstall mk8s-addons`);
  const target = path.join(toolCacheDir(env), want, name);
  // Only a verified file is ever renamed into place, so a present target was checked when it was unpacked.
  const present = await stat(target).then((s) => s.isFile() && (s.mode & 0o111) !== 0, () => false);
  if (!present) {
    // Hooks resolve helm side by side (helm3's, cilium's, a chart addon's ${helm}): one unpack, not two
    // writing the same temporary file.
    let unpack = unpacking.get(target);
    if (!unpack) {
      unpack = unpackVerified(archive, target, want).finally(() => unpacking.delete(target));
      unpacking.set(target, unpack);
    }
    await unpack;
  }
  return { path: target, source: 'bundled', describe: `${name}: the one bundled with mk8s-addons, ${present ? 'unpacked' : 'unpacked now'} in ${target} (sha256 ${want.slice(0, 12)}… checked)` };
}

/** Finds `name` as described above; a PreconditionError says what to do when there is none. */
export async function resolveTool(name: ToolName, snap: string, env: NodeJS.ProcessEnv = process.env): Promise<ResolvedTool> {
  for (const rel of MICROK8S_CANDIDATES[name]) {
    const candidate = path.join(snap, rel);
    if (await exists(candidate)) return { path: candidate, source: 'microk8s', describe: `${name}: MicroK8s's own ${candidate}` };
  }
  const plain = packagePath('vendor', 'bin', name);
  if (await exists(plain)) return { path: plain, source: 'package', describe: `${name}: the one beside mk8s-addons, ${plain}` };
  const bundled = await bundledTool(name, env);
  if (bundled) return bundled;
  throw new PreconditionError(
    `no ${name} binary: MicroK8s's snap ${snap} has none, and neither ${plain} nor ${packagePath('vendor', 'tools', `${name}.br`)} exists; reinstall mk8s-addons (in a checkout: npm ci)`,
  );
}
