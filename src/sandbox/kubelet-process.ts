/**
 * The sandbox node's real-agent mode: what the node needs besides the control plane (its eth0, a private
 * bpffs, a sub-cgroup, the shadow procfs), and the sandbox kubelet as a detached process
 * (src/sandbox/kubelet-main.ts) started with the sandbox and stopped with it. Whether a sandbox runs the
 * real agent is decided once, when it is created (`agentMode`), and said by `sandbox status`.
 *
 * DIR/node/
 *   kubelet.json, kubelet.log    the kubelet's state (its pid, the agents it runs, what runs per pod) and log
 *   bpffs/                       a bpffs instance of this node (mounted in the host's mount namespace)
 *   cgroup/                      the node's sub-cgroup of the host's cgroup2 hierarchy, bind-mounted
 *   procfs/                      the shadow procfs (sys/net -> /proc/sys/net, sys/kernel/* copies)
 *   run-view/                    the agent's /run (see src/sandbox/agent-launcher.ts)
 *   apiserver.sock               the relay's host half (src/sandbox/relay.ts)
 *   pods/<uid>/                  config-map/, launch.json, cilium-agent.log
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, runChecked } from '../adapters/process.js';
import { isRunning, processStartTime } from './control-plane.js';
import { locateCiliumBuild } from './cilium-binaries.js';
import { stopProcessGroup, type KubeletState } from './kubelet.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const KUBELET_MAIN = path.join(here, 'kubelet-main.js');

/** The node the sandbox's kubelet runs (kwok plays node-1 and up). */
export const KUBELET_NODE = 'node-0';
/** node-0's InternalIP (TEST-NET-1, RFC 5737: never routed), as fakeNode gives it; on the node namespace's eth0. */
export const KUBELET_NODE_IP = '192.0.2.10';

/** How a sandbox runs the Cilium agent of its node. */
export type AgentMode = { mode: 'real'; version: string } | { mode: 'simulated'; reason: string };

export const nodeDir = (dir: string) => path.join(dir, 'node');

/** The cgroup2 mount point of this host (undefined when it has none). */
export function cgroup2Mount(mounts: string = readMounts()): string | undefined {
  for (const line of mounts.split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (type === 'cgroup2' && mountPoint) return mountPoint;
  }
  return undefined;
}

function readMounts(): string {
  try {
    return readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return '';
  }
}

/** The node's sub-cgroup, named like its network namespace. */
export function nodeCgroup(netns: string): string | undefined {
  const root = cgroup2Mount();
  return root ? path.join(root, netns) : undefined;
}

/**
 * Real when this process is root, the Cilium build is there, the kernel has cgroup2 and bpffs can be
 * mounted; otherwise simulated, with the reason. `wanted: 'simulated'` forces the simulated agent.
 */
export async function agentMode(dir: string, wanted: 'auto' | 'real' | 'simulated', env: NodeJS.ProcessEnv = process.env): Promise<AgentMode> {
  const simulated = (reason: string): AgentMode => {
    if (wanted === 'real') throw new Error(reason);
    return { mode: 'simulated', reason };
  };
  if (wanted === 'simulated') return { mode: 'simulated', reason: 'asked for with --agent simulated' };
  if (process.getuid?.() !== 0) return simulated('the real agent needs root (bpffs, cgroups, network namespaces)');
  const build = locateCiliumBuild(env);
  if ('missing' in build) return simulated(build.missing);
  if (!cgroup2Mount()) return simulated('the host has no cgroup2 hierarchy, which the agent attaches its socket programs to');
  const probe = path.join(nodeDir(dir), 'bpffs');
  mkdirSync(probe, { recursive: true });
  const r = await run(['mount', ['-t', 'bpf', 'bpf', probe]]);
  if (r.exitCode !== 0) return simulated(`bpffs cannot be mounted here (${r.stderr.trim()}): no BPF for the agent`);
  return { mode: 'real', version: build.version };
}

function mounted(at: string): boolean {
  return readMounts().split('\n').some((l) => l.split(' ')[1] === at);
}

/** Makes what the agent needs on the node: eth0 with the node's IP, bpffs, the sub-cgroup, the shadow procfs. Idempotent. */
export async function prepareNode(p: { dir: string; netns: string }): Promise<void> {
  const nd = nodeDir(p.dir);
  mkdirSync(nd, { recursive: true, mode: 0o700 });
  // eth0: the node's NIC (its InternalIP, the default route), the agent's native device. A veth whose other
  // end is in a namespace of its own standing for the LAN (this kernel may have no dummy devices).
  const show = await run(['ip', ['-n', p.netns, 'link', 'show', 'eth0']]);
  if (show.exitCode !== 0) {
    const lan = `${p.netns}-lan`;
    const have = await run(['ip', ['netns', 'list']]);
    if (!have.stdout.split('\n').some((l) => l.split(' ')[0] === lan)) await runChecked(['ip', ['netns', 'add', lan]]);
    await runChecked(['ip', ['-n', p.netns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'uplink', 'netns', lan]]);
    await runChecked(['ip', ['-n', lan, 'link', 'set', 'uplink', 'up']]);
    await runChecked(['ip', ['-n', p.netns, 'address', 'add', `${KUBELET_NODE_IP}/24`, 'dev', 'eth0']]);
    await runChecked(['ip', ['-n', p.netns, 'link', 'set', 'eth0', 'up']]);
    await runChecked(['ip', ['-n', p.netns, 'route', 'add', 'default', 'dev', 'eth0']]);
  }
  const bpffs = path.join(nd, 'bpffs');
  mkdirSync(bpffs, { recursive: true });
  if (!mounted(bpffs)) await runChecked(['mount', ['-t', 'bpf', 'bpf', bpffs]]);
  // The sub-cgroup, bind-mounted into the node's folder: `ip netns exec` mounts a fresh /sys for the agent,
  // in which the host's cgroup mounts under /sys/fs/cgroup do not exist.
  const cgroup = nodeCgroup(p.netns);
  if (cgroup) {
    mkdirSync(cgroup, { recursive: true });
    const at = path.join(nd, 'cgroup');
    mkdirSync(at, { recursive: true });
    if (!mounted(at)) await runChecked(['mount', ['--bind', cgroup, at]]);
  }
  const procfs = path.join(nd, 'procfs', 'sys');
  mkdirSync(path.join(procfs, 'kernel'), { recursive: true });
  if (!existsSync(path.join(procfs, 'net'))) symlinkSync('/proc/sys/net', path.join(procfs, 'net'));
  for (const key of ['unprivileged_bpf_disabled', 'timer_migration']) {
    const file = path.join(procfs, 'kernel', key);
    if (!existsSync(file)) writeFileSync(file, readFileSync(`/proc/sys/kernel/${key}`, 'utf8'));
  }
}

/** Undoes prepareNode (after the kubelet and its agents have stopped): pod and LAN namespaces, bpffs, the cgroup. */
export async function teardownNode(p: { dir: string; netns: string }): Promise<void> {
  const list = await run(['ip', ['netns', 'list']]);
  for (const name of list.stdout.split('\n').map((l) => l.split(' ')[0] ?? '')) {
    // The pods' namespaces (-p<uid>) and the LAN end of eth0 (-lan).
    if (name.startsWith(`${p.netns}-`)) await run(['ip', ['netns', 'delete', name]]);
  }
  const bpffs = path.join(nodeDir(p.dir), 'bpffs');
  if (mounted(bpffs)) await runChecked(['umount', [bpffs]]);
  const cgroupAt = path.join(nodeDir(p.dir), 'cgroup');
  if (mounted(cgroupAt)) await runChecked(['umount', [cgroupAt]]);
  const cgroup = nodeCgroup(p.netns);
  if (cgroup && existsSync(cgroup)) {
    // Child cgroups first (the agent makes none today; a future one would).
    for (const e of readdirSync(cgroup, { withFileTypes: true })) if (e.isDirectory()) rmdirSync(path.join(cgroup, e.name));
    rmdirSync(cgroup);
  }
}

export function readKubeletState(dir: string): KubeletState | undefined {
  try {
    return JSON.parse(readFileSync(path.join(nodeDir(dir), 'kubelet.json'), 'utf8')) as KubeletState;
  } catch {
    return undefined;
  }
}

/** Starts the kubelet unless it runs. Its environment is the one given (the proxy variables already removed). */
export function startKubelet(dir: string, env: NodeJS.ProcessEnv): void {
  const state = readKubeletState(dir);
  if (state && isRunning(state)) return;
  const nd = nodeDir(dir);
  mkdirSync(nd, { recursive: true, mode: 0o700 });
  const out = openSync(path.join(nd, 'kubelet.log'), 'a');
  try {
    const child = spawn(process.execPath, [KUBELET_MAIN, dir], { detached: true, stdio: ['ignore', out, out], env });
    child.unref();
    const pid = child.pid ?? 0;
    writeFileSync(path.join(nd, 'kubelet.json'), `${JSON.stringify({ pid, startTime: processStartTime(pid) ?? '', agents: [], pods: {} }, null, 2)}\n`);
  } finally {
    closeSync(out);
  }
}

/** Stops the kubelet (it stops its agents), then any agent it left running. */
export async function stopKubelet(dir: string): Promise<void> {
  const state = readKubeletState(dir);
  if (!state) return;
  if (isRunning(state)) await stopProcessGroup(state.pid, state.startTime, 20_000);
  for (const a of readKubeletState(dir)?.agents ?? []) await stopProcessGroup(a.pid, a.startTime, 5_000);
  rmSync(path.join(nodeDir(dir), 'apiserver.sock'), { force: true });
}
