/**
 * The sandbox's stand-in for MicroK8s's cluster agent (our code, not MicroK8s's): the `configure` contract
 * of the agent's `pkg/api/v1/configure.go` (1.20: `cluster-agent.py`) over real HTTPS, on one sandbox node.
 *
 * `POST /cluster/api/v1.0/configure` with JSON `{callback, service: [{name, arguments_update,
 * arguments_remove, restart}], addon: [{name, enable}]}`:
 * - the callback token must equal the node's `$SNAP_DATA/credentials/callback-token.txt` (else 401);
 * - `arguments_update` / `arguments_remove` edit `$SNAP_DATA/args/<name>` exactly as the era's agent
 *   writes it (src/cluster/configure-args.ts `agentArgsEdit`: 1.20's Python agent, prefix match and
 *   `rstrip`ped lines, a missing file an error; the Go agent of 1.21+, trimmed lines without empty ones,
 *   a missing file taken as empty);
 * - `restart` restarts the daemon the era's agent restarts (`agentDaemon`: `kube-` dropped; on 1.21+
 *   `kubelite` for the Kubernetes services, where MicroK8s checks its kubelite lock and the sandbox its
 *   layout) through the node's service manager (MicroK8s: `systemctl restart snap.microk8s.daemon-NAME`
 *   on 1.20, `snapctl restart microk8s.daemon-NAME` on 1.21+);
 * - an addon with `enable: true` runs `$SNAP/microk8s-enable.wrapper NAME` on the node, one with
 *   `disable: true` `microk8s-disable.wrapper` (either checked first, as MicroK8s's `switch`; neither:
 *   nothing, as there).
 * Services first, then addons, in the order given; the answer is 200 `{}` or the first failure.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { agentArgsEdit, agentDaemon, agentKindFor } from '../cluster/configure-args.js';
import type { Layout } from '../planner.js';
import type { ServiceManager } from '../engine/services.js';
import type { Command, RunResult } from '../adapters/process.js';

/** What the stand-in needs to know about its node (DIR/nodes/NAME/node.json). */
export interface ClusterAgentNode {
  name: string;
  /** The address and port it listens on (the Node's InternalIP, port 25000). */
  address: string;
  port: number;
  snap: string;
  snapData: string;
  snapCommon: string;
  layout: Layout;
}

export interface ConfigureService {
  name: string;
  arguments_update?: Record<string, string>[];
  arguments_remove?: string[];
  restart?: boolean;
}

export interface ConfigureRequest {
  callback: string;
  service?: ConfigureService[];
  addon?: { name: string; enable?: boolean; disable?: boolean }[];
}

export interface ConfigureAnswer {
  status: number;
  body: Record<string, unknown>;
}

const SERVICE_NAME = /^[a-z][a-z0-9-]*$/;
const FLAG = /^--[A-Za-z0-9][A-Za-z0-9-]*$/;

/** The request's shape, checked before anything is touched (a malformed request changes nothing). */
export function configureProblem(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body is not a JSON object';
  const b = body as Record<string, unknown>;
  if (typeof b.callback !== 'string') return 'callback is not a string';
  if (b.service !== undefined && !Array.isArray(b.service)) return 'service is not a list';
  for (const s of (b.service ?? []) as unknown[]) {
    const svc = s as Record<string, unknown>;
    if (typeof svc !== 'object' || svc === null || typeof svc.name !== 'string' || !SERVICE_NAME.test(svc.name)) return 'a service has no valid name';
    if (svc.arguments_update !== undefined) {
      if (!Array.isArray(svc.arguments_update)) return `service ${svc.name}: arguments_update is not a list`;
      for (const m of svc.arguments_update as unknown[]) {
        if (typeof m !== 'object' || m === null) return `service ${svc.name}: arguments_update holds a non-object`;
        for (const [k, v] of Object.entries(m)) if (!FLAG.test(k) || typeof v !== 'string' || v.includes('\n')) return `service ${svc.name}: bad argument ${k}`;
      }
    }
    if (svc.arguments_remove !== undefined && (!Array.isArray(svc.arguments_remove) || !(svc.arguments_remove as unknown[]).every((f) => typeof f === 'string' && FLAG.test(f)))) {
      return `service ${svc.name}: arguments_remove is not a list of flags`;
    }
    if (svc.restart !== undefined && typeof svc.restart !== 'boolean') return `service ${svc.name}: restart is not a boolean`;
  }
  if (b.addon !== undefined && !Array.isArray(b.addon)) return 'addon is not a list';
  for (const a of (b.addon ?? []) as unknown[]) {
    const addon = a as Record<string, unknown>;
    if (typeof addon !== 'object' || addon === null || typeof addon.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9/_:.,-]*$/.test(addon.name) || !['undefined', 'boolean'].includes(typeof addon.enable) || !['undefined', 'boolean'].includes(typeof addon.disable)) {
      return 'an addon needs a name, and enable or disable: true|false';
    }
  }
  return undefined;
}

/** Handles one configure call on `node`. */
export async function configure(
  node: ClusterAgentNode,
  body: unknown,
  deps: { services: ServiceManager; run: (cmd: Command, opts: { env: NodeJS.ProcessEnv }) => Promise<RunResult>; env: NodeJS.ProcessEnv },
): Promise<ConfigureAnswer> {
  const problem = configureProblem(body);
  if (problem) return { status: 400, body: { error: `invalid request: ${problem}` } };
  const req = body as ConfigureRequest;
  let token: string;
  try {
    token = (await readFile(path.join(node.snapData, 'credentials', 'callback-token.txt'), 'utf8')).trim();
  } catch {
    return { status: 500, body: { error: 'this node has no credentials/callback-token.txt' } };
  }
  if (token === '' || req.callback.trim() !== token) return { status: 401, body: { error: 'invalid token' } };
  const kind = agentKindFor(node.layout);
  for (const svc of req.service ?? []) {
    const file = path.join(node.snapData, 'args', svc.name);
    if (svc.arguments_update?.length || svc.arguments_remove?.length) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        // The Go agent reads a missing file as empty; 1.20's opens it for reading and fails.
        if (kind === 'python') return { status: 500, body: { error: `no args file for service ${svc.name}` } };
        text = '';
      }
      const edited = agentArgsEdit(kind, text, svc.arguments_update ?? [], svc.arguments_remove ?? []);
      if (edited !== text) await writeFile(file, edited);
    }
    if (svc.restart) {
      try {
        await deps.services.act('restart', agentDaemon(kind, svc.name, node.layout === 'kubelite'), { env: deps.env });
      } catch (err) {
        return { status: 500, body: { error: `restart of ${svc.name} failed: ${(err as Error).message}` } };
      }
    }
  }
  for (const addon of req.addon ?? []) {
    if (!addon.enable && !addon.disable) continue;
    const wrapper = path.join(node.snap, addon.enable ? 'microk8s-enable.wrapper' : 'microk8s-disable.wrapper');
    const env = { ...deps.env, SNAP: node.snap, SNAP_DATA: node.snapData, SNAP_COMMON: node.snapCommon };
    const r = await deps.run([wrapper, [addon.name]], { env });
    if (r.exitCode !== 0) {
      const last = (r.stderr.trim() || r.stdout.trim()).split('\n').pop() ?? '';
      return { status: 500, body: { error: `${addon.enable ? 'enable' : 'disable'} ${addon.name} failed (exit ${r.exitCode}): ${last}` } };
    }
  }
  return { status: 200, body: {} };
}
