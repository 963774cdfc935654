/**
 * How the sandbox's kubelet runs the real Cilium agent for the agent pod on its node: configured the way
 * the pod is, from the pod's own spec and the release's `cilium-config` ConfigMap, plus only the overrides
 * the sandbox needs, each named below with its reason (AGENT_OVERRIDES).
 *
 * What the pod gets and what the sandbox does instead:
 * - the ConfigMap as a folder of key files (`--config-dir`, built by the `config` init container): the
 *   same keys written to DIR/node/pods/<uid>/config-map, values that are container paths covered by a
 *   hostPath volume rewritten to the host path;
 * - its hostPath volumes under /var/run (cilium-run = $SNAP_DATA/var/run/cilium, the netns folder, the
 *   envoy sockets): bind-mounted at the same paths in a private mount namespace whose /run is a view
 *   made in the node's folder (src/sandbox/agent-launcher.ts), so the agent's hard-wired
 *   /var/run/cilium/{cilium,health,monitor1_2}.sock land in $SNAP_DATA/var/run/cilium and the host's
 *   /run is untouched;
 * - the node's network namespace (hostNetwork): `ip netns exec NODE_NS`;
 * - its image: the binaries and bpf/ sources built from Cilium's module (src/sandbox/cilium-binaries.ts).
 */
import path from 'node:path';
import type { Command } from '../adapters/process.js';
import type { CiliumBuild } from './cilium-binaries.js';
import { containerEnv, hostPathFor, type Container, type Pod } from './pod.js';

/** Where the node keeps what the agent needs outside its pod's volumes. */
export interface AgentNode {
  /** The node's network namespace. */
  netns: string;
  /** A private bpffs instance mounted for this node (DIR/node/bpffs). */
  bpffs: string;
  /** A sub-cgroup of the cgroup2 hierarchy for this node (bind-mounted in the node's folder, outside /sys). */
  cgroupRoot: string;
  /** The shadow procfs folder (see AGENT_OVERRIDES). */
  procfs: string;
  /** Kubeconfig the agent uses: the relay's address and the pod's ServiceAccount token. */
  kubeconfig: string;
  /** The folder the agent's /run view is made in. */
  runView: string;
  /** PATH for the agent (clang first). */
  path: string;
  /** The node's $SNAP_DATA: hostPath folders under it are created when missing (DirectoryOrCreate); others outside are never created on the host. */
  snapData: string;
}

/** One override of the pod's configuration, and why the sandbox needs it. */
export interface AgentOverride {
  flag: string;
  value: (node: AgentNode, build: CiliumBuild) => string;
  why: string;
}

/**
 * Every difference between the agent the sandbox runs and the agent the pod would run. Command-line flags
 * take precedence over --config-dir in Cilium's configuration.
 */
export const AGENT_OVERRIDES: readonly AgentOverride[] = [
  { flag: '--k8s-kubeconfig-path', value: (n) => n.kubeconfig, why: 'the API server listens on the host\'s 127.0.0.1; the agent reaches it through the relay (src/sandbox/relay.ts) with its pod\'s ServiceAccount token' },
  { flag: '--lib-dir', value: (_n, b) => b.libDir, why: 'the image\'s /var/lib/cilium: the bpf/ sources of the module the agent was built from' },
  { flag: '--bpf-root', value: (n) => n.bpffs, why: 'a private bpffs instance for this node instead of the host\'s /sys/fs/bpf, so nothing is pinned on the host' },
  { flag: '--cgroup-root', value: (n) => n.cgroupRoot, why: 'a sub-cgroup for this node, so no program attaches to the host\'s root cgroup' },
  { flag: '--procfs', value: (n) => n.procfs, why: 'a shadow of /proc whose sys/net is the node namespace\'s /proc/sys/net and whose sys/kernel holds copies: the agent\'s two host-wide writes (kernel.unprivileged_bpf_disabled=1, irreversible until reboot, and kernel.timer_migration=0) land in files' },
  { flag: '--ipam', value: () => 'kubernetes', why: 'cluster-pool IPAM needs cilium-operator, which cannot be built from the module proxy (sigs.k8s.io/mcs-api/controllers is refused); Kubernetes IPAM uses the Node\'s spec.podCIDR' },
  { flag: '--enable-l7-proxy', value: () => 'false', why: 'no Envoy: the cilium-envoy DaemonSet is simulated' },
  { flag: '--install-iptables-rules', value: () => 'false', why: 'no iptables rules: they would need the host\'s xtables lock' },
  { flag: '--enable-ipv4-masquerade', value: () => 'false', why: 'iptables masquerading is off with the rules (and nothing leaves the sandbox node)' },
  { flag: '--enable-health-checking', value: () => 'false', why: 'cilium-health probes other nodes, which are kwok\'s and have no datapath' },
  { flag: '--enable-endpoint-health-checking', value: () => 'false', why: 'the health endpoint needs cilium-health (see above)' },
  { flag: '--hubble-listen-address', value: () => '', why: 'Hubble\'s TCP listener needs the TLS secrets mounted into the pod; Hubble (when on) still serves the local hubble.sock' },
];

/** Container paths that the agent's /run view mounts (from the pod's hostPath volumes). */
export interface RunBind {
  /** Host path (source). */
  source: string;
  /** Path under /run in the agent's mount namespace (`cilium`, `cilium/netns`...). */
  target: string;
}

/** What src/sandbox/agent-launcher.ts needs to start the agent. */
export interface AgentLaunch {
  /** The agent's command (already inside `ip netns exec`). */
  command: Command;
  env: Record<string, string>;
  /** Binds that make up the agent's /run view, outermost first. */
  binds: RunBind[];
  runView: string;
  /** Missing bind sources under this folder are created; missing ones elsewhere are left out (the host is not changed). */
  createUnder: string;
  /** ConfigMap keys to write into `configDir`. */
  configFiles: Record<string, string>;
  configDir: string;
  /** Host path of the pod's /var/run/cilium: the agent's sockets. */
  runDir: string;
  /** Host folder the install-cni-binaries init container copies cilium-cni into, if the pod has one. */
  cniBinDir?: string;
}

const underRun = (p: string): string | undefined => {
  const m = /^\/(?:var\/)?run\/(.+)$/.exec(p);
  return m ? m[1]!.replace(/\/+$/, '') : undefined;
};

/** The agent's launch: the pod's command and args (paths mapped), its env, the config files and overrides. */
export function agentLaunch(p: { pod: Pod; container: Container; configMap: Record<string, string>; build: CiliumBuild; node: AgentNode; configDir: string }): AgentLaunch {
  const { pod, container, build, node } = p;
  const map = (value: string): string => (value.startsWith('/') ? (hostPathFor(pod, container, value) ?? value) : value);
  const configFiles: Record<string, string> = {};
  for (const [key, value] of Object.entries(p.configMap)) configFiles[key] = map(value);

  // The pod's args: --config-dir points at the folder the config init container fills (its /tmp volume).
  const args = (container.args ?? []).map((a) => (a.startsWith('--config-dir=') ? `--config-dir=${p.configDir}` : a));
  if (!args.some((a) => a.startsWith('--config-dir='))) args.unshift(`--config-dir=${p.configDir}`);
  const overrideArgs = AGENT_OVERRIDES.map((o) => `${o.flag}=${o.value(node, build)}`);

  const binds: RunBind[] = [];
  for (const m of container.volumeMounts ?? []) {
    const target = underRun(m.mountPath);
    const source = hostPathFor(pod, container, m.mountPath);
    if (target !== undefined && source !== undefined) binds.push({ source, target });
  }
  binds.sort((a, b) => a.target.length - b.target.length);
  const runDir = hostPathFor(pod, container, '/var/run/cilium');
  if (runDir === undefined) throw new Error('the agent pod mounts no hostPath at /var/run/cilium (volume cilium-run): the chart is not one the sandbox knows');

  const installCni = (pod.spec.initContainers ?? []).find((c) => c.name === 'install-cni-binaries');
  const cniMount = installCni?.volumeMounts?.find((m) => m.name === 'cni-path');
  const cniBinDir = installCni && cniMount ? hostPathFor(pod, installCni, cniMount.mountPath) : undefined;

  return {
    command: ['ip', ['netns', 'exec', node.netns, build.agent, ...args, ...overrideArgs]],
    env: { ...containerEnv(pod, container), PATH: node.path, HOME: '/root' },
    binds,
    runView: node.runView,
    createUnder: node.snapData,
    configFiles,
    configDir: p.configDir,
    runDir,
    ...(cniBinDir ? { cniBinDir } : {}),
  };
}

/** The agent's kubeconfig: the relay's address (inside the node's namespace), the API server's CA, a token. */
export function agentKubeconfig(p: { port: number; caPem: string; token: string }): string {
  const ca = Buffer.from(p.caPem).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: sandbox',
    '  cluster:',
    `    server: https://127.0.0.1:${p.port}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    '- name: cilium',
    '  user:',
    `    token: ${p.token}`,
    'contexts:',
    '- name: sandbox',
    '  context: { cluster: sandbox, user: cilium }',
    'current-context: sandbox',
    '',
  ].join('\n');
}

/** PATH for the agent: clang/llvm >= 18.1 first (Cilium 1.20 compiles bpf/*.c with the clang on PATH). */
export function agentPath(base: string = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): string {
  return ['/usr/lib/llvm-19/bin', base].join(path.delimiter);
}
