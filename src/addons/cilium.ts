/**
 * cilium: everything its steps need, computed before anything on the node changes (so that a bad value,
 * an unknown key with --strict, an unsupported Kubernetes version or a render that would put the agent's
 * paths outside $SNAP_DATA is an exit 2 with nothing touched):
 * - (the pinned chart, the helm binary and the version are the manifest's placeholders, chart-addon.ts);
 * - values rendered from templates/cilium/ for the version's key layout, the user's -f / --set /
 *   --set-string on top exactly as Helm merges them, linted against the chart's own values.yaml;
 * - the Kubernetes/Cilium compatibility check against the cluster's version;
 * - a real `helm template` whose objects are checked (agent hostPaths under $SNAP_DATA);
 * - on an HA (Calico) node, Calico's objects from args/cni-network/cni.yaml, removed only once Cilium runs;
 * - the agent CLI wrapper.
 */
import path from 'node:path';
import type { PlannedAddon } from '../planner.js';
import type { AddonNode, PreparedAddon } from './hooks.js';
import { readInputFile, readText } from '../adapters/fs.js';
import { MAX_INPUT_BYTES, capLines } from '../input.js';
import { pinnedChart } from './chart-addon.js';
import { resolveTool } from '../adapters/tools.js';
import { quoteWord } from '../adapters/process.js';
import { PreconditionError, UsageError } from '../errors.js';
import { helmBinary } from './helm3.js';
import { nodeFiles, readSandboxMarker } from '../node/node.js';
import { ciliumValues, podCidrFromCniEnv } from '../cilium/values.js';
import { mergeUserValues, type UserValues } from '../cilium/helm-values.js';
import { loadChartKeys, checkValues, userValuesLayers } from '../cilium/lint.js';
import { ciliumHostPathRewrites, ciliumPostRenderer } from '../cilium/post-render.js';
import { renderCheckCached, assertRenderOk, CILIUM_NAMESPACE } from '../cilium/render-check.js';
import { checkCompatibility, type CompatibilityTable } from '../compatibility.js';
import { compareVersions } from '../catalogue.js';
import { releaseState, sameHelmValues, type ReleaseState } from '../adapters/helm.js';
// Static (a light module: the Kubernetes client behind it loads only to change objects), so that the
// version request goes out as soon as the hook starts.
import { connect, serverVersion } from '../adapters/kube.js';

/** The agent's debug CLI: `cilium` up to 1.14, `cilium-dbg` from 1.15. */
export const agentCli = (version: string): string => (compareVersions(version, '1.15.0') >= 0 ? 'cilium-dbg' : 'cilium');

/** $SNAP_DATA/bin/cilium: the agent's CLI with this node's sockets (the field notes' alias, installed). */
export function agentWrapper(p: { snapData: string; version: string; kubectl: string; kubeconfig: string }): string {
  const run = path.join(p.snapData, 'var', 'run', 'cilium');
  const copy = path.join(p.snapData, 'bin', `cilium-${p.version}`);
  return `#!/bin/sh
# Installed by mk8s-addons (enable cilium ${p.version}): the Cilium agent's debug CLI with this node's sockets.
export CILIUM_SOCK=${quoteWord(`${run}/cilium.sock`)}
export CILIUM_HEALTH_SOCK=${quoteWord(`${run}/health.sock`)}
export CILIUM_MONITOR_SOCK=${quoteWord(`${run}/monitor1_2.sock`)}
# A copy of the agent's own binary, when one was taken from an agent pod; else run it in the agent pod.
if [ -x ${quoteWord(copy)} ]; then exec ${quoteWord(copy)} "$@"; fi
exec ${quoteWord(p.kubectl)} --kubeconfig ${quoteWord(p.kubeconfig)} -n kube-system exec ds/cilium -c cilium-agent -- ${agentCli(p.version)} "$@"
`;
}

/** Calico's objects (names only) from MicroK8s's manifest, to delete once Cilium is ready. */
async function calicoObjects(cniYaml: string): Promise<object[]> {
  const text = await readText(cniYaml);
  if (text === undefined) return [];
  const { default: yaml } = await import('js-yaml');
  const docs = yaml.loadAll(text) as ({ apiVersion?: string; kind?: string; metadata?: { name?: string; namespace?: string } } | null)[];
  return docs
    .filter((d): d is { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } => !!d?.apiVersion && !!d.kind && !!d.metadata?.name)
    .map((d) => ({ apiVersion: d.apiVersion, kind: d.kind, metadata: { name: d.metadata.name, ...(d.metadata.namespace ? { namespace: d.metadata.namespace } : {}) } }));
}

async function userValues(options: PlannedAddon['options']): Promise<UserValues> {
  const list = (flag: string) => {
    const v = options[flag];
    return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
  };
  const files = [];
  for (const f of list('--values')) {
    const text = await readInputFile(f && path.resolve(f), `-f ${f}`, MAX_INPUT_BYTES);
    if (text === undefined) throw new UsageError(`-f ${f}: no such file; give a readable values file`);
    files.push({ path: f, text });
  }
  return { files, set: list('--set'), setString: list('--set-string') };
}

export interface CiliumValuesResult {
  version: string;
  chart: string;
  values: Record<string, unknown>;
  notes: string[];
}

/** The complete values for the chart (ours for the version, hubble as installed, the user's on top), linted. */
export async function ciliumReleaseValues(node: AddonNode, version: string, options: PlannedAddon['options'], hubble: { relay: boolean; ui: boolean } | undefined): Promise<CiliumValuesResult> {
  const chart = await pinnedChart('cilium', undefined, version);
  const podCidr = podCidrFromCniEnv(await readText(nodeFiles(node.paths).args('cni-env')));
  const base = await ciliumValues({ version, snapData: node.paths.snapData, snapCommon: node.paths.snapCommon, podCidr, ...(hubble ? { hubble } : {}) });
  const user = await userValues(options);
  const values = mergeUserValues([base], user);
  const keys = await loadChartKeys(chart);
  const findings = checkValues(keys, [{ source: 'template', values: base }, ...userValuesLayers(user)], { strict: node.globals.strict });
  // A file full of unknown keys is one mistake: the first ones say what it is.
  const notes = capLines(findings.map((f) => `warning: ${f.message}`), 20, (n) => `warning: and ${n} more values the chart does not have (--strict refuses them all)`);
  return { version, chart, values, notes };
}

/**
 * The options cilium's release is rendered with: the user's when cilium is requested; when it is only
 * pulled in by a dependant (`enable hubble`), the options it was enabled with, so that enabling hubble
 * does not drop the user's --set / -f values from the release.
 */
export function ciliumOptions(planned: PlannedAddon | undefined, installed: AddonNode['installed'][string] | undefined): PlannedAddon['options'] {
  if (planned && (planned.reason === 'requested' || !installed)) return planned.options;
  return installed?.options ?? {};
}

/** The values of settled promises, or the reason of the first (in list order) that failed. */
function valuesInOrder<T extends readonly unknown[]>(settled: { [K in keyof T]: PromiseSettledResult<T[K]> }): T {
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** The cluster's Kubernetes version (read from the API). */
async function clusterVersion(kubeconfig: string): Promise<string> {
  return serverVersion(await connect(kubeconfig)).catch((err: Error) => {
    throw new PreconditionError(`cannot read the cluster's Kubernetes version (${err.message.split('\n')[0]}); is MicroK8s running? (mk8s-addons start)`);
  });
}

/**
 * The vars cilium's node steps (`node: true` in its manifest) use: the agent CLI's name, whether it is
 * copied out of a pod, the wrapper. The same for a run here and a node-local run for another node.
 */
async function ciliumNodeVars(node: AddonNode, version: string): Promise<{ agentCli: string; copyCli: boolean; wrapper: string }> {
  // The agent's CLI is copied out of an agent pod; a sandbox that simulates this version's agent has no
  // container to copy it from (its $SNAP_DATA/bin/cilium then runs the CLI in the pod).
  const marker = await readSandboxMarker(node.paths);
  const minor = (v: string | undefined) => v?.split('.').slice(0, 2).join('.');
  const copyCli = !marker || minor(marker.realAgent) === minor(version);
  const kubectl = (await resolveTool('kubectl', node.paths.snap)).path;
  return { agentCli: agentCli(version), copyCli, wrapper: agentWrapper({ snapData: node.paths.snapData, version, kubectl, kubeconfig: nodeFiles(node.paths).clientConfig }) };
}

export async function prepareCilium(addon: PlannedAddon, node: AddonNode): Promise<PreparedAddon> {
  const version = addon.version as string;
  // Another node's fan-out runs only the node steps here: no values, lint, compatibility (the initiating
  // node checked it, with its --force), render check, release state or Calico reads (no helm process).
  if (node.nodeLocal) return { vars: await ciliumNodeVars(node, version) };
  const installedHubble = node.installed.hubble;
  const hubble = installedHubble ? { relay: true, ui: installedHubble.args.ui === true } : undefined;
  const files = nodeFiles(node.paths);
  const release = { release: 'cilium', namespace: CILIUM_NAMESPACE };

  // Everything below reads only, and each read waits on nothing the others make, so they run side by
  // side (the requests go out first; the values are computed while they travel). A failure is reported
  // in the order values, version, compatibility, helm binary, release, Calico, whatever finished first.
  const k8s = clusterVersion(node.kubeconfig);
  const helm = helmBinary(node.paths.snap);
  const others = Promise.allSettled([helm, helm.then((h) => releaseState({ helm: h, kubeconfig: node.kubeconfig, env: node.env }, release)), calicoObjects(path.join(files.cniNetwork, 'cni.yaml'))]);
  const [{ chart, values, notes }, k8sVersion] = valuesInOrder<[CiliumValuesResult, string]>(
    await Promise.allSettled([ciliumReleaseValues(node, version, ciliumOptions(addon, node.installed.cilium), hubble), k8s]),
  );

  // Compatibility with the cluster's Kubernetes.
  const table = (node.manifest.compatibility ?? []) as CompatibilityTable;
  const compat = checkCompatibility(table, { name: 'Cilium', addon: addon.name }, version, k8sVersion);
  // Pulled in by a dependant (enable hubble) at the version already installed: nothing is being installed,
  // so the version the user once forced in is kept rather than refused again.
  const kept = addon.reason !== 'requested' && node.installed.cilium?.version === version;
  if (!compat.ok && kept) notes.push(`cilium ${version} stays as installed although ${compat.reason}`);
  else if (!compat.ok) {
    if (!node.globals.force) throw new UsageError(`Cilium ${version} on Kubernetes ${k8sVersion}: ${compat.reason}; choose another version (mk8s-addons list) or give --force`);
    notes.push(`--force: installing anyway although ${compat.reason}`);
  } else if (compat.reason) notes.push(compat.reason);

  // Render with the real helm and check the objects before anything changes, unless exactly this chart
  // with exactly these values is what is deployed (it was checked when it was installed), or a check
  // with exactly the same inputs passed before (its verdict is kept, see renderCheckCached). The hostPath
  // rewrites of the post-renderer the install runs are applied in this process (see render-check.ts).
  const render = async () =>
    renderCheckCached(
      { helm: await helm, env: node.env },
      {
        chart,
        values,
        rewrites: ciliumHostPathRewrites(version, node.paths.snapData),
        expect: { snapData: node.paths.snapData, ...(hubble ? { hubble } : {}) },
        kubeVersion: k8sVersion.replace(/^v/, '').replace(/[-+].*$/, ''),
      },
    );
  // Only whether the render starts before the release is read or after depends on the journal: when it
  // records no cilium at this version, the release is hardly unchanged, so render now, side by side.
  const early = node.installed.cilium?.version === version ? undefined : render();
  early?.catch(() => undefined);
  const [, state, calico] = valuesInOrder<[string, ReleaseState | undefined, object[]]>(await others);
  const unchanged = state?.release.status === 'deployed' && state.chartVersion === version && sameHelmValues(state.values, values);
  // The vars do not depend on the render: the engine gets them (and a dry-run checks the steps) while
  // `helm template` runs; the verdict must pass before any step is reported or applied.
  const verdict = unchanged ? undefined : (early ?? render()).then(({ problems }) => assertRenderOk(`cilium ${version}`, problems));
  verdict?.catch(() => undefined);

  return {
    notes,
    ...(verdict ? { verdict } : {}),
    vars: {
      values,
      postRenderer: ciliumPostRenderer(version, node.paths.snapData) ?? null,
      calicoObjects: calico,
      restartPods: !node.globals.noRestartPods,
      ...(await ciliumNodeVars(node, version)),
      // 1.8's crds/ holds only a monitoring.coreos.com/v1beta1 ServiceMonitor CRD (for Prometheus Operator),
      // which Kubernetes 1.22+ rejects; Cilium's own CRDs are registered by the agent and operator.
      skipCrds: compareVersions(version, '1.9.0') < 0,
    },
  };
}
