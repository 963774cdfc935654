/**
 * Addon hooks: the little code some addons need beyond their manifest, to compute the `${vars.X}` their
 * steps use (a validated DNS argument, Cilium values for the resolved version, the helm binary).
 * An addon that is only data has no entry here. Modules load only when their addon is planned.
 */
import type { GlobalOptions } from '../grammar.js';
import type { Layout, Plan, PlannedAddon } from '../planner.js';
import type { SnapPaths } from '../node/node.js';
import type { AddonManifest } from '../catalogue.js';
import type { EnabledAddon } from '../engine/journal.js';
import type { ConfigMapEdit } from '../engine/kinds/types.js';

/** What a hook may know about the node and the invocation. */
export interface AddonNode {
  paths: SnapPaths;
  layout: Layout;
  globals: GlobalOptions;
  kubeconfig: string;
  env: NodeJS.ProcessEnv;
  /** The resolv.conf of the node's host (src/node/node.ts hostResolvConf). */
  resolvConf: string;
  /** The addon's manifest. */
  manifest: AddonManifest;
  /** The whole plan this addon is part of (an addon may depend on another planned in the same run). */
  plan: Plan;
  /** Addons enabled on the node, from the journal. */
  installed: Readonly<Record<string, EnabledAddon>>;
}

export interface PreparedAddon {
  vars: Record<string, unknown>;
  /** Lines for the user (warnings from the values lint, compatibility notes). */
  notes?: string[];
  /** Edits of ConfigMap values, by the name the addon's kube-configmap steps give in `edit` (dns: `corefile-forwarders`). */
  edits?: Record<string, ConfigMapEdit>;
}

/** An addon this one requires (its manifest's `requires`), as it will be when this addon's steps run: planned in the same run, else installed. */
export function requiredAddon(node: AddonNode, name: string): { name: string; planned?: PlannedAddon; installed?: EnabledAddon; version?: string } {
  const planned = node.plan.addons.find((a) => a.name === name);
  const installed = node.installed[name];
  const version = planned?.version ?? installed?.version ?? undefined;
  return { name, ...(planned ? { planned } : {}), ...(installed ? { installed } : {}), ...(version ? { version } : {}) };
}

type Hook = (addon: PlannedAddon, node: AddonNode) => Promise<PreparedAddon>;

const HOOKS: Record<string, () => Promise<Hook>> = {
  helm3: async () => (await import('./helm3.js')).prepareHelm3,
  dns: async () => (await import('./dns.js')).prepareDns,
  cilium: async () => (await import('./cilium.js')).prepareCilium,
  hubble: async () => (await import('./hubble.js')).prepareHubble,
};

export async function prepareAddon(addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  const load = HOOKS[addon.name];
  return load ? (await load())(addon, node) : { vars: {} };
}
