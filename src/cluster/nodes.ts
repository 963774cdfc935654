/**
 * Which nodes a MicroK8s cluster has and how to reach their cluster agents, by MicroK8s's own rules
 * (`scripts/wrappers/distributed_op.py`, `get_cluster_agent_endpoints`):
 * - HA (dqlite; `var/lock/ha-cluster`): every Node's InternalIP from the API, at the port of this node's
 *   `args/cluster-agent --bind` (25000), with this node's callback token (HA nodes share it);
 * - non-HA: the lines `host:port token` of `$SNAP_DATA/credentials/callback-tokens.txt` (one per joined
 *   node; none or no file: a single node, found without any call to the API).
 * A worker (`var/lock/clustered.lock`) runs no control plane and is refused as the place to run
 * mk8s-addons, as MicroK8s refuses addon commands there.
 * The parsing and the Node-list reading are pure (exported for tests); `discoverCluster` does the I/O.
 */
import os from 'node:os';
import path from 'node:path';
import { PreconditionError, UsageError } from '../errors.js';
import { exists, readText } from '../adapters/fs.js';
import type { ClusterEndpoint } from '../adapters/cluster-agent.js';
import { nodeFiles, readSandboxMarker, type SnapPaths } from '../node/node.js';
import { getFlag } from '../node/args-file.js';

export const DEFAULT_AGENT_PORT = 25000;

export interface ClusterView {
  /** How the nodes were found. */
  mode: 'ha' | 'non-ha';
  /** This node's name (its Node's name; its address in a non-HA cluster whose API did not answer). */
  self: string;
  /** The other nodes' agents, by name. */
  others: ClusterEndpoint[];
}

/** `host:port token` lines (IPv6 hosts in brackets); `#` comments and blank lines skipped. */
export function parseCallbackTokens(text: string, file: string): { host: string; port: number; token: string }[] {
  const out: { host: string; port: number; token: string }[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})\s+(\S+)$/.exec(line);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      throw new PreconditionError(`${file} line ${i + 1} is not "host:port token"; fix or remove that line (MicroK8s writes one per joined node)`);
    }
    out.push({ host: (m[1] as string).replace(/^\[|\]$/g, ''), port, token: m[3] as string });
  }
  return out;
}

export interface NodeItem {
  metadata: { name: string };
  status?: { addresses?: { type: string; address: string }[] };
}

/** The InternalIP of each Node (the first one), by name. */
export function internalIps(items: NodeItem[]): { name: string; ip: string | undefined }[] {
  return items.map((n) => ({ name: n.metadata.name, ip: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address })).sort((a, b) => a.name.localeCompare(b.name));
}

/** The port of `--bind=HOST:PORT` in args/cluster-agent (MicroK8s's default 25000). */
export function agentPort(argsText: string | undefined): number {
  const bind = argsText === undefined ? undefined : getFlag(argsText, '--bind');
  const port = Number(/:(\d+)$/.exec(bind ?? '')?.[1] ?? DEFAULT_AGENT_PORT);
  return port >= 1 && port <= 65535 ? port : DEFAULT_AGENT_PORT;
}

function localAddresses(): Set<string> {
  return new Set(Object.values(os.networkInterfaces()).flatMap((l) => (l ?? []).map((a) => a.address)));
}

async function listNodes(kubeconfig: string): Promise<NodeItem[]> {
  const { connectHttp } = await import('../adapters/kube-http.js');
  const kube = await connectHttp(kubeconfig);
  let r: { status: number; body: { items?: NodeItem[]; message?: string } };
  try {
    r = await kube.request<{ items?: NodeItem[]; message?: string }>('GET', '/api/v1/nodes', { timeoutMs: 10_000 });
  } catch (err) {
    throw new PreconditionError(`cannot list the cluster's nodes (${(err as Error).message.split('\n')[0]}); check that MicroK8s runs (microk8s status)`);
  }
  if (r.status !== 200) throw new PreconditionError(`cannot list the cluster's nodes: HTTP ${r.status} ${r.body?.message ?? ''}; check that MicroK8s runs (microk8s status)`.trimEnd());
  return r.body.items ?? [];
}

/** This node's Node name: the sandbox marker's, else the host name (MicroK8s registers it so). */
export async function selfNodeName(paths: SnapPaths): Promise<string> {
  const marker = await readSandboxMarker(paths);
  return (marker as { node?: string } | undefined)?.node ?? (marker ? 'node-0' : os.hostname().toLowerCase());
}

/** This node's cluster view (see the module comment). */
export async function discoverCluster(paths: SnapPaths, opts: { kubeconfig: string }): Promise<ClusterView> {
  const files = nodeFiles(paths);
  if (await exists(files.lock('clustered.lock'))) {
    throw new PreconditionError('this node is a worker of a MicroK8s cluster (var/lock/clustered.lock exists); run mk8s-addons on a control-plane node');
  }
  const selfName = await selfNodeName(paths);
  const credentials = path.join(paths.snapData, 'credentials');
  if (await exists(files.lock('ha-cluster'))) {
    const tokenFile = path.join(credentials, 'callback-token.txt');
    const token = (await readText(tokenFile))?.trim() ?? '';
    const port = agentPort(await readText(files.args('cluster-agent')));
    const local = localAddresses();
    const nodes = internalIps(await listNodes(opts.kubeconfig));
    const self = nodes.find((n) => n.name === selfName) ?? nodes.find((n) => n.ip !== undefined && local.has(n.ip));
    const others = nodes.filter((n) => n !== self);
    if (others.length && token === '') throw new PreconditionError(`${tokenFile} is missing or empty: the cluster agents cannot be called without it; run mk8s-addons on a node that joined the cluster`);
    const noIp = others.find((n) => n.ip === undefined);
    if (noIp) throw new PreconditionError(`node ${noIp.name} has no InternalIP in the API: its cluster agent cannot be found; check that its kubelet runs, or remove it (microk8s remove-node ${noIp.name})`);
    return { mode: 'ha', self: self?.name ?? selfName, others: others.map((n) => ({ name: n.name, host: n.ip as string, port, token, tokenFrom: tokenFile })) };
  }
  const tokensFile = path.join(credentials, 'callback-tokens.txt');
  const lines = parseCallbackTokens((await readText(tokensFile)) ?? '', tokensFile);
  if (lines.length === 0) return { mode: 'non-ha', self: selfName, others: [] };
  // Names from the API where it answers (the file only has addresses).
  let names: { name: string; ip: string | undefined }[] = [];
  try {
    names = internalIps(await listNodes(opts.kubeconfig));
  } catch {
    names = [];
  }
  return { mode: 'non-ha', self: selfName, others: lines.map((l) => ({ name: names.find((n) => n.ip === l.host)?.name ?? l.host, ...l, tokenFrom: tokensFile })) };
}

/** The nodes `--node` names (a comma list), or every node; an unknown name is bad input (exit 2). */
export function selectNodes(view: ClusterView, wanted: string | undefined): ClusterEndpoint[] {
  if (wanted === undefined) return view.others;
  const names = wanted.split(',').map((n) => n.trim()).filter(Boolean);
  const all = [`${view.self} (this node)`, ...view.others.map((o) => o.name)].join(', ');
  const picked: ClusterEndpoint[] = [];
  for (const name of names) {
    if (name === view.self) continue;
    const e = view.others.find((o) => o.name === name || o.host === name);
    if (!e) throw new UsageError(`unknown node "${name}": the cluster's nodes are ${all}; give one of them to --node`);
    if (!picked.includes(e)) picked.push(e);
  }
  return picked;
}
