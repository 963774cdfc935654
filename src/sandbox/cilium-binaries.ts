/**
 * Where the sandbox finds the real Cilium it runs for its node: cilium-agent, cilium-dbg and cilium-cni,
 * the agent's bpf/ sources (its --lib-dir) and Cilium's CRDs, built from Cilium's Go module by
 * scripts/build-cilium.sh into a cache folder keyed by version, or taken from $MK8S_ADDONS_CILIUM_BIN.
 * Test-only: on a MicroK8s node the agent runs from Cilium's image.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { cacheRoot, isExecutable } from './binaries.js';

/** The Cilium version scripts/build-cilium.sh builds (a test keeps the two in step). */
export const SANDBOX_CILIUM_VERSION = 'v1.20.2';

export const CILIUM_BUILD_HINT = 'run `bash scripts/build-cilium.sh` to build them (npm test does)';

/** The three binaries and the two folders of a Cilium build. */
export interface CiliumBuild {
  /** The folder printed by the build script: bin/, bpf/, crds/. */
  root: string;
  version: string;
  agent: string;
  cli: string;
  cni: string;
  /** The agent's --lib-dir: holds bpf/. */
  libDir: string;
  crds: string;
}

/** The cache folder the build script writes to (it may not exist). */
export function ciliumCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheRoot(env), 'cilium', SANDBOX_CILIUM_VERSION);
}

/**
 * The Cilium build to run, or the reason there is none (said by `sandbox status`, which then runs the agent
 * simulated). $MK8S_ADDONS_CILIUM_BIN, when set, is the only place looked at.
 */
export function locateCiliumBuild(env: NodeJS.ProcessEnv = process.env): CiliumBuild | { missing: string } {
  const root = env.MK8S_ADDONS_CILIUM_BIN ? path.resolve(env.MK8S_ADDONS_CILIUM_BIN) : ciliumCacheDir(env);
  const build: CiliumBuild = {
    root,
    version: SANDBOX_CILIUM_VERSION.replace(/^v/, ''),
    agent: path.join(root, 'bin', 'cilium-agent'),
    cli: path.join(root, 'bin', 'cilium-dbg'),
    cni: path.join(root, 'bin', 'cilium-cni'),
    libDir: root,
    crds: path.join(root, 'crds'),
  };
  const missing = [build.agent, build.cli, build.cni].filter((f) => !isExecutable(f)).map((f) => path.basename(f));
  if (!existsSync(path.join(root, 'bpf'))) missing.push('bpf/');
  if (!existsSync(build.crds)) missing.push('crds/');
  if (missing.length > 0) return { missing: `no Cilium ${SANDBOX_CILIUM_VERSION} build in ${root} (missing ${missing.join(', ')}): ${CILIUM_BUILD_HINT}` };
  return build;
}
