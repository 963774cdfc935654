/**
 * CNI as containerd calls it, for the sandbox's kubelet: the active network is the first loadable config
 * in the node's CNI folder (sorted by file name: *.conf, *.conflist, *.json, as libcni's ConfFiles), each
 * plugin is `<bin dir>/<type>` run in the node's network namespace with the CNI_* variables, containerd's
 * own environment (MicroK8s's containerd sources $SNAP_DATA/args/containerd-env) and the plugin's config
 * on stdin; a .conflist's plugins are chained with prevResult on ADD and run in reverse on DEL.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { readText } from '../adapters/fs.js';
import { run, type Command } from '../adapters/process.js';

export interface CniNetwork {
  /** The config file. */
  file: string;
  name: string;
  cniVersion: string;
  /** One entry for a .conf; the list of a .conflist. */
  plugins: Record<string, unknown>[];
}

/** The network containerd would use: the first config file (by name) that parses and names a type. */
export async function activeCniNetwork(confDir: string): Promise<CniNetwork | undefined> {
  let names: string[];
  try {
    names = (await readdir(confDir)).filter((n) => /\.(conf|conflist|json)$/.test(n)).sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    const file = path.join(confDir, name);
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse((await readText(file)) ?? '') as Record<string, unknown>;
    } catch {
      continue; // libcni skips what it cannot load
    }
    const plugins = name.endsWith('.conflist') ? (doc.plugins as Record<string, unknown>[] | undefined) : [doc];
    if (!Array.isArray(plugins) || plugins.length === 0 || plugins.some((p) => typeof p?.type !== 'string')) continue;
    return { file, name: String(doc.name ?? ''), cniVersion: String(doc.cniVersion ?? '0.3.1'), plugins };
  }
  return undefined;
}

/**
 * `KEY=value` lines of a shell environment file such as args/containerd-env (comments and commands
 * skipped), `$NAME` and `${NAME}` expanded from `vars` and the lines before, as the shell sourcing it does.
 */
export function parseEnvFile(text: string | undefined, vars: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const expand = (v: string) => v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a: string | undefined, b: string | undefined) => out[(a ?? b)!] ?? vars[(a ?? b)!] ?? '');
  for (const line of (text ?? '').split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let value = (m[2] as string).trim();
    if (value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1);
    else {
      if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      value = expand(value);
    }
    out[m[1] as string] = value;
  }
  return out;
}

export interface CniCall {
  network: CniNetwork;
  binDir: string;
  /** The node's network namespace, where containerd (and so the plugin) runs. */
  nodeNetns: string;
  /** Path of the pod's network namespace (/run/netns/NAME). */
  podNetnsPath: string;
  containerId: string;
  ifName: string;
  pod: { namespace: string; name: string; uid: string };
  /** containerd's environment (PATH and the variables of args/containerd-env). */
  env: Record<string, string>;
}

export interface CniResult {
  /** The pod's first IPv4 address, without prefix length. */
  ip: string;
  raw: unknown;
}

/** CNI's error object, or the plugin's stderr, in one line. */
function pluginError(type: string, command: string, r: { stdout: string; stderr: string; exitCode: number }): Error {
  let msg = r.stderr.trim().split('\n').slice(-3).join(' | ');
  try {
    const e = JSON.parse(r.stdout) as { msg?: string; details?: string; code?: number };
    if (e.msg) msg = `${e.msg}${e.details ? `: ${e.details}` : ''}`;
  } catch {
    // not JSON
  }
  return new Error(`plugin type="${type}" failed (${command.toLowerCase()}): ${msg || `exit ${r.exitCode}`}`);
}

function pluginCommand(call: CniCall, type: string): Command {
  return ['ip', ['netns', 'exec', call.nodeNetns, path.join(call.binDir, type)]];
}

async function invoke(call: CniCall, command: 'ADD' | 'DEL', plugin: Record<string, unknown>, prevResult: unknown): Promise<unknown> {
  const type = String(plugin.type);
  const conf = { ...plugin, name: call.network.name, cniVersion: call.network.cniVersion, ...(prevResult !== undefined ? { prevResult } : {}) };
  const env = {
    ...call.env,
    CNI_COMMAND: command,
    CNI_CONTAINERID: call.containerId,
    CNI_NETNS: call.podNetnsPath,
    CNI_IFNAME: call.ifName,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${call.pod.namespace};K8S_POD_NAME=${call.pod.name};K8S_POD_INFRA_CONTAINER_ID=${call.containerId};K8S_POD_UID=${call.pod.uid}`,
    CNI_PATH: call.binDir,
  };
  const r = await run(pluginCommand(call, type), { env, input: JSON.stringify(conf), timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw pluginError(type, command, r);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as unknown) : undefined;
}

/** ADD through every plugin of the network; the pod's IPv4 address from the final result. */
export async function cniAdd(call: CniCall): Promise<CniResult> {
  let result: unknown;
  for (const plugin of call.network.plugins) result = await invoke(call, 'ADD', plugin, result);
  const ips = ((result as { ips?: { address?: string; version?: string }[] } | undefined)?.ips ?? []).map((i) => i.address ?? '');
  const v4 = ips.map((a) => a.split('/')[0] as string).find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a));
  if (!v4) throw new Error(`the CNI result of ${call.network.file} holds no IPv4 address: ${JSON.stringify(result)}`);
  return { ip: v4, raw: result };
}

/** DEL through every plugin, last first (errors of one plugin do not stop the others; the first is thrown). */
export async function cniDel(call: CniCall): Promise<void> {
  let first: Error | undefined;
  for (const plugin of [...call.network.plugins].reverse()) {
    try {
      await invoke(call, 'DEL', plugin, undefined);
    } catch (err) {
      first ??= err as Error;
    }
  }
  if (first) throw first;
}

/** Whether a plugin binary is one of the sandbox's stand-ins (flannel, Calico: no real plugin here). */
export async function isStandInPlugin(file: string): Promise<boolean> {
  const size = await stat(file).then((s) => s.size, () => undefined);
  if (size === undefined || size > 4096) return false;
  return ((await readText(file)) ?? '').includes('sandbox stand-in');
}
