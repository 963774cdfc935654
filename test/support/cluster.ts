/**
 * The nodes of a cluster sandbox (`sandbox up --nodes N`) for integration tests: node-0 is the sandbox
 * itself, node-I its folder DIR/nodes/node-I (snap, data, common).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { treeDigest } from './node.js';
import type { TestSandbox } from './sandbox.js';

export function clusterNodes(sandbox: () => TestSandbox) {
  const nodeDir = (i: number) => (i === 0 ? sandbox().dir : path.join(sandbox().dir, 'nodes', `node-${i}`));
  const dataOf = (i: number) => (i === 0 ? sandbox().info.snapData : path.join(nodeDir(i), 'data'));
  const commonOf = (i: number) => (i === 0 ? sandbox().info.snapCommon : path.join(nodeDir(i), 'common'));
  /** The global options that make mk8s-addons act on node-I. */
  const snapArgs = (i: number) => (i === 0 ? [] : ['--snap', path.join(nodeDir(i), 'snap'), '--snap-data', dataOf(i), '--snap-common', commonOf(i)]);
  return {
    nodeDir,
    dataOf,
    snapArgs,
    /** A node's SNAP_DATA, as bytes, without mk8s-addons's own state folder. */
    tree: (i: number) => treeDigest(dataOf(i), (rel) => rel === path.join('var', 'mk8s-addons')),
    /**
     * Our MicroK8s addons repository on node-I, as the README says for every node (MicroK8s 1.20 has no
     * addons folder of its own: it is made first, as the microk8s-repo test does).
     */
    installRepository(i: number): void {
      mkdirSync(path.join(commonOf(i), 'addons'), { recursive: true });
      const r = sandbox().cli([...snapArgs(i), 'microk8s-repo', 'install']);
      assert.equal(r.code, 0, r.stderr);
    },
  };
}
