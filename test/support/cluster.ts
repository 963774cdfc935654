/**
 * The nodes of a sandbox started with `--nodes N`, for cluster tests: node-0 is the sandbox's own folder,
 * node-I (I >= 1) is DIR/nodes/node-I/{snap,data,common,services}. Byte-level views of each node (its
 * SNAP_DATA without mk8s-addons's own state folder), its journal, its service log, and the CLI pointed
 * at it; MicroK8s's addons repository installed on every node as the README says.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { readServiceLog, type ServiceLogEntry } from '../../src/engine/services.js';
import { treeDigest } from './node.js';
import type { TestSandbox } from './sandbox.js';

export interface NodeJournal {
  addons: Record<string, { steps: { phase: string }[] }>;
  operation: { type: string; steps: { phase: string; state?: string }[] } | null;
}

/**
 * `disable ADDON` as the run after an interrupted `enable ADDON` whose operation held `steps` steps: it
 * says so, undoes the fan-out step `other-nodes-1` (each node from its own journal), then finds the addon
 * not enabled.
 */
export function disableRecovering(sb: TestSandbox, addon: string, steps: number): void {
  const r = sb.cli(['disable', addon, '--output', 'plain']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`^recover: an earlier run \\(pid \\d+: mk8s-addons enable ${addon}, started [^)]+\\) was interrupted; rolling back its ${steps} step\\(s\\)$`, 'm'));
  assert.match(r.stdout, new RegExp(`^✔ recover: undo enable/${addon}/other-nodes-1$`, 'm'));
  assert.match(r.stdout, new RegExp(`^disable/${addon}: ${addon} is not enabled; nothing to do$`, 'm'));
}

/** The nodes of `sandbox` (the sandbox itself, or a getter for a sandbox made later, in `before`). */
export function clusterNodes(sandbox: TestSandbox | (() => TestSandbox)) {
  const sb = typeof sandbox === 'function' ? sandbox : () => sandbox;
  const nodeDir = (i: number) => (i === 0 ? sb().dir : path.join(sb().dir, 'nodes', `node-${i}`));
  const dataOf = (i: number) => (i === 0 ? sb().info.snapData : path.join(nodeDir(i), 'data'));
  const commonOf = (i: number) => (i === 0 ? sb().info.snapCommon : path.join(nodeDir(i), 'common'));
  /** The global options that make mk8s-addons act on node-I. */
  const snapArgs = (i: number) => (i === 0 ? [] : ['--snap', path.join(nodeDir(i), 'snap'), '--snap-data', dataOf(i), '--snap-common', commonOf(i)]);
  /**
   * Our MicroK8s addons repository on node-I, as the README says for every node (MicroK8s 1.20 has no
   * addons folder of its own: it is made first, as the microk8s-repo test does).
   */
  const installRepository = (i: number): void => {
    mkdirSync(path.join(commonOf(i), 'addons'), { recursive: true });
    const r = sb().cli([...snapArgs(i), 'microk8s-repo', 'install']);
    assert.equal(r.code, 0, r.stderr);
  };
  return {
    nodeDir,
    dataOf,
    snapArgs,
    /** A node's SNAP_DATA, as bytes, without mk8s-addons's own state folder. */
    tree: (i: number) => treeDigest(dataOf(i), (rel) => rel === path.join('var', 'mk8s-addons')),
    journalOf: (i: number) => JSON.parse(readFileSync(path.join(dataOf(i), 'var', 'mk8s-addons', 'journal.json'), 'utf8')) as NodeJournal,
    /** `restart kubelet`, `stop flanneld`: the node's service log from entry `from` on. */
    serviceActions: async (i: number, from = 0) => (await readServiceLog(nodeDir(i))).slice(from).map((e: ServiceLogEntry) => `${e.action} ${e.daemon}`),
    logLength: async (i: number) => (await readServiceLog(nodeDir(i))).length,
    installRepository,
    /** `microk8s-repo install` on nodes 0..n-1. */
    installRepositories(n: number): void {
      for (let i = 0; i < n; i++) installRepository(i);
    },
  };
}
