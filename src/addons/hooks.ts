/**
 * Addon hooks: the little code some addons need beyond their manifest, to compute the `${vars.X}` their
 * steps use (a validated DNS argument, Cilium values for the resolved version, the helm binary).
 * An addon that is only data has no entry here. Modules load only when their addon is planned.
 */
import type { GlobalOptions } from '../grammar.js';
import type { Layout, PlannedAddon } from '../planner.js';
import type { SnapPaths } from '../node/node.js';

/** What a hook may know about the node and the invocation. */
export interface AddonNode {
  paths: SnapPaths;
  layout: Layout;
  globals: GlobalOptions;
  kubeconfig: string;
  env: NodeJS.ProcessEnv;
}

export interface PreparedAddon {
  vars: Record<string, unknown>;
}

type Hook = (addon: PlannedAddon, node: AddonNode) => Promise<PreparedAddon>;

const HOOKS: Record<string, () => Promise<Hook>> = {
  helm3: async () => (await import('./helm3.js')).prepareHelm3,
  dns: async () => (await import('./dns.js')).prepareDns,
};

export async function prepareAddon(addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  const load = HOOKS[addon.name];
  return load ? (await load())(addon, node) : { vars: {} };
}
