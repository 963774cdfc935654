/**
 * What a Cilium enable or disable can change on a sandbox node, read from the real things: the node's
 * files (hashed), the sandbox's service states and log, the links in its network namespace, the helm
 * releases (vendor/bin/helm), and objects read from the API server (vendor/bin/kubectl).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { run, runChecked } from '../../src/adapters/process.js';
import type { ServiceLogEntry } from '../../src/engine/services.js';
import { treeDigest } from './node.js';
import { VENDOR_BIN, type TestSandbox } from './sandbox.js';

export const HELM = path.join(VENDOR_BIN, 'helm');

/** The Calico objects of the 1.35 sandbox (templates/sandbox/calico.yaml), as `kubectl get` names them. */
export const CALICO_OBJECTS = [
  'serviceaccount/calico-node',
  'serviceaccount/calico-kube-controllers',
  'configmap/calico-config',
  'daemonset/calico-node',
  'deployment/calico-kube-controllers',
] as const;

/** Every file under $SNAP_DATA but mk8s-addons's own journal (relative path -> hash and mode). */
export const dataTree = (sb: TestSandbox): Record<string, string> => treeDigest(sb.info.snapData, (rel) => rel === path.join('var', 'mk8s-addons'));

/** Every file under $SNAP_DATA, the journal included. */
export const wholeDataTree = (sb: TestSandbox): Record<string, string> => treeDigest(sb.info.snapData);

export interface TreeChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

/** Which files were added, removed or changed (content or mode) from `before` to `after`, sorted. */
export function treeChanges(before: Record<string, string>, after: Record<string, string>): TreeChanges {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return {
    added: keys.filter((k) => !(k in before)),
    removed: keys.filter((k) => !(k in after)),
    changed: keys.filter((k) => k in before && k in after && before[k] !== after[k]),
  };
}

/** DIR/services/<daemon>.state for every daemon the sandbox has. */
export function serviceStates(sb: TestSandbox): Record<string, string> {
  const dir = path.join(sb.dir, 'services');
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.state')).sort()) out[f.slice(0, -'.state'.length)] = readFileSync(path.join(dir, f), 'utf8').trim();
  return out;
}

/** The service log from entry `from` on, without the times. */
export async function serviceLogSince(sb: TestSandbox, from: number): Promise<Omit<ServiceLogEntry, 'at'>[]> {
  return (await sb.serviceLog()).slice(from).map(({ at: _at, ...rest }) => rest);
}

/** Names of the links in the sandbox's network namespace (`ip -n NETNS -j link show`), sorted. */
export async function links(sb: TestSandbox): Promise<string[]> {
  const r = await runChecked(['ip', ['-n', sb.info.netns, '-j', 'link', 'show']]);
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
}

export interface HelmListEntry {
  name: string;
  namespace: string;
  revision: string;
  status: string;
  chart: string;
  app_version: string;
}

/** `helm ls -n kube-system -o json` against the sandbox, without the update times. */
export async function helmReleases(sb: TestSandbox, namespace = 'kube-system'): Promise<HelmListEntry[]> {
  const r = await runChecked([HELM, ['ls', '-n', namespace, '-o', 'json', '--kubeconfig', sb.info.kubeconfig]], { env: { ...process.env, ...sb.env } });
  return (JSON.parse(r.stdout) as (HelmListEntry & { updated: string })[]).map(({ updated: _u, ...rest }) => rest);
}

/** `helm ls -A -o json`: every release in the cluster, names only. */
export async function allReleases(sb: TestSandbox): Promise<string[]> {
  const r = await runChecked([HELM, ['ls', '-A', '-o', 'json', '--kubeconfig', sb.info.kubeconfig]], { env: { ...process.env, ...sb.env } });
  return (JSON.parse(r.stdout) as { name: string; namespace: string }[]).map((x) => `${x.namespace}/${x.name}`).sort();
}

/** `helm get values cilium -n kube-system -o json`: the user-supplied values of the release. */
export async function releaseValues(sb: TestSandbox, release = 'cilium'): Promise<unknown> {
  const r = await runChecked([HELM, ['get', 'values', release, '-n', 'kube-system', '-o', 'json', '--kubeconfig', sb.info.kubeconfig]], { env: { ...process.env, ...sb.env } });
  return JSON.parse(r.stdout) as unknown;
}

/** An object from the API, or undefined when it does not exist (NotFound). */
export async function getObject<T = Record<string, unknown>>(sb: TestSandbox, kindName: string, namespace = 'kube-system'): Promise<T | undefined> {
  const r = await sb.kubectlAny(['get', kindName, '-n', namespace, '-o', 'json']);
  if (r.exitCode !== 0) {
    if (/\(NotFound\)/.test(r.stderr)) return undefined;
    throw new Error(`kubectl get ${kindName} -n ${namespace} failed: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as T;
}

interface Workload {
  metadata: { generation: number };
  spec: { replicas?: number; template: { spec: { volumes?: { name: string; hostPath?: { path: string } }[]; containers: { name: string; image: string }[] } } };
  status: Record<string, number | undefined>;
}

/** What a DaemonSet / Deployment shows, from one read of it from the API. */
export interface WorkloadFacts {
  /** `<kind/name>: ready` when rolled out and ready, else the counts (or `not found`). */
  readiness: string;
  /** hostPath volumes by volume name. */
  hostPaths: Record<string, string>;
  /** Container images by container name. */
  images: Record<string, string>;
}

/**
 * Reads a workload: whether it is rolled out and ready (its status counts all equal and at least 1, for
 * the generation it has), its hostPaths and its images.
 */
export async function workload(sb: TestSandbox, kindName: string): Promise<WorkloadFacts> {
  const o = await getObject<Workload>(sb, kindName);
  if (!o) return { readiness: `${kindName}: not found`, hostPaths: {}, images: {} };
  const s = o.status;
  const counts = kindName.startsWith('daemonset/')
    ? { desired: s.desiredNumberScheduled, current: s.currentNumberScheduled, updated: s.updatedNumberScheduled, ready: s.numberReady, available: s.numberAvailable }
    : { replicas: o.spec.replicas, current: s.replicas, updated: s.updatedReplicas, ready: s.readyReplicas, available: s.availableReplicas };
  const values = Object.values(counts);
  const readiness =
    s.observedGeneration !== o.metadata.generation
      ? `${kindName}: generation ${o.metadata.generation} not observed (${s.observedGeneration})`
      : values.every((v) => v !== undefined && v >= 1 && v === values[0])
        ? `${kindName}: ready`
        : `${kindName}: ${JSON.stringify(counts)}`;
  const spec = o.spec.template.spec;
  return {
    readiness,
    hostPaths: Object.fromEntries((spec.volumes ?? []).filter((v) => v.hostPath).map((v) => [v.name, v.hostPath?.path as string])),
    images: Object.fromEntries(spec.containers.map((c) => [c.name, c.image])),
  };
}

/** `<kind/name>: ready`, or why not (see workload()). */
export const readiness = async (sb: TestSandbox, kindName: string): Promise<string> => (await workload(sb, kindName)).readiness;

/** The workload's hostPath volumes by volume name. */
export async function hostPaths(sb: TestSandbox, kindName: string): Promise<Record<string, string>> {
  const w = await workload(sb, kindName);
  if (w.readiness.endsWith(': not found')) throw new Error(`${kindName} does not exist`);
  return w.hostPaths;
}

/** Names of the pods matching `selector` in kube-system. */
export async function podNames(sb: TestSandbox, selector: string): Promise<string[]> {
  const r = await sb.kubectl(['get', 'pods', '-n', 'kube-system', '-l', selector, '-o', 'json']);
  return (JSON.parse(r.stdout) as { items: { metadata: { name: string } }[] }).items.map((p) => p.metadata.name).sort();
}

/** Namespaces and their phase, e.g. `cilium-secrets Terminating`. */
export async function namespaces(sb: TestSandbox): Promise<string[]> {
  const r = await sb.kubectl(['get', 'namespaces', '-o', 'json']);
  return (JSON.parse(r.stdout) as { items: { metadata: { name: string }; status: { phase: string } }[] }).items.map((n) => `${n.metadata.name} ${n.status.phase}`).sort();
}

/** Which of the Calico objects exist. */
export async function calicoPresent(sb: TestSandbox): Promise<string[]> {
  const out: string[] = [];
  for (const o of CALICO_OBJECTS) if (await getObject(sb, o)) out.push(o);
  return out;
}

/** The Kubernetes version the sandbox's API server reports (`v1.34.4`). */
export async function serverGitVersion(sb: TestSandbox): Promise<string> {
  const r = await run([path.join(VENDOR_BIN, 'kubectl'), ['version', '-o', 'json', '--kubeconfig', sb.info.kubeconfig]], { env: { ...process.env, ...sb.env } });
  return (JSON.parse(r.stdout) as { serverVersion: { gitVersion: string } }).serverVersion.gitVersion;
}

export interface JournalAddon {
  version: string | null;
  requested: string | null;
  args: Record<string, unknown>;
  options: Record<string, unknown>;
  history?: { version: string | null; at: string }[];
  steps: { phase: string }[];
}

/** $SNAP_DATA/var/mk8s-addons/journal.json's addons (an empty object when there is no journal yet). */
export function journalAddons(sb: TestSandbox): Record<string, JournalAddon> {
  try {
    return (JSON.parse(readFileSync(path.join(sb.info.snapData, 'var', 'mk8s-addons', 'journal.json'), 'utf8')) as { addons: Record<string, JournalAddon> }).addons;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

/** The CNI configs the runtime would load: files of args/cni-network ending in .conf, .conflist or .json. */
export function activeCniConfigs(sb: TestSandbox): string[] {
  return readdirSync(path.join(sb.info.snapData, 'args', 'cni-network')).filter((n) => /\.(conf|conflist|json)$/.test(n)).sort();
}

/** Lines of an args file (or any node file under args/). */
export const argsLines = (sb: TestSandbox, name: string): string[] => readFileSync(path.join(sb.info.snapData, 'args', name), 'utf8').split('\n').filter(Boolean);

/**
 * Polls `probe` until it returns `want` (deep equality by JSON), for eventual cluster state (an object
 * being deleted by its controllers). Resolves with the last value, so the caller asserts on it: a state
 * that never comes fails with what was seen, never with a time.
 */
export async function settle<T>(probe: () => Promise<T>, want: T, opts: { attempts?: number; intervalMs?: number } = {}): Promise<T> {
  const attempts = opts.attempts ?? 240;
  let last = await probe();
  for (let i = 1; i < attempts && JSON.stringify(last) !== JSON.stringify(want); i++) {
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
    last = await probe();
  }
  return last;
}

/** A JSON event of `--output json`. */
export interface CliEvent {
  type: string;
  phase?: string | null;
  status?: string;
  changed?: boolean | number;
  summary?: string;
  detail?: string;
  message?: string;
  code?: string;
  ok?: boolean;
  restarts?: Record<string, number>;
  dryRun?: boolean;
  [key: string]: unknown;
}

export const cliEvents = (stdout: string): CliEvent[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as CliEvent);

/** Each step's last status, by phase, in the order the phases first appear. */
export function stepOutcomes(events: readonly CliEvent[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of events) if (e.type === 'step' && e.status !== 'started') out[e.phase as string] = e.status as string;
  return out;
}

/** The `note` events as `phase: message`. */
export const notes = (events: readonly CliEvent[]): string[] => events.filter((e) => e.type === 'note').map((e) => `${e.phase}: ${e.message}`);
