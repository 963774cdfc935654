/**
 * The MicroK8s node mk8s-addons works on: its snap paths, its era (layout) and whether it is a sandbox.
 * Resolution of paths is pure; detecting the layout reads the node's args folder.
 */
import path from 'node:path';
import type { GlobalOptions } from '../grammar.js';
import type { Layout } from '../planner.js';
import { exists, readText } from '../adapters/fs.js';

/** The three snap folders (see the machinery reference, "Paths"). */
export interface SnapPaths {
  /** Read-only snap: binaries, actions. Default /snap/microk8s/current. */
  snap: string;
  /** Per-revision data: args/, credentials/, var/lock/, opt/cni/bin/, bin/. Default /var/snap/microk8s/current. */
  snapData: string;
  /** Shared across revisions: run/containerd.sock. Default /var/snap/microk8s/common. */
  snapCommon: string;
}

export const DEFAULT_PATHS: SnapPaths = {
  snap: '/snap/microk8s/current',
  snapData: '/var/snap/microk8s/current',
  snapCommon: '/var/snap/microk8s/common',
};

/**
 * Flags first, then env SNAP / SNAP_DATA / SNAP_COMMON, then MicroK8s's standard paths. When mk8s-addons
 * runs as a snap itself, snapd sets SNAP_NAME=mk8s-addons and SNAP* to *its own* folders: those never name
 * MicroK8s, so they are ignored (env SNAP* count only without SNAP_NAME, or with SNAP_NAME=microk8s).
 */
export function resolveSnapPaths(globals: Pick<GlobalOptions, 'snap' | 'snapData' | 'snapCommon'>, env: NodeJS.ProcessEnv): SnapPaths {
  const microk8sEnv = !env.SNAP_NAME || env.SNAP_NAME === 'microk8s';
  const pick = (flag: string | undefined, name: string, fallback: string) => path.resolve(flag ?? ((microk8sEnv && env[name]) || fallback));
  return {
    snap: pick(globals.snap, 'SNAP', DEFAULT_PATHS.snap),
    snapData: pick(globals.snapData, 'SNAP_DATA', DEFAULT_PATHS.snapData),
    snapCommon: pick(globals.snapCommon, 'SNAP_COMMON', DEFAULT_PATHS.snapCommon),
  };
}

/** Where things are on the node, derived from the snap paths. */
export const nodeFiles = (p: SnapPaths) => ({
  args: (service: string) => path.join(p.snapData, 'args', service),
  cniNetwork: path.join(p.snapData, 'args', 'cni-network'),
  cniBin: path.join(p.snapData, 'opt', 'cni', 'bin'),
  lock: (name: string) => path.join(p.snapData, 'var', 'lock', name),
  clientConfig: path.join(p.snapData, 'credentials', 'client.config'),
  bin: (name: string) => path.join(p.snapData, 'bin', name),
  runDir: path.join(p.snapData, 'var', 'run', 'cilium'),
  stateDir: path.join(p.snapData, 'var', 'mk8s-addons'),
  sandboxMarker: path.join(p.snapData, 'mk8s-addons-sandbox.json'),
});

/** MicroK8s 1.21+ runs the Kubernetes services in one daemon-kubelite; 1.20 as separate daemons. */
export async function detectLayout(p: SnapPaths): Promise<Layout> {
  return (await exists(nodeFiles(p).args('kubelite'))) ? 'kubelite' : '1.20';
}

/** The sandbox marker's content when this node is a sandbox (see `mk8s-addons sandbox up`). */
export interface SandboxMarker {
  sandbox: true;
  /** Folder of the sandbox (holds the control plane, the service states and logs). */
  dir: string;
  layout: Layout;
  /** Network namespace that holds the node's links. */
  netns?: string;
  /** The resolv.conf this node's host would have (default /etc/resolv.conf). */
  resolvConf?: string;
  /** The node's own bpffs instance, when it runs the real Cilium agent (default /sys/fs/bpf). */
  bpffs?: string;
  /** The Cilium version whose agent the sandbox runs for real (e.g. 1.20.2; its minor's charts); absent: every agent is simulated. */
  realAgent?: string;
}

export async function readSandboxMarker(p: SnapPaths): Promise<SandboxMarker | undefined> {
  const text = await readText(nodeFiles(p).sandboxMarker);
  if (text === undefined) return undefined;
  return JSON.parse(text) as SandboxMarker;
}

/**
 * The resolv.conf of the node's host (the one kubelet hands to pods with dnsPolicy: Default):
 * /etc/resolv.conf, or a sandbox's own (the test machine's is whatever it has).
 */
export async function hostResolvConf(p: SnapPaths): Promise<string> {
  return (await readSandboxMarker(p))?.resolvConf ?? '/etc/resolv.conf';
}

/**
 * The MicroK8s daemon that runs a logical service on this layout: on kubelite nodes apiserver, kubelet,
 * proxy, scheduler and controller-manager are all `kubelite`.
 */
export function daemonFor(service: string, layout: Layout): string {
  const k8s: Record<string, string> = {
    'kube-apiserver': 'apiserver',
    kubelet: 'kubelet',
    'kube-proxy': 'proxy',
    'kube-scheduler': 'scheduler',
    'kube-controller-manager': 'controller-manager',
  };
  if (service in k8s) return layout === 'kubelite' ? 'kubelite' : (k8s[service] as string);
  return service;
}
