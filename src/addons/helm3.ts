/**
 * helm3: the node gets `$SNAP_DATA/bin/helm3`, a wrapper that runs MicroK8s's own Helm 3 when the snap
 * ships one, else the helm that mk8s-addons provides (src/adapters/tools.ts), always with the node's kubeconfig
 * (the `--kubeconfig $SNAP_DATA/credentials/client.config` the field notes had to type by hand).
 */
import path from 'node:path';
import type { PlannedAddon } from '../planner.js';
import type { AddonNode, PreparedAddon } from './hooks.js';
import { quoteWord } from '../adapters/process.js';
import { resolveTool } from '../adapters/tools.js';

/** The Helm 3 binary to use: MicroK8s's own, else ours. */
export async function helmBinary(snap: string): Promise<string> {
  return (await resolveTool('helm', snap)).path;
}

export function helmWrapper(helm: string, kubeconfig: string): string {
  return `#!/bin/sh
# Installed by mk8s-addons (enable helm3): Helm 3 with this node's kubeconfig.
exec ${quoteWord(helm)} --kubeconfig ${quoteWord(kubeconfig)} "$@"
`;
}

export async function prepareHelm3(_addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  const helm = await resolveTool('helm', node.paths.snap);
  const kubeconfig = path.join(node.paths.snapData, 'credentials', 'client.config');
  // Said when the choice is the node's (MicroK8s's own helm) or a first-use unpack; a plain helm shipped
  // beside mk8s-addons (a checkout, the snap) is what the wrapper's exec line shows.
  return { vars: { wrapper: helmWrapper(helm.path, kubeconfig) }, notes: helm.source === 'package' ? [] : [helm.describe] };
}
