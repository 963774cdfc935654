/**
 * hubble: Hubble relay (and UI) for the installed Cilium, as an upgrade of the same `cilium` release with
 * the Hubble keys of that version (1.8: global.hubble.*; 1.9+: hubble.*) on top of cilium's own values
 * and options, so nothing else about the release changes.
 */
import type { PlannedAddon } from '../planner.js';
import { requiredAddon, type AddonNode, type PreparedAddon } from './hooks.js';
import { PreconditionError } from '../errors.js';
import { ciliumOptions, ciliumReleaseValues } from './cilium.js';
import { ciliumPostRenderer } from '../cilium/post-render.js';
import { compareVersions } from '../catalogue.js';

export async function prepareHubble(addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  // No node steps: a node-local run for another node has nothing of hubble's to run (no values, no lint).
  if (node.nodeLocal) return { vars: {} };
  // The release hubble upgrades is the one of the addon its manifest requires (cilium), as it will be
  // when this step runs: planned in the same run, or installed.
  const base = requiredAddon(node, node.manifest.requires[0] ?? '');
  const { version, planned, installed } = base;
  if (!version) throw new PreconditionError(`${addon.name} needs ${base.name}; enable ${base.name} first (mk8s-addons enable ${base.name} ${addon.name})`);
  const options = ciliumOptions(planned, installed);
  const ui = addon.args.ui === true;
  const { chart, values, notes } = await ciliumReleaseValues(node, version, options, { relay: true, ui });
  const rollouts = [{ kind: 'Deployment', name: 'hubble-relay', namespace: 'kube-system' }, ...(ui ? [{ kind: 'Deployment', name: 'hubble-ui', namespace: 'kube-system' }] : [])];
  return {
    notes,
    vars: { chart, chartVersion: version, values, postRenderer: ciliumPostRenderer(version, node.paths.snapData) ?? null, rollouts, skipCrds: compareVersions(version, '1.9.0') < 0 },
  };
}
