/**
 * Where the local control plane's binaries are: the folder named by KUBEBUILDER_ASSETS (envtest's
 * convention), else the cache that scripts/build-control-plane.sh fills. Looked up one binary at a time,
 * so an override folder holding only kube-apiserver and etcd still works.
 */
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PreconditionError } from '../errors.js';

/** The processes of the local control plane, in start order. Each is named after its binary. */
export const CONTROL_PLANE_COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const;

/** One process of the local control plane (and the name of its binary). */
export type ControlPlaneComponent = (typeof CONTROL_PLANE_COMPONENTS)[number];

/** Absolute path of each binary. */
export type ControlPlaneBinaries = Record<ControlPlaneComponent, string>;

/**
 * The versions scripts/build-control-plane.sh builds; they name its cache folder. A test reads the
 * script to keep the two in step.
 */
export const CONTROL_PLANE_VERSIONS = { kubernetes: 'v1.34.4', etcd: 'v3.6.16', kwok: 'v0.7.0' } as const;

export const BUILD_SCRIPT_HINT = 'run `bash scripts/build-control-plane.sh` to build them';

export interface LocateOptions {
  /**
   * Variables read: KUBEBUILDER_ASSETS, MK8S_ADDONS_CACHE, XDG_CACHE_HOME, HOME (the same as the build
   * script). Default: `process.env`.
   */
  env?: NodeJS.ProcessEnv;
  /** Folder searched first, in place of KUBEBUILDER_ASSETS; the cache stays the fallback per binary. */
  binDir?: string;
}

/** The root of the build caches: $MK8S_ADDONS_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/mk8s-addons (as the build scripts). */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME || os.homedir();
  return env.MK8S_ADDONS_CACHE || path.join(env.XDG_CACHE_HOME || path.join(home, '.cache'), 'mk8s-addons');
}

/** The cache folder the build script writes the binaries to (it may not exist). */
export function controlPlaneCacheBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const { kubernetes, etcd, kwok } = CONTROL_PLANE_VERSIONS;
  return path.join(cacheRoot(env), 'control-plane', `k8s-${kubernetes}-etcd-${etcd}-kwok-${kwok}`, 'bin');
}

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds every control-plane binary. Throws a PreconditionError naming the missing ones and the folders
 * searched, which says to run the build script.
 */
export function locateControlPlaneBinaries(opts: LocateOptions = {}): ControlPlaneBinaries {
  const env = opts.env ?? process.env;
  const folders = [opts.binDir ?? env.KUBEBUILDER_ASSETS, controlPlaneCacheBinDir(env)].filter((d): d is string => Boolean(d));
  const found: Partial<ControlPlaneBinaries> = {};
  const missing: ControlPlaneComponent[] = [];
  for (const name of CONTROL_PLANE_COMPONENTS) {
    const file = folders.map((dir) => path.resolve(dir, name)).find(isExecutable);
    if (file === undefined) missing.push(name);
    else found[name] = file;
  }
  if (missing.length > 0) {
    throw new PreconditionError(
      `the local control plane needs ${missing.join(', ')}, not found in ${folders.join(' nor in ')}: ${BUILD_SCRIPT_HINT}`,
    );
  }
  return found as ControlPlaneBinaries;
}
