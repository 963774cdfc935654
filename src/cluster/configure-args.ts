/**
 * Argument edits and restarts on another node through MicroK8s's cluster agent (`configure`'s `service`
 * entries), with the guarantees of an args-flag step run there: the node's check reports, for each
 * args-flag step that would change, the flag's current value and the wanted one; the controller sends
 * `arguments_update` / `arguments_remove` and `restart`, and journals the previous values, so undo is
 * `configure` putting them back. Pure: the agent's edit of an args file as MicroK8s's agents write it,
 * the daemon a restart reaches, and whether `configure` reproduces our step's edit and its undo byte for
 * byte on a given file (else the step stays in the node-local hook run, which can).
 *
 * MicroK8s's agents (read in their source):
 * - 1.20, Python (`scripts/cluster/agent.py`, `update_service_argument`): for each key, every line that
 *   `startswith(key)` becomes `key=value` (or is dropped for a removal), every other line is written back
 *   `rstrip()`ed with `\n`; an absent key is appended `key=value`; a missing args file fails the call.
 *   A restart is `systemctl restart snap.microk8s.daemon-NAME` with `kube-` dropped from kube-apiserver,
 *   kube-proxy, kube-scheduler and kube-controller-manager (`get_service_name`).
 * - 1.21+, Go (microk8s-cluster-agent `pkg/snap/util/services.go`, `UpdateServiceArguments`): with
 *   nothing to update or remove, no write; else every line trimmed, empty lines dropped, a line whose key
 *   (`pkg/util` `ParseArgumentLine`: before the first `=`, else before the first space) is updated becomes
 *   `key=value`, a removed key's lines go, and keys not found are appended `key=value` in Go map order
 *   (random, so we send one flag per `service` entry). A restart is `snapctl restart
 *   microk8s.daemon-NAME` (`pkg/snap/snap.go`, `snapctlServiceName`): `kube-` dropped as above, and with
 *   the kubelite lock apiserver, proxy, kubelet, scheduler and controller-manager are `kubelite`.
 * Both process the `service` entries in order, each one's edits then its restart, before any `addon`.
 */
import type { Layout } from '../planner.js';
import { findFlag, removeFlag, setFlag } from '../node/args-file.js';

/** Which cluster agent a node of a layout runs: MicroK8s 1.20's Python agent, or the Go agent (kubelite era). */
export type AgentKind = 'python' | 'go';

export const agentKindFor = (layout: Layout): AgentKind => (layout === '1.20' ? 'python' : 'go');

/** One `service` entry of a configure request. */
export interface ServiceEntry {
  name: string;
  arguments_update?: Record<string, string>[];
  arguments_remove?: string[];
  restart?: boolean;
}

/** The Go agent's key of an args line (`pkg/util` `ParseArgumentLine`). */
function goKey(line: string): string {
  const t = line.trim();
  if (t.includes('=')) return t.split('=')[0] as string;
  if (t.includes(' ')) return t.split(' ')[0] as string;
  return t;
}

/** The args file text after the agent applied one `service` entry's updates and removals. */
export function agentArgsEdit(kind: AgentKind, text: string, update: readonly Record<string, string>[], remove: readonly string[]): string {
  if (kind === 'python') {
    let out = text;
    const one = (key: string, value: string | null) => {
      const lines = out.split(/(?<=\n)/).filter((l) => l !== '');
      let found = false;
      let next = '';
      for (const line of lines) {
        if (line.startsWith(key)) {
          if (value !== null) next += `${key}=${value}\n`;
          found = true;
        } else next += `${line.trimEnd()}\n`;
      }
      if (!found && value !== null) next += `${key}=${value}\n`;
      out = next;
    };
    for (const m of update) for (const [k, v] of Object.entries(m)) one(k, v);
    for (const k of remove) one(k, null);
    return out;
  }
  if (update.length === 0 && remove.length === 0) return text;
  const updates = new Map<string, string>();
  for (const m of update) for (const [k, v] of Object.entries(m)) updates.set(k, v);
  const removes = new Set(remove);
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const key = goKey(line);
    seen.add(key);
    if (updates.has(key)) lines.push(`${key}=${updates.get(key) as string}`);
    else if (!removes.has(key)) lines.push(line);
  }
  for (const [k, v] of updates) if (!seen.has(k)) lines.push(`${k}=${v}`);
  return `${lines.join('\n')}\n`;
}

/** The daemon (MicroK8s's `microk8s.daemon-NAME` without the prefix) a `restart` of `service` reaches. */
export function agentDaemon(kind: AgentKind, service: string, kubeliteLock: boolean): string {
  let name = ['kube-apiserver', 'kube-proxy', 'kube-scheduler', 'kube-controller-manager'].includes(service) ? service.slice('kube-'.length) : service;
  if (kind === 'go') {
    name = name.replace(/^microk8s\.daemon-/, '');
    if (kubeliteLock && ['apiserver', 'proxy', 'kubelet', 'scheduler', 'controller-manager'].includes(name)) name = 'kubelite';
  }
  return name;
}

/** What a node reports for an args-flag step that `configure` can apply exactly there. */
export interface ArgsChange {
  /** The step's phase (`enable/dns/kubelet-cluster-dns`). */
  phase: string;
  service: string;
  flag: string;
  /** The value now (the line is exactly `flag=from`), or null when the flag is absent. */
  from: string | null;
  /** The wanted value, or null to remove the flag. */
  to: string | null;
  /** The daemon the agent's restart of `service` reaches on that node. */
  daemon: string;
}

/** The `service` entries that make `edits` (set `to`, or remove when null): one flag per entry, in order, each daemon restarted once, on its last entry. */
export function serviceEntries(edits: readonly { service: string; flag: string; to: string | null; daemon: string }[], restart: boolean): ServiceEntry[] {
  const last = new Map<string, number>();
  edits.forEach((e, i) => last.set(e.daemon, i));
  return edits.map((e, i) => ({
    name: e.service,
    ...(e.to === null ? { arguments_remove: [e.flag] } : { arguments_update: [{ [e.flag]: e.to }] }),
    ...(restart && last.get(e.daemon) === i ? { restart: true } : {}),
  }));
}

/** The entries that put `changes` back (newest first): previous values, absent flags removed. */
export function undoEntries(changes: readonly Pick<ArgsChange, 'service' | 'flag' | 'from' | 'daemon'>[]): ServiceEntry[] {
  return serviceEntries([...changes].reverse().map((c) => ({ service: c.service, flag: c.flag, to: c.from, daemon: c.daemon })), true);
}

/**
 * For one service's args file (`text`, undefined when missing) and the args-flag steps that would change
 * it (in step order): the changes to send through `configure`, when the agent's edits give exactly what
 * the steps would write and the undo entries give back exactly `text`; else undefined (the steps run in
 * the node-local hook run, whose own undo restores the previous line as it was).
 */
export function exactThroughConfigure(kind: AgentKind, text: string | undefined, steps: readonly { phase: string; service: string; flag: string; to: string | null }[], daemon: string): ArgsChange[] | undefined {
  if (text === undefined || steps.length === 0) return undefined;
  const changes: ArgsChange[] = [];
  for (const s of steps) {
    const found = findFlag(text, s.flag);
    const line = found?.line;
    // configure can only put back a `flag=value` line.
    if (line !== undefined && !line.startsWith(`${s.flag}=`)) return undefined;
    changes.push({ phase: s.phase, service: s.service, flag: s.flag, from: line === undefined ? null : line.slice(s.flag.length + 1), to: s.to, daemon });
  }
  let ours = text;
  for (const c of changes) ours = c.to === null ? removeFlag(ours, c.flag) : setFlag(ours, c.flag, c.to);
  const apply = (t: string, entries: ServiceEntry[]) => entries.reduce((acc, e) => agentArgsEdit(kind, acc, e.arguments_update ?? [], e.arguments_remove ?? []), t);
  const theirs = apply(text, serviceEntries(changes, false));
  if (theirs !== ours) return undefined;
  if (apply(theirs, undoEntries(changes)) !== text) return undefined;
  return changes;
}
