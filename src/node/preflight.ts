/** Preflight: is this a MicroK8s node we may change? Each failure is a PreconditionError (exit 3). */
import path from 'node:path';
import { canWrite, exists } from '../adapters/fs.js';
import { PreconditionError } from '../errors.js';
import { nodeFiles, type SnapPaths } from './node.js';

/** True when `paths` look like a MicroK8s node (its args folder exists). */
export async function isNode(paths: SnapPaths): Promise<boolean> {
  return exists(path.join(paths.snapData, 'args'));
}

/** `allowWorker`: node-local runs for another node's fan-out (src/cluster/node-local.ts) run on workers too. */
export async function preflight(paths: SnapPaths, opts: { write: boolean; allowWorker?: boolean }): Promise<void> {
  const files = nodeFiles(paths);
  if (!(await isNode(paths))) {
    throw new PreconditionError(
      `MicroK8s not found: ${path.join(paths.snapData, 'args')} does not exist; install MicroK8s (sudo snap install microk8s --classic), point --snap-data at a node, or try a sandbox node (mk8s-addons sandbox up)`,
    );
  }
  if (!opts.allowWorker && (await exists(files.lock('clustered.lock')))) {
    throw new PreconditionError('this node is a worker of a MicroK8s cluster (var/lock/clustered.lock exists); run mk8s-addons on a control-plane node');
  }
  if (await exists(files.lock('stopped.lock'))) {
    throw new PreconditionError('MicroK8s is stopped (var/lock/stopped.lock exists); start it first: mk8s-addons start (or microk8s start)');
  }
  if (opts.write && !(await canWrite(paths.snapData))) {
    throw new PreconditionError(`no permission to change ${paths.snapData}; run mk8s-addons with sudo`);
  }
}
