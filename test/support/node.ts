/**
 * Temporary folders laid out like a MicroK8s node, from MicroK8s's own default args files
 * (../shared/fixtures/microk8s-default-args/{1.20,1.35}), with the sandbox marker so the engine uses the
 * sandbox service manager (state files and a log; no snapd or systemd here).
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, lstatSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT } from './cli.js';

export const SHARED = path.resolve(ROOT, '..', 'shared');
export const TEST_ADDONS = path.join(ROOT, 'test', 'fixtures', 'addons');

export interface TestNode {
  root: string;
  snap: string;
  snapData: string;
  snapCommon: string;
  /** The sandbox folder (service states and log). */
  sandbox: string;
  /** CLI flags that point mk8s-addons at this node. */
  flags: string[];
  cleanup(): void;
}

/** A node of era `1.20` (separate daemons) or `1.35` (kubelite). */
export function makeNode(era: '1.20' | '1.35'): TestNode {
  const root = mkdtempSync(path.join(tmpdir(), `mk8s-node-${era}-`));
  const snap = path.join(root, 'snap');
  const snapData = path.join(root, 'data');
  const snapCommon = path.join(root, 'common');
  const sandbox = path.join(root, 'sandbox');
  for (const d of [snap, path.join(snapData, 'var', 'lock'), path.join(snapData, 'opt', 'cni', 'bin'), path.join(snapData, 'credentials'), snapCommon, path.join(sandbox, 'services')]) {
    mkdirSync(d, { recursive: true });
  }
  cpSync(path.join(SHARED, 'fixtures', 'microk8s-default-args', era), path.join(snapData, 'args'), { recursive: true });
  const layout = era === '1.20' ? '1.20' : 'kubelite';
  writeFileSync(path.join(snapData, 'mk8s-addons-sandbox.json'), `${JSON.stringify({ sandbox: true, dir: sandbox, layout })}\n`);
  const daemons = era === '1.20' ? ['apiserver', 'kubelet', 'proxy', 'scheduler', 'controller-manager', 'containerd', 'flanneld', 'etcd'] : ['kubelite', 'containerd', 'flanneld', 'k8s-dqlite'];
  for (const d of daemons) writeFileSync(path.join(sandbox, 'services', `${d}.state`), 'active\n');
  return {
    root,
    snap,
    snapData,
    snapCommon,
    sandbox,
    flags: ['--snap', snap, '--snap-data', snapData, '--snap-common', snapCommon],
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/**
 * Every file and folder under `dir` (relative path -> sha256 and mode; a folder as `rel/` -> `dir MODE`),
 * for byte-identical comparisons of the tree: files, folders and modes.
 */
export function treeDigest(dir: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      const rel = path.relative(dir, full);
      if (skip(rel)) continue;
      const st = lstatSync(full);
      if (st.isDirectory()) {
        out[`${rel}/`] = `dir ${(st.mode & 0o7777).toString(8)}`;
        walk(full);
      } else out[rel] = `${createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16)} ${(statSync(full).mode & 0o7777).toString(8)}`;
    }
  };
  walk(dir);
  return out;
}

/** The node's own files: everything under $SNAP_DATA except mk8s-addons's journal. */
export const nodeTree = (n: TestNode) => treeDigest(n.snapData, (rel) => rel.startsWith(path.join('var', 'mk8s-addons')));

/** Every file and folder under $SNAP_DATA with its mode (and content digest), the journal's folder aside. */
export function fullTree(n: TestNode): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      const rel = path.relative(n.snapData, full);
      if (rel === path.join('var', 'mk8s-addons')) continue;
      const st = lstatSync(full);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[`${rel}/`] = mode;
        walk(full);
      } else out[rel] = `${createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16)} ${mode}`;
    }
  };
  walk(n.snapData);
  return out;
}

export function serviceLog(n: TestNode): { action: string; daemon: string; result: string }[] {
  try {
    return readFileSync(path.join(n.sandbox, 'services', 'log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

export function jsonEvents(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A test body on a fresh node of `era`, removed afterwards whatever happens. */
export function withNode(era: '1.20' | '1.35', fn: (n: TestNode) => Promise<void> | void) {
  return async () => {
    const n = makeNode(era);
    try {
      await fn(n);
    } finally {
      n.cleanup();
    }
  };
}

/** MicroK8s before 1.20's fix: containerd's CNI bin_dir under the read-only snap (netdemo edits it). */
export function oldContainerdTemplate(snapData: string): void {
  const file = path.join(snapData, 'args', 'containerd-template.toml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('bin_dir = "${SNAP_DATA}/opt', 'bin_dir = "${SNAP}/opt'));
}
