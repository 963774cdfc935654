/**
 * A sandbox node: everything of a MicroK8s node that mk8s-addons touches, on one machine. Real where it
 * can be: the node's files laid out like MicroK8s's (templates/sandbox/<era>/), a real control plane
 * (kube-apiserver, etcd, controllers, scheduler, kwok as the kubelets), real helm and kubectl, a network
 * namespace with real links (flanneld's flannel.1). Simulated, and said so: snapd/systemd (services are
 * state files and a log), the container runtime (kwok runs no containers) and the kernel's BPF.
 *
 * DIR/
 *   snap/ data/ common/        SNAP, SNAP_DATA, SNAP_COMMON
 *   cp/                        the control plane (src/sandbox/control-plane.ts)
 *   services/                  <daemon>.state and log.jsonl (src/engine/services.ts)
 *   resolv.conf                the "host's" resolv.conf
 *   sandbox.json               what `sandbox env` and `sandbox down` need
 */
import { cp as copyTree, mkdir, rm, writeFile, copyFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { packagePath, toolPath } from '../adapters/package-files.js';
import { exists, readText } from '../adapters/fs.js';
import { run, runChecked, withoutProxy } from '../adapters/process.js';
import { PreconditionError, UsageError } from '../errors.js';
import { pollUntil } from '../poll.js';
import { startControlPlane, stopControlPlane, controlPlaneStatus, restartComponent, loadControlPlane, kubeApi, isRunning, logTail } from './control-plane.js';
import type { Layout } from '../planner.js';
import type { SandboxMarker } from '../node/node.js';
import { sandboxManager, readServiceLog, type ServiceManager } from '../engine/services.js';
import { locateCiliumBuild } from './cilium-binaries.js';
import type { ClusterNodeStatus } from './cluster-nodes.js';
import { agentMode, nodeDir, KUBELET_NODE, prepareNode, readKubeletState, startKubelet, stopKubelet, teardownNode, type AgentMode } from './kubelet-process.js';

export type SandboxEra = '1.20' | '1.35';

export interface SandboxInfo {
  dir: string;
  era: SandboxEra;
  layout: Layout;
  netns: string;
  snap: string;
  snapData: string;
  snapCommon: string;
  kubeconfig: string;
  /** Node objects of the control plane: the cluster's MicroK8s nodes, then kwok-only ones (--kwok-nodes). */
  nodes: number;
  /** MicroK8s nodes with a folder each (node-0 … node-(N-1), src/sandbox/cluster-nodes.ts); absent: 1. */
  clusterNodes?: number;
  /** Whether node-0 runs the real Cilium agent (the sandbox's kubelet) or kwok simulates it; absent: simulated (older sandboxes). */
  agent?: AgentMode;
}

/** Default folder: $MK8S_ADDONS_SANDBOX, else ~/.local/state/mk8s-addons/sandbox. */
export function defaultSandboxDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.MK8S_ADDONS_SANDBOX || path.join(env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'mk8s-addons', 'sandbox'));
}

const infoFile = (dir: string) => path.join(dir, 'sandbox.json');

/** Each sandbox has its own network namespace, named after its folder (two sandboxes never share one). */
export const netnsFor = (dir: string) => `mk8s-sb-${createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 10)}`;

export const ERA_DAEMONS: Record<SandboxEra, string[]> = {
  '1.20': ['apiserver', 'controller-manager', 'scheduler', 'kubelet', 'proxy', 'containerd', 'flanneld', 'etcd', 'cluster-agent'],
  '1.35': ['kubelite', 'containerd', 'k8s-dqlite', 'cluster-agent', 'apiserver-kicker', 'flanneld'],
};

export async function loadSandbox(dir: string): Promise<SandboxInfo> {
  const text = await readText(infoFile(dir));
  if (text === undefined) throw new PreconditionError(`no sandbox in ${dir}; create one with: mk8s-addons sandbox up --dir ${dir}`);
  return JSON.parse(text) as SandboxInfo;
}

/** `export NAME=value` lines that make mk8s-addons, kubectl and helm target the sandbox. */
export function sandboxEnv(info: SandboxInfo): Record<string, string> {
  return { SNAP: info.snap, SNAP_DATA: info.snapData, SNAP_COMMON: info.snapCommon, KUBECONFIG: info.kubeconfig, MK8S_ADDONS_SANDBOX: info.dir };
}

async function ip(args: string[]): Promise<void> {
  await runChecked(['ip', args]);
}

export async function ensureNetns(netns: string): Promise<void> {
  const list = await run(['ip', ['netns', 'list']]);
  if (list.exitCode !== 0 && /Operation not permitted|Permission denied/.test(list.stderr)) {
    throw new PreconditionError('the sandbox needs root for its network namespace; run mk8s-addons sandbox up with sudo');
  }
  if (!list.stdout.split('\n').some((l) => l.split(' ')[0] === netns)) {
    const r = await run(['ip', ['netns', 'add', netns]]);
    if (r.exitCode !== 0) throw new PreconditionError(`cannot create network namespace ${netns}: ${r.stderr.trim()}; the sandbox needs root (sudo) and iproute2`);
  }
  await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
}

/** What flanneld does when it starts: it brings up its vxlan link. */
async function flannelLinkUp(netns: string): Promise<void> {
  const show = await run(['ip', ['-n', netns, 'link', 'show', 'flannel.1']]);
  if (show.exitCode !== 0) await ip(['-n', netns, 'link', 'add', 'flannel.1', 'type', 'vxlan', 'id', '1', 'dstport', '8472', 'nolearning']);
  await ip(['-n', netns, 'link', 'set', 'flannel.1', 'up']);
}

/**
 * The sandbox's service manager: state files and a log, with the parts that can be real made real.
 * flanneld refuses to start while var/lock/no-flanneld exists (as MicroK8s's start script does) and brings
 * up flannel.1 when it starts; a restart of the apiserver restarts the real kube-apiserver process, and a
 * restart of kubelite (1.21+) its controller-manager, scheduler and kwok too, with the environment
 * mk8s-addons gives it. Other services are state only.
 */
export function sandboxServiceManager(info: Pick<SandboxInfo, 'dir' | 'snapData' | 'netns' | 'layout'>): ServiceManager {
  return sandboxManager(info.dir, {
    async beforeStart(daemon) {
      if (daemon === 'flanneld' && (await exists(path.join(info.snapData, 'var', 'lock', 'no-flanneld')))) {
        throw new Error('var/lock/no-flanneld exists: flanneld exits at once');
      }
    },
    async perform(action, daemon, env) {
      if (daemon === 'flanneld' && action !== 'stop' && info.netns) await flannelLinkUp(info.netns);
      if ((daemon === 'kubelite' || daemon === 'apiserver') && action !== 'stop' && (await exists(path.join(info.dir, 'cp', 'control-plane.json')))) {
        // kubelite is one process holding the apiserver, controller-manager, scheduler and kubelet (kwok
        // here): it restarts them all. A controller-manager left running across apiserver restarts can
        // also stall on a dead watch connection (seen: no controller acted for minutes).
        const components = daemon === 'kubelite' ? (['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'] as const) : (['kube-apiserver'] as const);
        for (const c of components) await restartComponent(path.join(info.dir, 'cp'), c, { env });
      }
    },
  });
}

/**
 * A MicroK8s-shaped node folder of the era: SNAP, SNAP_COMMON, SNAP_DATA with the era's args files, the
 * CNI plugins a node ships (empty stand-ins) and, on 1.35 (HA, dqlite with Calico), `ha-cluster` and
 * `no-flanneld` (flannel off for good, as on a real HA node). Used for node-0 and each cluster node.
 */
export async function layoutNodeFolder(p: { snap: string; snapData: string; snapCommon: string }, era: SandboxEra): Promise<void> {
  for (const d of [p.snap, p.snapCommon, path.join(p.snapData, 'var', 'lock'), path.join(p.snapData, 'opt', 'cni', 'bin'), path.join(p.snapData, 'credentials')]) {
    await mkdir(d, { recursive: true });
  }
  await copyTree(packagePath('templates', 'sandbox', era, 'args'), path.join(p.snapData, 'args'), { recursive: true });
  // The CNI plugins a MicroK8s node ships (empty stand-ins: no container runtime runs them here).
  for (const plugin of ['bridge', 'flannel', 'host-local', 'loopback', 'portmap', ...(era === '1.35' ? ['calico', 'calico-ipam'] : [])]) {
    await writeFile(path.join(p.snapData, 'opt', 'cni', 'bin', plugin), '#!/bin/sh\n# sandbox stand-in: no container runtime here\nexit 1\n', { mode: 0o755 });
  }
  if (era === '1.35') {
    await writeFile(path.join(p.snapData, 'var', 'lock', 'ha-cluster'), '');
    await writeFile(path.join(p.snapData, 'var', 'lock', 'no-flanneld'), '');
  }
}

async function stateOf(info: SandboxInfo, daemon: string, active: boolean): Promise<void> {
  await mkdir(path.join(info.dir, 'services'), { recursive: true });
  await writeFile(path.join(info.dir, 'services', `${daemon}.state`), active ? 'active\n' : 'inactive\n');
}

/** Creates (or starts again) a sandbox node. */
export async function sandboxUp(opts: { dir: string; era: SandboxEra; nodes: number; kwokNodes?: number; env: NodeJS.ProcessEnv; agent?: 'auto' | 'real' | 'simulated'; onProgress?: (msg: string) => void }): Promise<SandboxInfo> {
  const dir = path.resolve(opts.dir);
  const progress = opts.onProgress ?? (() => {});
  const existing = await readText(infoFile(dir));
  const before = existing ? (JSON.parse(existing) as SandboxInfo) : undefined;
  if (before && before.era !== opts.era) throw new UsageError(`the sandbox in ${dir} has layout ${before.era}; give --layout ${before.era}, or run sandbox down first`);
  const info: SandboxInfo = {
    dir,
    era: opts.era,
    layout: opts.era === '1.20' ? '1.20' : 'kubelite',
    netns: netnsFor(dir),
    snap: path.join(dir, 'snap'),
    snapData: path.join(dir, 'data'),
    snapCommon: path.join(dir, 'common'),
    kubeconfig: path.join(dir, 'data', 'credentials', 'client.config'),
    // The control plane only ever adds nodes: a smaller --nodes on a running sandbox keeps the ones it has.
    clusterNodes: Math.max(opts.nodes, before?.clusterNodes ?? 1),
    nodes: 0,
    ...(before?.agent ? { agent: before.agent } : {}),
  };
  const kwokBefore = (before?.nodes ?? 0) - (before?.clusterNodes ?? 1);
  if (before && kwokBefore > 0 && (info.clusterNodes ?? 1) > (before.clusterNodes ?? 1)) {
    throw new UsageError(`the sandbox in ${dir} has kwok-only nodes after its ${before.clusterNodes ?? 1} MicroK8s node(s): more --nodes would take their names; run sandbox down first`);
  }
  info.nodes = Math.max((info.clusterNodes ?? 1) + (opts.kwokNodes ?? 0), before?.nodes ?? 0);
  progress(`network namespace ${info.netns}`);
  await ensureNetns(info.netns);
  if (!existing) {
    try {
      info.agent = await agentMode(dir, opts.agent ?? 'auto', opts.env);
    } catch (err) {
      throw new PreconditionError(`--agent real: ${(err as Error).message}`);
    }
    progress(info.agent.mode === 'real' ? `real Cilium agent ${info.agent.version} for ${KUBELET_NODE}` : `simulated Cilium agent (${info.agent.reason})`);
    progress(`layout ${opts.era} in ${dir}`);
    await layoutNodeFolder(info, opts.era);
    await mkdir(path.join(dir, 'services'), { recursive: true });
    await writeFile(path.join(dir, 'resolv.conf'), '# sandbox host resolv.conf (systemd-resolved stub, as on Ubuntu)\nnameserver 127.0.0.53\noptions edns0 trust-ad\n');
    const marker: SandboxMarker = {
      sandbox: true,
      dir,
      layout: info.layout,
      netns: info.netns,
      resolvConf: path.join(dir, 'resolv.conf'),
      ...(info.agent?.mode === 'real' ? { bpffs: path.join(nodeDir(dir), 'bpffs'), realAgent: info.agent.version } : {}),
    };
    await writeFile(path.join(info.snapData, 'mk8s-addons-sandbox.json'), `${JSON.stringify(marker, null, 2)}\n`);
    await writeFile(infoFile(dir), `${JSON.stringify(info, null, 2)}\n`);
  }
  await startSandbox(info, opts.env, progress);
  if ((info.clusterNodes ?? 1) > 1) {
    progress(`cluster nodes node-1 … node-${(info.clusterNodes ?? 1) - 1} (stand-in cluster agents)`);
    const cluster = await import('./cluster-nodes.js');
    await cluster.makeClusterNodes(info, before?.clusterNodes ?? 1, info.clusterNodes ?? 1);
    await cluster.startClusterNodes(info, opts.env);
  }
  if (before && (before.nodes !== info.nodes || before.clusterNodes !== info.clusterNodes)) await writeFile(infoFile(dir), `${JSON.stringify(info, null, 2)}\n`);
  if (!existing && opts.era === '1.35') {
    progress('Calico (stand-in) from args/cni-network/cni.yaml');
    await copyFile(packagePath('templates', 'sandbox', 'calico.yaml'), path.join(info.snapData, 'args', 'cni-network', 'cni.yaml'));
    await runChecked([toolPath('kubectl'), ['--kubeconfig', info.kubeconfig, 'apply', '-f', path.join(info.snapData, 'args', 'cni-network', 'cni.yaml')]], { env: withoutProxy(opts.env).env });
  }
  return info;
}

/** Starts the control plane and the services ("microk8s start"), with the environment given. */
export async function startSandbox(info: SandboxInfo, env: NodeJS.ProcessEnv, progress: (msg: string) => void = () => {}): Promise<void> {
  progress('control plane');
  const real = info.agent?.mode === 'real';
  const cp = await startControlPlane({
    dir: path.join(info.dir, 'cp'),
    nodes: info.nodes,
    env,
    ...(real ? { kubeletNodes: [KUBELET_NODE], kwokExecs: agentExecs(info), ...kwokPath() } : {}),
    onProgress: (c) => progress(`control plane: ${c}`),
  });
  await copyFile(cp.kubeconfig, info.kubeconfig);
  const services = sandboxServiceManager(info);
  for (const daemon of ERA_DAEMONS[info.era]) {
    if (daemon === 'flanneld') await services.act('start', daemon, { env });
    else await stateOf(info, daemon, true);
  }
  if (real) {
    progress(`kubelet for ${KUBELET_NODE} (real Cilium agent)`);
    await prepareNode(info);
    startKubelet(info.dir, env);
    await waitNodeReady(info, KUBELET_NODE);
  }
  if ((info.clusterNodes ?? 1) > 1) await (await import('./cluster-nodes.js')).startClusterNodes(info, env);
  await rm(path.join(info.snapData, 'var', 'lock', 'stopped.lock'), { force: true });
}

/**
 * `kubectl exec` into the agent's container (kwok's ClusterExec: the sandbox kubelet runs no container
 * runtime) runs the command on the host with the built Cilium binaries first on PATH and the agent's
 * socket variables, as they are inside the agent's image: `kubectl exec ds/cilium -- cilium-dbg status`
 * answers from the real agent.
 */
function kwokPath(): { kwokPathPrefix?: string } {
  const build = locateCiliumBuild();
  return 'missing' in build ? {} : { kwokPathPrefix: path.dirname(build.cli) };
}

function agentExecs(info: SandboxInfo): object[] {
  const build = locateCiliumBuild();
  if ('missing' in build) return [];
  const run = path.join(info.snapData, 'var', 'run', 'cilium');
  return [
    {
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'ClusterExec',
      metadata: { name: 'cilium-agent' },
      spec: {
        selector: { matchNamespaces: ['kube-system'] },
        execs: [
          {
            containers: ['cilium-agent'],
            local: {
              workDir: build.root,
              envs: [
                { name: 'PATH', value: `${path.dirname(build.cli)}:/usr/sbin:/usr/bin:/sbin:/bin` },
                { name: 'CILIUM_SOCK', value: path.join(run, 'cilium.sock') },
                { name: 'CILIUM_HEALTH_SOCK', value: path.join(run, 'health.sock') },
                { name: 'CILIUM_MONITOR_SOCK', value: path.join(run, 'monitor1_2.sock') },
              ],
            },
          },
        ],
      },
    },
  ];
}

/** Waits until the sandbox kubelet has made its node Ready (and the node lifecycle controller lifted its taints). */
async function waitNodeReady(info: SandboxInfo, node: string, timeoutMs = 60_000): Promise<void> {
  const cp = loadControlPlane(path.join(info.dir, 'cp'));
  const log = path.join(info.dir, 'node', 'kubelet.log');
  await pollUntil(
    async () => {
      const r = await kubeApi<{ spec?: { taints?: unknown[] }; status?: { conditions?: { type: string; status: string }[] } }>(cp, 'GET', `/api/v1/nodes/${node}`);
      const ready = r.body?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      if (ready && (r.body?.spec?.taints ?? []).length === 0) return { done: true, value: undefined };
      const state = readKubeletState(info.dir);
      if (state && !isRunning(state)) throw new PreconditionError(`the sandbox kubelet exited before ${node} was Ready; last lines of ${log}: ${logTail(log)}`);
      return { done: false, reason: ready ? 'tainted' : 'not Ready' };
    },
    { timeoutMs, intervalMs: 250, timedOut: () => new PreconditionError(`${node} was not Ready within ${timeoutMs / 1000} s of the sandbox kubelet's start; see ${log}`) },
  );
}

/** Stops the control plane and the services ("microk8s stop"): the node is stopped, not removed. */
export async function stopSandbox(info: SandboxInfo): Promise<void> {
  if ((info.clusterNodes ?? 1) > 1) await (await import('./cluster-nodes.js')).stopClusterNodes(info);
  await stopKubelet(info.dir);
  await stopControlPlane(path.join(info.dir, 'cp'));
  for (const daemon of ERA_DAEMONS[info.era]) await stateOf(info, daemon, false);
  await writeFile(path.join(info.snapData, 'var', 'lock', 'stopped.lock'), '');
}

/** Stops everything and removes the folder and the network namespace. */
export async function sandboxDown(dir: string): Promise<void> {
  const resolved = path.resolve(dir);
  const text = await readText(infoFile(resolved));
  if (text !== undefined) await (await import('./cluster-nodes.js')).stopClusterNodes(JSON.parse(text) as SandboxInfo);
  await stopKubelet(resolved);
  if (await exists(path.join(resolved, 'cp'))) await stopControlPlane(path.join(resolved, 'cp'));
  const netns = netnsFor(resolved);
  await teardownNode({ dir: resolved, netns });
  const list = await run(['ip', ['netns', 'list']]);
  if (list.stdout.split('\n').some((l) => l.split(' ')[0] === netns)) await ip(['netns', 'delete', netns]);
  if (await exists(infoFile(resolved))) await rm(resolved, { recursive: true, force: true });
  else if (await exists(resolved)) throw new PreconditionError(`${resolved} is not a sandbox (no sandbox.json); not removing it`);
}

export interface SandboxStatus {
  dir: string;
  era: SandboxEra;
  /** The node's network namespace (for `mk8s-addons datapath --netns`). */
  netns: string;
  running: boolean;
  controlPlane: { name: string; pid: number; alive: boolean }[];
  services: Record<string, string>;
  links: string[];
  serviceLog: number;
  /** The Cilium agent of node-0: real (with the kubelet's pid and what runs per pod) or simulated, and why. */
  agent: { mode: 'real'; version: string; kubelet: { pid: number; alive: boolean }; pods: Record<string, string> } | { mode: 'simulated'; reason: string };
  /** The other MicroK8s nodes (node-1 …): address, stand-in cluster agent, simulated services. */
  clusterNodes: ClusterNodeStatus[];
}

export async function sandboxStatus(dir: string): Promise<SandboxStatus> {
  const info = await loadSandbox(dir);
  let controlPlane: SandboxStatus['controlPlane'] = [];
  try {
    controlPlane = controlPlaneStatus(path.join(info.dir, 'cp')).map(({ name, pid, alive }) => ({ name, pid, alive }));
  } catch {
    controlPlane = [];
  }
  const services: Record<string, string> = {};
  for (const d of ERA_DAEMONS[info.era]) services[d] = (await readText(path.join(info.dir, 'services', `${d}.state`)))?.trim() ?? 'unknown';
  const links = await run(['ip', ['-n', info.netns, '-j', 'link', 'show']]);
  const names = links.exitCode === 0 ? (JSON.parse(links.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname) : [];
  const agent = agentStatus(info);
  const clusterNodes = (info.clusterNodes ?? 1) > 1 ? await (await import('./cluster-nodes.js')).clusterNodesStatus(info) : [];
  return {
    dir: info.dir,
    era: info.era,
    netns: info.netns,
    // With the real agent, the node's kubelet is part of a running node.
    running: controlPlane.length > 0 && controlPlane.every((c) => c.alive) && (agent.mode !== 'real' || agent.kubelet.alive) && clusterNodes.every((n) => n.agent.alive),
    controlPlane,
    services,
    links: names,
    serviceLog: (await readServiceLog(info.dir)).length,
    agent,
    clusterNodes,
  };
}

function agentStatus(info: SandboxInfo): SandboxStatus['agent'] {
  if (info.agent?.mode !== 'real') return { mode: 'simulated', reason: info.agent?.reason ?? 'made by an older mk8s-addons (kwok plays every node)' };
  const state = readKubeletState(info.dir);
  return { mode: 'real', version: info.agent.version, kubelet: { pid: state?.pid ?? 0, alive: state ? isRunning(state) : false }, pods: state?.pods ?? {} };
}

