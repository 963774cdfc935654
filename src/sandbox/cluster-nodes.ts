/**
 * The sandbox as a MicroK8s cluster (`sandbox up --nodes N`): node-0 is the sandbox's own node (DIR/snap,
 * data, common; where mk8s-addons runs); node-1 … node-(N-1) each get a MicroK8s-shaped folder of the era,
 * a network namespace of their own, simulated services and a stand-in cluster agent (our code,
 * src/sandbox/cluster-agent.ts) serving MicroK8s's `configure` contract over HTTPS.
 *
 * DIR/nodes/node-I/
 *   snap/ data/ common/        the node's SNAP, SNAP_DATA, SNAP_COMMON
 *   services/                  <daemon>.state and log.jsonl (the node's simulated services)
 *   node.json                  what its cluster agent needs (name, address, paths, layout, netns)
 *   cluster-agent.json, .log   the agent's pid and log
 *
 * Addresses: a node's agent listens on its Node's InternalIP, port 25000, as MicroK8s's does. Those are
 * loopback addresses of this host (127.A.B.(10+I), A.B from the sandbox folder's hash: two sandboxes never
 * share one), set on the Node objects, so that discovery from the API finds them as on a real HA cluster.
 * The agents run in the host's network namespace (to be reachable); the node's links live in its own.
 * Eras: 1.35 (HA, dqlite): every node has the cluster's callback token; 1.20 (non-HA, etcd): each joined
 * node has its own token, listed with its address in node-0's `credentials/callback-tokens.txt`, and is
 * a worker (`var/lock/clustered.lock`), as `microk8s join` makes it there.
 * Simulated, and said by `sandbox status`: the other nodes' kubelets (kwok plays them), their
 * containerd and flannel (state files; flannel.1 is a real link in the node's namespace).
 */
import { spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { appendFile, copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChecked } from '../adapters/process.js';
import { readText } from '../adapters/fs.js';
import { stopProcessGroup } from './kubelet.js';
import { isRunning, kubeApi, loadControlPlane, processStartTime } from './control-plane.js';
import type { ClusterAgentNode } from './cluster-agent.js';
import type { SandboxMarker } from '../node/node.js';
import { ensureNetns, ERA_DAEMONS, layoutNodeFolder, sandboxServiceManager, type SandboxEra, type SandboxInfo } from './sandbox.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const AGENT_MAIN = path.join(here, 'cluster-agent-main.js');

/** MicroK8s's cluster agent port (the `--bind` of args/cluster-agent). */
export const CLUSTER_AGENT_PORT = 25000;

export interface ClusterNode extends ClusterAgentNode {
  index: number;
  /** DIR/nodes/NAME */
  dir: string;
  netns: string;
}

export const clusterNodeName = (index: number) => `node-${index}`;
export const clusterNodeDir = (dir: string, index: number) => path.join(dir, 'nodes', clusterNodeName(index));

/** The node's address: 127.A.B.(10+index), A.B from the sandbox folder (see the module comment). */
export function clusterNodeAddress(dir: string, index: number): string {
  const h = createHash('sha256').update(path.resolve(dir)).digest();
  return `127.${1 + ((h[0] as number) % 254)}.${(h[1] as number) % 255}.${10 + index}`;
}

export function clusterNodeOf(info: SandboxInfo, index: number): ClusterNode {
  const dir = clusterNodeDir(info.dir, index);
  return {
    index,
    name: clusterNodeName(index),
    address: clusterNodeAddress(info.dir, index),
    port: CLUSTER_AGENT_PORT,
    dir,
    snap: path.join(dir, 'snap'),
    snapData: path.join(dir, 'data'),
    snapCommon: path.join(dir, 'common'),
    layout: info.layout,
    netns: `${info.netns}-n${index}`,
  };
}

/** The stand-in of `$SNAP/microk8s-{enable,disable}.wrapper`: MicroK8s's dispatch to an addon repository's hook, without its lock and status check. */
function wrapperScript(action: 'enable' | 'disable'): string {
  return [
    '#!/bin/sh',
    `# sandbox stand-in for MicroK8s's microk8s-${action}.wrapper: runs the addon's ${action} hook from $SNAP_COMMON/addons/`,
    '# (REPO/NAME picks the repository; NAME:ARGS passes ARGS split at ":" as MicroK8s does for bare names).',
    'spec="$1"; shift',
    'case "$spec" in */*) repo="${spec%%/*}"; spec="${spec#*/}" ;; *) repo="" ;; esac',
    'name="${spec%%:*}"; args=""',
    'case "$spec" in *:*) args="${spec#*:}" ;; esac',
    'for hook in "$SNAP_COMMON"/addons/${repo:-*}/addons/"$name"/' + action + '; do',
    '  if [ -x "$hook" ]; then',
    '    if [ -n "$args" ]; then old="$IFS"; IFS=:; set -- $args "$@"; IFS="$old"; fi',
    '    exec "$hook" "$@"',
    '  fi',
    'done',
    'echo "Addon $name was not found in any repository" >&2',
    'exit 1',
    '',
  ].join('\n');
}

async function selfSignedCert(node: ClusterNode): Promise<void> {
  const certs = path.join(node.snapData, 'certs');
  await mkdir(certs, { recursive: true });
  await runChecked(['openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-subj', `/CN=${node.name}`, '-addext', `subjectAltName=IP:${node.address}`, '-keyout', path.join(certs, 'server.key'), '-out', path.join(certs, 'server.crt')]]);
}

/** The callback token of node-0 (made on first use), which every HA node shares. */
async function localToken(info: SandboxInfo): Promise<string> {
  const file = path.join(info.snapData, 'credentials', 'callback-token.txt');
  const have = (await readText(file))?.trim();
  if (have) return have;
  const token = randomBytes(16).toString('hex');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await writeFile(path.join(info.snapData, 'args', 'cluster-agent'), `--bind=0.0.0.0:${CLUSTER_AGENT_PORT}\n--keyfile=\${SNAP_DATA}/certs/server.key\n--certfile=\${SNAP_DATA}/certs/server.crt\n--timeout=240\n`);
  return token;
}

/** Makes the folders of nodes `from` … `to - 1` (node-0 is the sandbox's own node). */
export async function makeClusterNodes(info: SandboxInfo, from: number, to: number): Promise<void> {
  if (to <= 1) return;
  const shared = await localToken(info);
  for (let i = Math.max(1, from); i < to; i++) {
    const node = clusterNodeOf(info, i);
    await layoutNodeFolder(node, info.era);
    await mkdir(path.join(node.dir, 'services'), { recursive: true });
    await selfSignedCert(node);
    const token = info.era === '1.35' ? shared : randomBytes(16).toString('hex');
    await writeFile(path.join(node.snapData, 'credentials', 'callback-token.txt'), `${token}\n`, { mode: 0o600 });
    await writeFile(path.join(node.snapData, 'args', 'cluster-agent'), `--bind=0.0.0.0:${CLUSTER_AGENT_PORT}\n--keyfile=\${SNAP_DATA}/certs/server.key\n--certfile=\${SNAP_DATA}/certs/server.crt\n--timeout=240\n`);
    await copyFile(info.kubeconfig, path.join(node.snapData, 'credentials', 'client.config'));
    if (info.era === '1.20') {
      // `microk8s join` on the etcd (non-HA) path: the node is a worker, and the master lists its agent.
      await writeFile(path.join(node.snapData, 'var', 'lock', 'clustered.lock'), '');
      await appendFile(path.join(info.snapData, 'credentials', 'callback-tokens.txt'), `${node.address}:${node.port} ${token}\n`, { mode: 0o600 });
    }
    for (const action of ['enable', 'disable'] as const) await writeFile(path.join(node.snap, `microk8s-${action}.wrapper`), wrapperScript(action), { mode: 0o755 });
    await writeFile(path.join(node.dir, 'resolv.conf'), '# sandbox host resolv.conf (systemd-resolved stub, as on Ubuntu)\nnameserver 127.0.0.53\noptions edns0 trust-ad\n');
    const marker: SandboxMarker & { node: string } = { sandbox: true, dir: node.dir, layout: info.layout, netns: node.netns, resolvConf: path.join(node.dir, 'resolv.conf'), node: node.name };
    await writeFile(path.join(node.snapData, 'mk8s-addons-sandbox.json'), `${JSON.stringify(marker, null, 2)}\n`);
    const { index: _i, dir: _d, ...agentNode } = node;
    await writeFile(path.join(node.dir, 'node.json'), `${JSON.stringify(agentNode, null, 2)}\n`);
  }
}

interface AgentState {
  pid: number;
  startTime: string;
}

const agentStateFile = (node: ClusterNode) => path.join(node.dir, 'cluster-agent.json');

export function readAgentState(node: ClusterNode): AgentState | undefined {
  try {
    return JSON.parse(readFileSync(agentStateFile(node), 'utf8')) as AgentState;
  } catch {
    return undefined;
  }
}

/** Starts the node's stand-in cluster agent unless it runs; resolves once it listens. */
export async function startClusterAgent(node: ClusterNode, env: NodeJS.ProcessEnv): Promise<void> {
  const state = readAgentState(node);
  if (state && isRunning(state)) return;
  const log = path.join(node.dir, 'cluster-agent.log');
  const out = openSync(log, 'a');
  try {
    const child = spawn(process.execPath, [AGENT_MAIN, node.dir], { detached: true, stdio: ['ignore', out, out], env });
    child.unref();
    const pid = child.pid ?? 0;
    writeFileSync(agentStateFile(node), `${JSON.stringify({ pid, startTime: processStartTime(pid) ?? '' })}\n`);
  } finally {
    closeSync(out);
  }
  const { connect } = await import('node:net');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(node.port, node.address, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the cluster agent of ${node.name} did not listen on ${node.address}:${node.port} within 20 s; see ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stopClusterAgent(node: ClusterNode): Promise<void> {
  const state = readAgentState(node);
  if (state && isRunning(state)) await stopProcessGroup(state.pid, state.startTime, 5_000);
}

/** The cluster nodes' indexes (1 … clusterNodes - 1). */
export function clusterNodeIndexes(info: SandboxInfo): number[] {
  return Array.from({ length: Math.max(0, (info.clusterNodes ?? 1) - 1) }, (_, k) => k + 1);
}

/** Starts the nodes' services and agents (each node in parallel), and gives their Nodes their addresses. */
export async function startClusterNodes(info: SandboxInfo, env: NodeJS.ProcessEnv): Promise<void> {
  const cp = loadControlPlane(path.join(info.dir, 'cp'));
  await Promise.all(
    clusterNodeIndexes(info).map(async (i) => {
      const node = clusterNodeOf(info, i);
      // Folders not made yet (a first `sandbox up`, or more --nodes) are started after makeClusterNodes.
      if (!existsSync(path.join(node.dir, 'node.json'))) return;
      await ensureNetns(node.netns);
      const services = sandboxServiceManager({ dir: node.dir, snapData: node.snapData, netns: node.netns, layout: info.layout });
      // A joined node of either era runs no apiserver of its own here (1.20 worker; 1.35 kubelite is one state).
      for (const daemon of ERA_DAEMONS[info.era as SandboxEra].filter((d) => d !== 'apiserver' && d !== 'etcd' && d !== 'controller-manager' && d !== 'scheduler')) {
        await services.act('start', daemon, { env });
      }
      await setNodeAddress(cp, node);
      await startClusterAgent(node, env);
    }),
  );
}

/** Gives the Node its agent's address as InternalIP (a GET and a PUT of its status, again on a conflict with kwok's heartbeat). */
async function setNodeAddress(cp: ReturnType<typeof loadControlPlane>, node: ClusterNode): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const got = await kubeApi<{ status?: { addresses?: { type: string; address: string }[] }; message?: string }>(cp, 'GET', `/api/v1/nodes/${node.name}`);
    if (got.status !== 200) throw new Error(`cannot read Node ${node.name}: HTTP ${got.status} ${got.body?.message ?? ''}`);
    const obj = got.body;
    const addresses = [{ type: 'InternalIP', address: node.address }, { type: 'Hostname', address: node.name }];
    if (JSON.stringify(obj.status?.addresses) === JSON.stringify(addresses)) return;
    obj.status = { ...obj.status, addresses };
    const put = await kubeApi<{ message?: string }>(cp, 'PUT', `/api/v1/nodes/${node.name}/status`, obj);
    if (put.status === 200) return;
    if (put.status !== 409 || attempt >= 20) throw new Error(`cannot set the address of Node ${node.name}: HTTP ${put.status} ${put.body?.message ?? ''}`);
  }
}

export async function stopClusterNodes(info: SandboxInfo): Promise<void> {
  await Promise.all(clusterNodeIndexes(info).map((i) => stopClusterAgent(clusterNodeOf(info, i))));
}

export interface ClusterNodeStatus {
  name: string;
  address: string;
  dir: string;
  netns: string;
  agent: { pid: number; alive: boolean };
  services: Record<string, string>;
}

export async function clusterNodesStatus(info: SandboxInfo): Promise<ClusterNodeStatus[]> {
  const out: ClusterNodeStatus[] = [];
  for (const i of clusterNodeIndexes(info)) {
    const node = clusterNodeOf(info, i);
    const state = readAgentState(node);
    const services: Record<string, string> = {};
    for (const d of ERA_DAEMONS[info.era]) {
      const s = (await readText(path.join(node.dir, 'services', `${d}.state`)))?.trim();
      if (s) services[d] = s;
    }
    out.push({ name: node.name, address: `${node.address}:${node.port}`, dir: node.dir, netns: node.netns, agent: { pid: state?.pid ?? 0, alive: state ? isRunning(state) : false }, services });
  }
  return out;
}
