/**
 * Render checks: render the chart with the real `helm template` (the same values the install uses, and
 * the same hostPath rewrites its post-renderer makes) and check that the objects fit MicroK8s before
 * anything on the node changes:
 * - the agent DaemonSet mounts its run directory, the CNI bin dir and the CNI conf dir under $SNAP_DATA;
 * - no workload mounts the stock host paths /var/run/cilium, /opt/cni/bin or /etc/cni/net.d (on 1.8 -
 *   1.10 hubble-relay does unless the post-renderer moved it, see post-render.ts);
 * - cilium-config carries what the values asked for: custom CNI conf, the pod CIDR, kube-proxy
 *   replacement off; the operator runs one replica; relay / UI exist when Hubble was asked for.
 * A value the chart silently ignored shows up here as a wrong object.
 *
 * The rewrites are applied here, in this process, by the function the post-renderer script calls
 * (rewriteHostPaths): Helm hands a post-renderer exactly the stream `helm template` prints without one,
 * so the result is the same bytes (test/unit/cilium-render-check.test.ts compares them with the real
 * post-renderer) without a second Node process per check. The install itself keeps the post-renderer,
 * so that the release Helm records is the rewritten one.
 */
import yaml from 'js-yaml';
import { createRequire } from 'node:module';
import path from 'node:path';
import { helmTemplateCommand, template, valuesFileText, type HelmContext } from '../adapters/helm.js';
import { checkCacheDir, codeOf, digestOf, fileIdentity, readVerdict, writeVerdict } from '../adapters/derived-cache.js';
import { UsageError } from '../errors.js';
import { readChartArchive } from './chart-archive.js';
import { HELM_YAML_SCHEMA, isTable, type HelmValues } from './helm-values.js';
import { hostPathsOf, rewriteHostPaths, type HostPathRewrite } from './post-render.js';

/** The release namespace MicroK8s's addons use. */
export const CILIUM_NAMESPACE = 'kube-system';

/** The host paths of a stock install that MicroK8s keeps under $SNAP_DATA instead. */
export const STOCK_HOST_PATHS = { runDir: '/var/run/cilium', cniBin: '/opt/cni/bin', cniConf: '/etc/cni/net.d' } as const;

export interface RenderExpectations {
  /** $SNAP_DATA. */
  snapData: string;
  /** The pod CIDR the values set (checked in cilium-config when given). */
  podCidr?: string;
  /** Hubble as asked for; relay / UI Deployments must be rendered. */
  hubble?: { relay: boolean; ui: boolean };
}

export interface RenderProblem {
  /** e.g. `DaemonSet cilium`. */
  object: string;
  message: string;
}

interface K8sObject {
  kind?: string;
  metadata?: { name?: string };
  data?: Record<string, unknown>;
  spec?: { replicas?: unknown };
}

const WORKLOADS = new Set(['DaemonSet', 'Deployment', 'StatefulSet', 'ReplicaSet', 'Job', 'CronJob', 'Pod']);

const under = (p: string, dir: string): boolean => p === dir || p.startsWith(`${dir}/`);

/** Parses a manifest stream (YAML 1.1, as the API server's client reads it). */
export function parseManifests(stream: string): K8sObject[] {
  return yaml.loadAll(stream, null, { schema: HELM_YAML_SCHEMA }).filter((d): d is K8sObject => isTable(d));
}

/** The problems of rendered manifests on a MicroK8s node (empty: fine). Pure. */
export function checkRenderedManifests(stream: string, expect: RenderExpectations): RenderProblem[] {
  const snapData = expect.snapData.replace(/\/+$/, '');
  const objects = parseManifests(stream);
  const problems: RenderProblem[] = [];
  const find = (kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata?.name === name);
  const problem = (object: string, message: string) => problems.push({ object, message });

  for (const o of objects) {
    if (!WORKLOADS.has(o.kind ?? '')) continue;
    for (const h of hostPathsOf(o)) {
      const stock = Object.values(STOCK_HOST_PATHS).find((p) => under(h.path, p));
      if (stock !== undefined) {
        problem(`${o.kind} ${o.metadata?.name}`, `hostPath ${h.path} (volume ${h.volume}) is the stock path; on MicroK8s it is ${snapData}${stockToSnap(stock)}${h.path.slice(stock.length)}`);
      }
    }
  }

  const agent = find('DaemonSet', 'cilium');
  if (!agent) {
    problem('DaemonSet cilium', 'the agent DaemonSet is not rendered');
  } else {
    const paths = hostPathsOf(agent).map((h) => h.path);
    for (const [what, stock] of Object.entries(STOCK_HOST_PATHS)) {
      const want = `${snapData}${stockToSnap(stock)}`;
      if (!paths.includes(want)) problem('DaemonSet cilium', `no hostPath ${want} (${DESCRIPTIONS[what as keyof typeof STOCK_HOST_PATHS]})`);
    }
  }

  const config = find('ConfigMap', 'cilium-config');
  if (!config) {
    problem('ConfigMap cilium-config', 'not rendered');
  } else {
    const data = config.data ?? {};
    const expectKey = (key: string, ok: (v: unknown) => boolean, want: string) => {
      if (!ok(data[key])) problem('ConfigMap cilium-config', `${key} is ${JSON.stringify(data[key] ?? null)}, want ${want}`);
    };
    expectKey('custom-cni-conf', (v) => v === 'true', '"true" (mk8s-addons writes the CNI config)');
    expectKey('kube-proxy-replacement', (v) => v === 'disabled' || v === 'false', '"disabled" or "false" (MicroK8s runs kube-proxy)');
    if (expect.podCidr !== undefined) expectKey('cluster-pool-ipv4-cidr', (v) => v === expect.podCidr, JSON.stringify(expect.podCidr));
  }

  const operator = find('Deployment', 'cilium-operator');
  if (!operator) problem('Deployment cilium-operator', 'not rendered');
  else if (operator.spec?.replicas !== 1) problem('Deployment cilium-operator', `runs ${JSON.stringify(operator.spec?.replicas)} replicas, want 1 (one node fits one)`);

  if (expect.hubble?.relay || expect.hubble?.ui) {
    if (!find('Deployment', 'hubble-relay')) problem('Deployment hubble-relay', 'not rendered, but Hubble Relay was asked for');
  }
  if (expect.hubble?.ui && !find('Deployment', 'hubble-ui')) problem('Deployment hubble-ui', 'not rendered, but the Hubble UI was asked for');
  return problems;
}

const DESCRIPTIONS: Record<keyof typeof STOCK_HOST_PATHS, string> = {
  runDir: "the agent's run directory, daemon.runPath",
  cniBin: 'the CNI bin dir, cni.binPath',
  cniConf: 'the CNI conf dir, cni.confPath',
};

function stockToSnap(stock: string): string {
  if (stock === STOCK_HOST_PATHS.cniConf) return '/args/cni-network';
  return stock; // /var/run/cilium and /opt/cni/bin keep their names under $SNAP_DATA
}

export interface RenderCheckParams {
  /** The packaged chart. */
  chart: string;
  /** The complete values (mk8s-addons' and the user's, merged). */
  values: HelmValues;
  /** The hostPath rewrites the install's post-renderer makes (ciliumHostPathRewrites, see post-render.ts). */
  rewrites?: readonly HostPathRewrite[];
  expect: RenderExpectations;
  /** Kubernetes version for the chart's kubeVersion check, e.g. `1.31.0`. */
  kubeVersion?: string;
}

/**
 * Renders with the real helm (release cilium, namespace kube-system), applies the rewrites, and checks
 * the result. A rewrite that cannot reach its hostPath (the install's post-renderer would fail on it) is a
 * problem like any other.
 */
export async function renderCheck(ctx: HelmContext, p: RenderCheckParams): Promise<{ manifests: string; problems: RenderProblem[] }> {
  const rendered = await template(ctx, {
    release: 'cilium',
    chart: p.chart,
    namespace: CILIUM_NAMESPACE,
    values: [p.values],
    kubeVersion: p.kubeVersion,
  });
  if (!p.rewrites?.length) return { manifests: rendered, problems: checkRenderedManifests(rendered, p.expect) };
  let manifests: string;
  try {
    manifests = rewriteHostPaths(rendered, p.rewrites);
  } catch (err) {
    return { manifests: rendered, problems: [{ object: 'hostPath rewrite', message: (err as Error).message }] };
  }
  return { manifests, problems: checkRenderedManifests(manifests, p.expect) };
}

/**
 * The cache key of a render check's verdict: the sha256 of everything the verdict depends on: the chart's
 * exact bytes; the helm binary (its identity: path, inode, size, mtime, ctime) and the helm command line
 * (release, namespace, chart path, --kube-version); the values file's exact text; helm's own settings from
 * the environment (HELM_*); the rewrites and what is expected; the code of the check (this module,
 * post-render, helm-values, the helm adapter), the YAML parser's version and Node's. Undefined when one
 * of them cannot be known (helm not given as a path, js-yaml's package.json not found): such a check is not kept.
 */
export async function renderVerdictKey(ctx: HelmContext, p: RenderCheckParams): Promise<string | undefined> {
  if (!path.isAbsolute(ctx.helm)) return undefined;
  // Synchronous but for the chart (already read by the lint): the key is on the way to `helm template`.
  let helmId: string;
  let yamlVersion: string;
  try {
    helmId = fileIdentity(ctx.helm);
    yamlVersion = String((createRequire(import.meta.url)('js-yaml/package.json') as { version: unknown }).version);
  } catch {
    return undefined;
  }
  const command = helmTemplateCommand(ctx, { release: 'cilium', chart: p.chart, namespace: CILIUM_NAMESPACE, valuesFiles: ['values.json'], kubeVersion: p.kubeVersion });
  const helmEnv = Object.entries(ctx.env ?? process.env)
    .filter(([k]) => k.startsWith('HELM_'))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return digestOf([
    'cilium render check',
    await readChartArchive(p.chart),
    helmId,
    JSON.stringify(command),
    valuesFileText(p.values),
    JSON.stringify(helmEnv),
    JSON.stringify(p.rewrites ?? []),
    JSON.stringify(p.expect),
    yamlVersion,
    process.version,
    ...codeOf(import.meta.url, new URL('./post-render.js', import.meta.url).href, new URL('./helm-values.js', import.meta.url).href, new URL('../adapters/helm.js', import.meta.url).href),
  ]);
}

/**
 * renderCheck, or its verdict kept from an earlier run with exactly the same inputs (renderVerdictKey):
 * a render that passed is kept in `cacheDir` (default checkCacheDir()), so the same check again runs no
 * `helm template`. A render with problems is never kept: it is rendered again, and reported in full.
 */
export async function renderCheckCached(ctx: HelmContext, p: RenderCheckParams, cacheDir: string = checkCacheDir()): Promise<{ problems: RenderProblem[]; cached: boolean }> {
  const key = await renderVerdictKey(ctx, p);
  const kept = key === undefined ? undefined : readVerdict<{ problems?: unknown }>(cacheDir, key);
  if (Array.isArray(kept?.problems) && kept.problems.length === 0) return { problems: [], cached: true };
  const { problems } = await renderCheck(ctx, p);
  if (key !== undefined && problems.length === 0) writeVerdict(cacheDir, key, { problems, chart: path.basename(p.chart), kubeVersion: p.kubeVersion ?? null });
  return { problems, cached: false };
}

/** Nothing has changed on the node yet, so problems are a usage error: the values move what must stay. */
export function assertRenderOk(chartLabel: string, problems: readonly RenderProblem[]): void {
  if (problems.length === 0) return;
  const list = problems.map((p) => `${p.object}: ${p.message}`).join('; ');
  throw new UsageError(`the rendered ${chartLabel} chart does not fit MicroK8s: ${list}; drop the --set / -f values that change these paths or settings`);
}
