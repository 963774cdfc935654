/**
 * hubble: Hubble relay (and UI) for the installed Cilium, as an upgrade of the same `cilium` release with
 * the Hubble keys of that version (1.8: global.hubble.*; 1.9+: hubble.*) on top of cilium's own values
 * and options, so nothing else about the release changes.
 */
import type { PlannedAddon } from '../planner.js';
import type { AddonNode, PreparedAddon } from './hooks.js';
import { PreconditionError } from '../errors.js';
import { ciliumOptions, ciliumReleaseValues } from './cilium.js';
import { ciliumPostRenderer } from '../cilium/post-render.js';
import { compareVersions } from '../catalogue.js';

export async function prepareHubble(addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  // Cilium as it will be when this step runs: planned in the same run, or installed.
  const planned = node.plan.addons.find((a) => a.name === 'cilium');
  const installed = node.installed.cilium;
  const version = planned?.version ?? installed?.version;
  if (!version) throw new PreconditionError('hubble needs cilium; enable cilium first (mk8s-addons enable cilium hubble)');
  const options = ciliumOptions(planned, installed);
  const ui = addon.args.ui === true;
  const { chart, values, notes } = await ciliumReleaseValues(node, version, options, { relay: true, ui });
  const rollouts = [{ kind: 'Deployment', name: 'hubble-relay', namespace: 'kube-system' }, ...(ui ? [{ kind: 'Deployment', name: 'hubble-ui', namespace: 'kube-system' }] : [])];
  return {
    notes,
    vars: { chart, chartVersion: version, values, postRenderer: ciliumPostRenderer(version, node.paths.snapData) ?? null, rollouts, skipCrds: compareVersions(version, '1.9.0') < 0 },
  };
}
