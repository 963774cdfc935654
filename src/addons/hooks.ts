/**
 * Addon hooks: the little code some addons need beyond their manifest, to compute the `${vars.X}` their
 * steps use (a validated DNS argument, Cilium values for the resolved version, the helm3 wrapper).
 * An addon that is only data has no entry here: its chart placeholders (`${helm}`, `${chart}`,
 * `${version}`, `${release.name}`, `${values}`) come from its manifest (chart-addon.ts). Modules load
 * only when their addon is planned.
 */
import type { GlobalOptions } from '../grammar.js';
import type { Layout, Plan, PlannedAddon } from '../planner.js';
import type { SnapPaths } from '../node/node.js';
import type { AddonManifest } from '../catalogue.js';
import type { EnabledAddon } from '../engine/journal.js';
import type { ConfigMapEdit } from '../engine/kinds/types.js';
import type { ChartScope } from '../engine/build.js';

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
  /** The folder the manifest was loaded from (catalogue.folder). */
  folder?: string | undefined;
  /** The whole plan this addon is part of (an addon may depend on another planned in the same run). */
  plan: Plan;
  /** Addons enabled on the node, from the journal. */
  installed: Readonly<Record<string, EnabledAddon>>;
  /**
   * Node-local mode (src/cluster/node-local.ts: another node's fan-out): only the addon's node steps
   * run, so the hook computes only the vars those steps use (manifest steps with `node: true`), and
   * skips what only cluster-wide steps use (values, lint, the render check, release state, Calico's
   * objects, CoreDNS's objects). Default false.
   */
  nodeLocal?: boolean;
}

export interface PreparedAddon {
  vars: Record<string, unknown>;
  /** Lines for the user (warnings from the values lint, compatibility notes). */
  notes?: string[];
  /** Edits of ConfigMap values, by the name the addon's kube-configmap steps give in `edit` (dns: `corefile-forwarders`). */
  edits?: Record<string, ConfigMapEdit>;
  /** The chart placeholders (from the manifest, not the hook). */
  chart?: ChartScope;
  /**
   * A check of the addon's inputs still running when the vars are known (cilium's render check: a
   * `helm template` in another process): it must pass before any step of the run is reported or applied,
   * and rejects with the refusal. Meanwhile a dry-run checks the steps (their checks read only the node).
   */
  verdict?: Promise<void>;
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

/** The hook's vars and notes, and the chart placeholders, computed side by side. */
export async function prepareAddon(addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  const load = HOOKS[addon.name];
  const { chartScope } = await import('./chart-addon.js');
  const [hooked, chart] = await Promise.allSettled([
    load ? load().then((hook) => hook(addon, node)) : { vars: {} },
    chartScope({ addon, manifest: node.manifest, folder: node.folder, paths: node.paths }),
  ]);
  // The hook's refusal first: it says more about the arguments than a missing file does.
  if (hooked.status === 'rejected') throw hooked.reason;
  if (chart.status === 'rejected') throw chart.reason;
  return { ...hooked.value, chart: chart.value };
}

/** Starts loading the hooks of these addons (a dry-run runs them as soon as the node is known). */
export function preloadHooks(names: readonly string[]): void {
  for (const n of names) HOOKS[n]?.().catch(() => undefined);
}
