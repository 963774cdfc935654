/**
 * The node-step fan-out: on a cluster, an addon's steps marked `node: true` in its manifest run on this
 * node as always, and on every other node through that node's cluster agent. After each run of
 * consecutive node steps the engine meets one `node-fanout` step (an ordinary step: checked, journaled,
 * undone like the others), so the other nodes reach the same point before the next cluster-wide step
 * (flannel is down everywhere before the Helm release; the CNI config switches after the rollout).
 *
 * - check: each node runs the node steps as a dry-run (node-local mode, src/cluster/node-local.ts) and
 *   reports on its own Node object (annotation `mk8s-addons.io/node-check`, under a fresh nonce); the
 *   step is satisfied when no node would change, else it names the drifted nodes and their phases; a
 *   report made earlier in the run counts when nothing changed that node or the cluster since (asked at
 *   the start or with an earlier step's check: src/cluster/node-checks.ts); a
 *   node where an earlier fan-out step of this run enabled the addon is not asked again (it converges:
 *   its converge run checks each step before it changes it), one node-local process per step, not two;
 * - apply: the drifted nodes, in parallel, converge with one `configure` each: its `service` entries make
 *   the args edits the node reported `configure` can make exactly (src/cluster/configure-args.ts), with
 *   `restart` for the daemons whose args change, and, when the node reported steps `configure` cannot
 *   express (locks, links, CNI files, binaries; an args file the agent would rewrite), its `addon` entry
 *   runs the node-local hook (node-local enable of the steps so far: each node checks before it changes,
 *   journals in its own journal, restarts only what changed, and rolls its own run back when a step fails
 *   there; a node that needs only that hook run, when the next fan-out step follows with nothing
 *   cluster-wide in between, is handed to it and converges in its run). MicroK8s's agent processes
 *   `service` before `addon` (microk8s-cluster-agent `pkg/api/v1/configure.go`: `for _, service := range req.ConfigureServices { UpdateServiceArguments
 *   ...; if service.Restart { RestartService } }` and only then `for _, addon := range
 *   req.ConfigureAddons`; 1.20's agent.py the same), so the args and their restarts come first, as in
 *   the manifests (cilium: args before containerd's files, flannel's stop and lock; dns: args only, no
 *   hook at all). The previous values are in the step's record before anything is sent (journaled
 *   ahead); a node that fails or cannot be reached fails the step, naming it;
 * - undo (rollback, disable, reset, crash recovery): node-local disable of the addon on the nodes where
 *   this run first enabled it through the hook (each undoes from its own journal: exact and idempotent),
 *   then `configure` puts back the previous args values (absent flags removed) with a restart, on every
 *   node whose args this run changed. Nodes that had the addon before the run keep their other node steps.
 */
import { randomBytes } from 'node:crypto';
import type { PlannedAddon } from '../planner.js';
import type { AddonManifest } from '../catalogue.js';
import type { Step, StepContext, UndoRecord, CheckResult } from '../engine/step.js';
import type { StepKindImpl } from '../engine/kinds/types.js';
import { InternalError, StepError } from '../errors.js';
import { configureNode, type ClusterEndpoint, type ConfigureCall } from '../adapters/cluster-agent.js';
import type { JournalStep } from '../engine/journal.js';
import { discoverCluster } from './nodes.js';
import { encodeNodeRequest, NODE_ADDON, type NodeCheck, type NodeRequest, type NodeRun } from './payload.js';
import type { CheckPart, NodeChecks } from './node-checks.js';
import { serviceEntries, undoEntries, type ArgsChange } from './configure-args.js';
import type { NodeCheckReport } from './node-report.js';

export type { NodeCheckReport };

/** The annotation a node reports a check under. */
export const CHECK_ANNOTATION = 'mk8s-addons.io/node-check';

/** An args change made through configure, as the record keeps it (per node): enough to make it and to undo it. */
export type ArgsRecord = Omit<ArgsChange, 'phase'>;

/** The other nodes a journaled addon's fan-out steps converged (their records' `nodes`). */
export function fanOutNodes(steps: readonly JournalStep[] | undefined): Set<string> {
  return new Set((steps ?? []).filter((s) => s.kind === 'node-fanout').flatMap((s) => s.record.nodes as string[]));
}

/** How long a node may take for one node-local run (its own hook does the addon's reads too). */
const nodeTimeout = (ctx: Pick<StepContext, 'timeoutMs'>) => Math.max(60_000, ctx.timeoutMs);

async function endpointsFor(ctx: StepContext, names: readonly string[]): Promise<ClusterEndpoint[]> {
  const view = await discoverCluster(ctx.paths, { kubeconfig: ctx.kubeconfig });
  return names.map((n) => view.others.find((o) => o.name === n) ?? { name: n, host: n, port: 25000, token: '' });
}

/** Runs `req` on each node in parallel; rejects naming every node that failed (the first one's reason). */
export async function onNodes(ctx: Pick<StepContext, 'timeoutMs' | 'signal'>, nodes: readonly ClusterEndpoint[], req: NodeRequest, phase: string): Promise<void> {
  await callNodes(ctx, nodes, () => [{ addon: [hookEntry(req)] }], phase);
}

/** The `addon` entry that runs our hook on a node with `req`. */
const hookEntry = (req: NodeRequest) => ({ name: encodeNodeRequest(req), enable: true });

/**
 * Sends each node its configure calls (one after the other on a node; the nodes in parallel; a node
 * with none is left alone); rejects naming every node that failed (the first one's reason).
 */
export async function callNodes(ctx: Pick<StepContext, 'timeoutMs' | 'signal'>, nodes: readonly ClusterEndpoint[], calls: (e: ClusterEndpoint) => ConfigureCall[], phase: string): Promise<void> {
  const results = await Promise.allSettled(
    nodes.map(async (e) => {
      for (const call of calls(e)) await configureNode(e, call, { timeoutMs: nodeTimeout(ctx), signal: ctx.signal });
    }),
  );
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ node: nodes[i] as ClusterEndpoint, err: r.reason as Error }] : []));
  if (failed.length === 0) return;
  const first = failed[0] as { node: ClusterEndpoint; err: Error };
  // MicroK8s's own words when the repository is not on that node.
  if (/not found in any repository/.test(first.err.message)) {
    first.err.message = `node ${first.node.name}: mk8s-addons's MicroK8s addons repository is not installed there (${NODE_ADDON} was not found); run on that node: sudo mk8s-addons microk8s-repo install`;
  }
  const others = failed.length > 1 ? ` (also failed: ${failed.slice(1).map((f) => f.node.name).join(', ')})` : '';
  throw new StepError(`${first.err.message}${others}`, { phase });
}

/** Each node's reports on its Node object (the last check it ran: one report per check, under its nonce). */
export async function readReports(ctx: Pick<StepContext, 'kubeconfig'>, names: readonly string[]): Promise<Map<string, NodeCheckReport[]>> {
  const { connectHttp } = await import('../adapters/kube-http.js');
  const kube = await connectHttp(ctx.kubeconfig);
  const out = new Map<string, NodeCheckReport[]>();
  await Promise.all(
    names.map(async (n) => {
      const r = await kube.request<{ metadata?: { annotations?: Record<string, string> } }>('GET', `/api/v1/nodes/${encodeURIComponent(n)}`);
      const text = r.status === 200 ? r.body.metadata?.annotations?.[CHECK_ANNOTATION] : undefined;
      try {
        const parsed = text ? (JSON.parse(text) as NodeCheckReport | NodeCheckReport[]) : [];
        out.set(n, Array.isArray(parsed) ? parsed : [parsed]);
      } catch {
        out.set(n, []);
      }
    }),
  );
  return out;
}

/**
 * Asks `nodes` for the checks of `parts` in one node-local process each, and keeps every report in
 * `checks`. Rejects naming the nodes whose request failed.
 */
export async function askChecks(ctx: Pick<StepContext, 'kubeconfig' | 'timeoutMs' | 'signal'>, checks: NodeChecks, nodes: readonly ClusterEndpoint[], parts: readonly CheckPart[], phase: string): Promise<void> {
  if (nodes.length === 0 || parts.length === 0) return;
  const sent = parts.map((p) => ({ part: p, check: { spec: p.spec, addon: p.addon, steps: p.steps, nonce: randomBytes(8).toString('hex') } }));
  const [first, ...rest] = sent.map((x) => x.check) as [NodeCheck, ...NodeCheck[]];
  await onNodes(ctx, nodes, { action: 'check', ...first, ...(rest.length ? { checks: rest } : {}) }, phase);
  await keepReports(ctx, checks, nodes.map((n) => n.name), sent);
}

/** Keeps the reports the nodes made for `sent` (read from their Node objects). */
async function keepReports(ctx: Pick<StepContext, 'kubeconfig'>, checks: NodeChecks, names: readonly string[], sent: readonly { part: CheckPart; check: NodeCheck }[]): Promise<void> {
  if (names.length === 0 || sent.length === 0) return;
  const reports = await readReports(ctx, names);
  for (const n of names) {
    for (const { part, check } of sent) {
      const r = reports.get(n)?.find((x) => x.nonce === check.nonce);
      if (r) checks.keep(part.key, n, r);
    }
  }
}

/** A node a fan-out step's check found to change; `handed`: converges handed on to it wait there. */
interface Drifted {
  name: string;
  enabled: boolean;
  report?: NodeCheckReport;
  handed?: boolean;
}

/** One fan-out step after a run of node steps: `part` is its check (the addon's node steps up to here). */
function fanOutStep(addon: PlannedAddon, part: CheckPart, segment: string[], nodes: readonly ClusterEndpoint[], converging: Set<string>, known: ReadonlySet<string>, checks: NodeChecks): Step {
  const { spec, steps } = part;
  const phase = `enable/${addon.name}/other-nodes-${part.index}`;
  let drifted: Drifted[] | undefined;
  return {
    phase,
    kind: 'node-fanout',
    // The nodes report checks under one annotation: checks run one after the other, also in a dry-run.
    checksEarlierSteps: true,
    description: `Node steps ${segment[0]}${segment.length > 1 ? ` … ${segment[segment.length - 1]}` : ''} on ${nodes.map((n) => n.name).join(', ')}, through their cluster agents`,
    async check(ctx): Promise<CheckResult> {
      // A node an earlier fan-out step of this run converged, the addon new there, has not had these
      // steps yet: it converges without a check run of its own (one node-local process instead of two;
      // its converge run checks each step before it changes it). Every other node reports: a report it
      // made since the last change of it or of the cluster counts (src/cluster/node-checks.ts), the
      // others are asked now, with the checks of the fan-out steps right after this one.
      await checks.settled();
      const asked = nodes.filter((n) => !converging.has(n.name) && !checks.valid(part.key, n.name));
      await askChecks(ctx, checks, asked, checks.expand([part, ...checks.chain(part.key)]), phase);
      const lines: string[] = [];
      drifted = [];
      for (const n of nodes) {
        // Converges an earlier fan-out step handed to this one (not run there yet: it runs them first).
        const handed = checks.handedOn(n.name).map((h) => `${h.addon}'s node steps ${h.steps.join(', ')} (handed on by its fan-out step)`);
        if (converging.has(n.name)) {
          drifted.push({ name: n.name, enabled: false, handed: handed.length > 0 });
          lines.push(`${n.name}: ${[...handed, ...segment].join(', ')} (${addon.name} is new there in this run)`);
          continue;
        }
        const r = checks.valid(part.key, n.name);
        if (!r) throw new StepError(`node ${n.name} ran the check but did not report it on its Node object (annotation ${CHECK_ANNOTATION}); see that node's cluster agent log`, { phase });
        if (r.changes.length || handed.length) {
          // Converged before by this node's fan-out (its args through configure only: no journal there), or by its hook.
          drifted.push({ name: n.name, enabled: r.enabled || known.has(n.name), report: r, handed: handed.length > 0 });
          const viaConfigure = (r.args ?? []).map((a) => `${a.service} ${a.to === null ? `-${a.flag}` : `${a.flag}=${a.to}`}`);
          lines.push(`${n.name}: ${[...handed, ...r.changes].join(', ')}${viaConfigure.length ? ` (configure: ${viaConfigure.join(', ')}; restart ${[...new Set((r.args ?? []).map((a) => a.daemon))].join(', ')})` : ''}`);
        }
      }
      if (drifted.length === 0) return { satisfied: true, summary: `${nodes.length} other node(s) as wanted` };
      return { satisfied: false, summary: `would change ${drifted.map((d) => d.name).join(', ')}`, detail: lines.join('\n') };
    },
    async prepare(): Promise<UndoRecord> {
      const d: Drifted[] = drifted ?? nodes.map((n) => ({ name: n.name, enabled: false }));
      // Per node: the args configure changes (with their previous values, journaled before any is sent),
      // and whether the hook run is needed (no report, an older report, steps configure cannot express, or
      // converges handed on to this step).
      const args: Record<string, ArgsRecord[]> = {};
      for (const x of d) if (x.report?.args?.length) args[x.name] = x.report.args.map(({ service, flag, from, to, daemon }) => ({ service, flag, from, to, daemon }));
      const hooked = d.filter((x) => x.handed || x.report?.hook === undefined || x.report.hook.length > 0).map((x) => x.name);
      return { addon: addon.name, spec, nodes: d.map((x) => x.name), fresh: d.filter((x) => !x.enabled).map((x) => x.name), args, hooked };
    },
    async apply(ctx, record) {
      const names = record.nodes as string[];
      const args = record.args as Record<string, ArgsRecord[]>;
      const hooked = record.hooked as string[];
      // A node that needs only the hook run here, when a fan-out step follows with nothing cluster-wide
      // in between, is handed to it: that step runs this converge first, in its own node-local process
      // (one process on the node instead of two; the order on the node is the same). A node with args
      // edits through configure is converged now: `service` runs before any hook run of a later step.
      const handOn = checks.chain(part.key).length ? names.filter((n) => hooked.includes(n) && !args[n]?.length) : [];
      const now = names.filter((n) => !handOn.includes(n));
      const self: NodeRun = { spec, addon: addon.name, steps };
      for (const n of handOn) checks.handOver(n, [...checks.take(n), self]);
      for (const n of now) checks.nodeChanges(n);
      const enable = (before: NodeRun[]): NodeRequest => ({ action: 'enable', ...self, ...(before.length ? { before } : {}) });
      await callNodes(
        ctx,
        nodes.filter((n) => now.includes(n.name)),
        (e) => {
          const taken = checks.take(e.name);
          const service = serviceEntries(args[e.name] ?? [], true);
          // One configure: `service` (args, restarts) is processed before `addon` (the hook run). So with
          // args edits here, the converges handed on to this step go first, in a configure of their own.
          if (service.length && taken.length) {
            const first: NodeRequest = { action: 'enable', ...(taken.at(-1) as NodeRun), ...(taken.length > 1 ? { before: taken.slice(0, -1) } : {}) };
            return [{ addon: [hookEntry(first)] }, { service, addon: hooked.includes(e.name) ? [hookEntry(enable([]))] : [] }];
          }
          // Else they run first in this step's hook run; one of a dependency of this addon, without
          // arguments, is left out: this addon's node-local run plans it the same way and does every node
          // step of it first (cilium's run installs helm3's binary).
          const before = taken.filter((r) => !(part.with.includes(r.addon) && r.spec.length === 1));
          return [{ service, addon: hooked.includes(e.name) ? [hookEntry(enable(before))] : [] }];
        },
        phase,
      );
      for (const f of record.fresh as string[]) if (hooked.includes(f)) converging.add(f);
      ctx.note([...(now.length ? [`converged ${now.join(', ')}`] : []), ...(handOn.length ? [`${handOn.join(', ')}: handed on to the next fan-out step (one node-local run there)`] : [])].join('; '));
    },
    undo: (ctx, record) => undoOnNodes(ctx, record),
  };
}

/**
 * The undo of a fan-out record, per node: the hook's node-local disable where this run first enabled
 * the addon through it, then the args configure changed put back (records written before `hooked` and
 * `args` existed: the disable on every fresh node, as they were applied).
 */
async function undoOnNodes(ctx: StepContext, record: UndoRecord): Promise<boolean> {
  const addon = String(record.addon);
  const hooked = record.hooked as string[] | undefined;
  const disable = (record.fresh as string[]).filter((n) => hooked === undefined || hooked.includes(n));
  const args = (record.args ?? {}) as Record<string, ArgsRecord[]>;
  const names = [...new Set([...disable, ...Object.keys(args).filter((n) => args[n]?.length)])];
  if (names.length === 0) return false;
  const endpoints = await endpointsFor(ctx, names);
  const disableReq: NodeRequest = { action: 'disable', spec: [addon], addon, steps: [] };
  await callNodes(
    ctx,
    endpoints,
    (e) => [...(disable.includes(e.name) ? [{ addon: [hookEntry(disableReq)] }] : []), ...(args[e.name]?.length ? [{ service: undoEntries(args[e.name] as ArgsRecord[]) }] : [])],
    `disable/${addon}/other-nodes`,
  );
  return true;
}

/**
 * `disable ADDON --node NODE`: the addon's node steps undone on `endpoints` only, from what its journaled
 * fan-out steps (`steps`, apply order) did there: the hook's node-local disable (where a hook run did
 * any), then the args configure changed put back, newest first. Resolves the steps without those nodes,
 * for the journal (a later disable does not undo them again; an enable --node converges them again).
 */
export async function undoOnSomeNodes(ctx: Pick<StepContext, 'timeoutMs' | 'signal'>, addon: string, steps: readonly JournalStep[], endpoints: readonly ClusterEndpoint[], phase: string): Promise<JournalStep[]> {
  const fanOuts = steps.filter((s) => s.kind === 'node-fanout');
  const hookRan = (n: string) => fanOuts.length === 0 || fanOuts.some((s) => (s.record.hooked as string[] | undefined)?.includes(n) ?? true);
  const disableReq: NodeRequest = { action: 'disable', spec: [addon], addon, steps: [] };
  await callNodes(
    ctx,
    endpoints,
    (e) => [
      ...(hookRan(e.name) ? [{ addon: [hookEntry(disableReq)] }] : []),
      ...[...fanOuts].reverse().flatMap((s) => {
        const args = (s.record.args as Record<string, ArgsRecord[]> | undefined)?.[e.name];
        return args?.length ? [{ service: undoEntries(args) }] : [];
      }),
    ],
    phase,
  );
  const gone = new Set(endpoints.map((e) => e.name));
  const keep = (v: unknown) => (v as string[]).filter((n) => !gone.has(n));
  return steps.map((s) => {
    if (s.kind !== 'node-fanout') return s;
    const args = Object.fromEntries(Object.entries((s.record.args ?? {}) as Record<string, ArgsRecord[]>).filter(([n]) => !gone.has(n)));
    return { ...s, record: { ...s.record, nodes: keep(s.record.nodes), fresh: keep(s.record.fresh), ...(s.record.hooked ? { hooked: keep(s.record.hooked) } : {}), ...(s.record.args ? { args } : {}) } };
  });
}

/**
 * The addon as this node resolved it, for the other nodes: flag style (a value may hold `:`, as IPv6
 * servers do), the exact version. Flag-only options (`--set`, `-f FILE`) stay here: they shape the
 * cluster-wide release, and a file named here is not on the other nodes.
 */
export function nodeSpec(addon: PlannedAddon, manifest: Pick<AddonManifest, 'arguments'>): string[] {
  const words = [addon.name];
  for (const a of manifest.arguments) {
    const value = a.type === 'version' ? (addon.version ?? undefined) : addon.args[a.name];
    if (value === undefined || value === false) continue;
    words.push(...(value === true ? [a.flag] : [a.flag, String(value)]));
  }
  return words;
}

/** The undo side of the kind, for records in the journal (rollback, crash recovery, disable, reset). */
export const NODE_FANOUT_KIND: StepKindImpl = {
  kind: 'node-fanout',
  create() {
    throw new StepError('node-fanout steps are made by the fan-out, not by a manifest');
  },
  undo: undoOnNodes,
};

/**
 * The addon's built steps with a fan-out step after each run of node steps (`built[i]` is
 * `addon.steps[i]`); unchanged when there are no other nodes. `known`: the nodes the addon's journaled
 * fan-out steps converged (`fanOutNodes`), where the addon is not new. `checks`: the run's node checks
 * (src/cluster/node-checks.ts), told when a cluster-wide step is about to change the cluster.
 */
export function withFanOut(addon: PlannedAddon, built: Step[], nodes: readonly ClusterEndpoint[], checks: NodeChecks, known: ReadonlySet<string> = new Set()): Step[] {
  if (nodes.length === 0) return built;
  const parts = checks.plan.parts.filter((p) => p.addon === addon.name);
  const out: Step[] = [];
  let segment: string[] = [];
  // Nodes where this run's fan-out steps enabled the addon (shared by the addon's fan-out steps of this run).
  const converging = new Set<string>();
  for (const [i, step] of built.entries()) {
    const planned = addon.steps[i];
    if (planned?.node) {
      out.push(step);
      segment.push(planned.name);
    } else {
      out.push({ ...step, apply: (ctx, record) => (checks.clusterChanges(), step.apply(ctx, record)) });
    }
    const next = addon.steps[i + 1];
    if (segment.length && !next?.node) {
      const part = parts.shift();
      if (!part) throw new InternalError(`fan-out: the plan has no fan-out step of ${addon.name} after ${planned?.name ?? i}`);
      out.push(fanOutStep(addon, part, segment, nodes, converging, known, checks));
      segment = [];
    }
  }
  return out;
}
