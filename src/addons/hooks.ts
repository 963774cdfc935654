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

/** What a hook may know about the node and the invocation. */
export interface AddonNode {
  paths: SnapPaths;
  layout: Layout;
  globals: GlobalOptions;
  kubeconfig: string;
  env: NodeJS.ProcessEnv;
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

/** Starts loading the hooks of these addons (a dry-run runs them as soon as the node is known). */
export function preloadHooks(names: readonly string[]): void {
  for (const n of names) HOOKS[n]?.().catch(() => undefined);
}
