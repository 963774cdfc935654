/**
 * helm3: the node gets `$SNAP_DATA/bin/helm3`, a wrapper that runs MicroK8s's own Helm 3 when the snap
 * ships one, else the helm that mk8s-addons provides (vendor/bin/helm), always with the node's kubeconfig
 * (the `--kubeconfig $SNAP_DATA/credentials/client.config` the field notes had to type by hand).
 */
import path from 'node:path';
import type { PlannedAddon } from '../planner.js';
import type { AddonNode, PreparedAddon } from './hooks.js';
import { exists } from '../adapters/fs.js';
import { packagePath } from '../adapters/package-files.js';
import { quoteWord } from '../adapters/process.js';
import { PreconditionError } from '../errors.js';

/** The Helm 3 binary to use: MicroK8s's own, else ours. */
export async function helmBinary(snap: string): Promise<string> {
  for (const candidate of [path.join(snap, 'bin', 'helm3'), path.join(snap, 'bin', 'helm')]) {
    if (await exists(candidate)) return candidate;
  }
  const ours = packagePath('vendor', 'bin', 'helm');
  if (await exists(ours)) return ours;
  throw new PreconditionError(`no Helm 3 binary: the snap ships none and ${ours} is missing; reinstall mk8s-addons (npm ci runs scripts/fetch-tools.mjs)`);
}

export function helmWrapper(helm: string, kubeconfig: string): string {
  return `#!/bin/sh
# Installed by mk8s-addons (enable helm3): Helm 3 with this node's kubeconfig.
exec ${quoteWord(helm)} --kubeconfig ${quoteWord(kubeconfig)} "$@"
`;
}

export async function prepareHelm3(_addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  const helm = await helmBinary(node.paths.snap);
  const kubeconfig = path.join(node.paths.snapData, 'credentials', 'client.config');
  return { vars: { helm, wrapper: helmWrapper(helm, kubeconfig) } };
}
