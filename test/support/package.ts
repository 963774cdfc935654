/**
 * The npm package as a user gets it: `npm run package` (scripts/package.mjs) packs the project, and
 * `installPackage` installs the tarball into a temporary prefix with `npm install -g --offline` inside a
 * network namespace of its own (`unshare -n`: no network at all), so whatever the install needs must be in
 * the tarball.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './cli.js';

let packed: string | undefined;

/** Runs scripts/package.mjs once per test process; the tarball's path. */
export function buildPackage(): string {
  if (packed) return packed;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'package.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) throw new Error(`scripts/package.mjs exited with ${r.status}\n${r.stderr}`);
  packed = r.stdout.trim().split('\n').at(-1) as string;
  return packed;
}

export interface Installed {
  prefix: string;
  /** The installed package's folder. */
  dir: string;
  /** The installed command (prefix/bin/mk8s-addons). */
  bin: string;
  /** npm's output, for the failure message. */
  log: string;
}

/** `npm install -g --prefix P --offline TARBALL` with no network; throws with npm's output when it fails. */
export function installPackage(tarball: string): Installed {
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-prefix-'));
  const npmCache = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-npm-cache-'));
  // An empty npm cache as well: nothing can come from packages npm ci left behind.
  const r = spawnSync('unshare', ['-n', 'npm', 'install', '-g', '--prefix', prefix, '--offline', '--cache', npmCache, '--no-audit', '--no-fund', tarball], { encoding: 'utf8', timeout: 300_000 });
  const log = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`npm install --offline of ${tarball} exited with ${r.status}\n${log}`);
  return { prefix, dir: path.join(prefix, 'lib', 'node_modules', 'mk8s-addons'), bin: path.join(prefix, 'bin', 'mk8s-addons'), log };
}

export const sha256File = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
