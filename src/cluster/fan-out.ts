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
 *   node where an earlier fan-out step of this run enabled the addon is not asked again (it converges:
 *   its converge run checks each step before it changes it), one node-local process per step, not two;
 * - apply: the drifted nodes, in parallel, converge (node-local enable of the steps so far: each node
 *   checks before it changes, journals in its own journal, restarts only what changed, and rolls its own
 *   run back when a step fails there); a node that fails or cannot be reached fails the step, naming it;
 * - undo (rollback, disable, reset): node-local disable of the addon on the nodes where this run first
 *   enabled it (each undoes from its own journal: exact and idempotent). Nodes that had the addon before
 *   the run keep their converged node steps.
 *
 * A real run (not --dry-run) folds the check into the converge (`converged`, below): the converge run on
 * each node checks every step before it changes it anyway, so the step asks no node first; each node
 * reports what it changed and whether it had the addon, and the record is completed from the reports.
 * Until then (a crash, a node failing mid-way) the record is `pending`: its undo asks the nodes not known
 * to be new to undo only what this run (`run`) enabled there, which each node remembered before changing.
 */
import { randomBytes } from 'node:crypto';
import type { PlannedAddon } from '../planner.js';
import type { AddonManifest } from '../catalogue.js';
import type { Step, StepContext, UndoRecord, CheckResult } from '../engine/step.js';
import type { StepKindImpl } from '../engine/kinds/types.js';
import { StepError } from '../errors.js';
import { configureNode, type ClusterEndpoint } from '../adapters/cluster-agent.js';
import { discoverCluster } from './nodes.js';
import { encodeNodeRequest, NODE_ADDON, type NodeRequest } from './payload.js';

/** The annotation a node reports a check under. */
export const CHECK_ANNOTATION = 'mk8s-addons.io/node-check';

/** What a node reports after a check. */
export interface NodeCheckReport {
  nonce: string;
  /** Whether the addon is in this node's journal. */
  enabled: boolean;
  /** Phases that would change (empty: the node is as wanted). */
  changes: string[];
}

/** How long a node may take for one node-local run (its own hook does the addon's reads too). */
const nodeTimeout = (ctx: Pick<StepContext, 'timeoutMs'>) => Math.max(60_000, ctx.timeoutMs);

async function endpointsFor(ctx: StepContext, names: readonly string[]): Promise<ClusterEndpoint[]> {
  const view = await discoverCluster(ctx.paths, { kubeconfig: ctx.kubeconfig });
  return names.map((n) => view.others.find((o) => o.name === n) ?? { name: n, host: n, port: 25000, token: '' });
}

/** Runs `req` on each node in parallel; rejects naming every node that failed (the first one's reason). */
export async function onNodes(ctx: Pick<StepContext, 'timeoutMs' | 'signal'>, nodes: readonly ClusterEndpoint[], req: NodeRequest, phase: string): Promise<void> {
  const results = await Promise.allSettled(nodes.map((e) => configureNode(e, { addon: [{ name: encodeNodeRequest(req), enable: true }] }, { timeoutMs: nodeTimeout(ctx), signal: ctx.signal })));
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

export async function readReports(ctx: StepContext, names: readonly string[]): Promise<Map<string, NodeCheckReport | undefined>> {
  const { connectHttp } = await import('../adapters/kube-http.js');
  const kube = await connectHttp(ctx.kubeconfig);
  const out = new Map<string, NodeCheckReport | undefined>();
  await Promise.all(
    names.map(async (n) => {
      const r = await kube.request<{ metadata?: { annotations?: Record<string, string> } }>('GET', `/api/v1/nodes/${encodeURIComponent(n)}`);
      const text = r.status === 200 ? r.body.metadata?.annotations?.[CHECK_ANNOTATION] : undefined;
      try {
        out.set(n, text ? (JSON.parse(text) as NodeCheckReport) : undefined);
      } catch {
        out.set(n, undefined);
      }
    }),
  );
  return out;
}

/** One fan-out step after a run of node steps: `steps` are the addon's node steps up to here. */
function fanOutStep(addon: PlannedAddon, spec: string[], index: number, steps: string[], segment: string[], nodes: readonly ClusterEndpoint[], converging: Set<string>, direct?: { run: string }): Step {
  const phase = `enable/${addon.name}/other-nodes-${index}`;
  let drifted: { name: string; enabled: boolean }[] | undefined;
  const step: Step = {
    phase,
    kind: 'node-fanout',
    // The nodes report checks under one annotation: checks run one after the other, also in a dry-run.
    checksEarlierSteps: true,
    description: `Node steps ${segment[0]}${segment.length > 1 ? ` … ${segment[segment.length - 1]}` : ''} on ${nodes.map((n) => n.name).join(', ')}, through their cluster agents`,
    async check(ctx): Promise<CheckResult> {
      // A node an earlier fan-out step of this run converged, the addon new there, has not had these
      // steps yet: it converges without a check run of its own (one node-local process instead of two;
      // its converge run checks each step before it changes it). Every other node is asked.
      const asked = nodes.filter((n) => !converging.has(n.name));
      const nonce = randomBytes(8).toString('hex');
      if (asked.length) await onNodes(ctx, asked, { action: 'check', spec, addon: addon.name, steps, nonce }, phase);
      const reports = asked.length ? await readReports(ctx, asked.map((n) => n.name)) : new Map<string, NodeCheckReport | undefined>();
      const lines: string[] = [];
      drifted = [];
      for (const n of nodes) {
        if (converging.has(n.name)) {
          drifted.push({ name: n.name, enabled: false });
          lines.push(`${n.name}: ${segment.join(', ')} (${addon.name} is new there in this run)`);
          continue;
        }
        const r = reports.get(n.name);
        if (!r || r.nonce !== nonce) throw new StepError(`node ${n.name} ran the check but did not report it on its Node object (annotation ${CHECK_ANNOTATION}); see that node's cluster agent log`, { phase });
        if (r.changes.length) {
          drifted.push({ name: n.name, enabled: r.enabled });
          lines.push(`${n.name}: ${r.changes.join(', ')}`);
        }
      }
      if (drifted.length === 0) return { satisfied: true, summary: `${nodes.length} other node(s) as wanted` };
      return { satisfied: false, summary: `would change ${drifted.map((d) => d.name).join(', ')}`, detail: lines.join('\n') };
    },
    async prepare(): Promise<UndoRecord> {
      const d = drifted ?? nodes.map((n) => ({ name: n.name, enabled: false }));
      return { addon: addon.name, spec, nodes: d.map((x) => x.name), fresh: d.filter((x) => !x.enabled).map((x) => x.name) };
    },
    async apply(ctx, record) {
      const names = record.nodes as string[];
      await onNodes(ctx, nodes.filter((n) => names.includes(n.name)), { action: 'enable', spec, addon: addon.name, steps }, phase);
      for (const f of record.fresh as string[]) converging.add(f);
      ctx.note(`converged ${names.join(', ')}`);
    },
    undo: (ctx, record) => undoOnNodes(ctx, record),
  };
  return direct ? converged(step, { addon: addon.name, spec, steps, nodes, converging, run: direct.run }) : step;
}

/**
 * A real run's fan-out step (see the module comment): no node is asked before; the converge reports.
 * The record is journaled `pending` with the run's id, then completed from the nodes' reports: `fresh`,
 * the nodes that did not have the addon. Resolves false when no node changed anything.
 */
function converged(step: Step, p: { addon: string; spec: string[]; steps: string[]; nodes: readonly ClusterEndpoint[]; converging: Set<string>; run: string }): Step {
  const names = p.nodes.map((n) => n.name);
  return {
    ...step,
    async check() {
      return { satisfied: false, summary: `converge ${names.join(', ')} (each node checks its steps before it changes them)` };
    },
    async prepare() {
      return { addon: p.addon, spec: p.spec, nodes: names, fresh: names.filter((n) => p.converging.has(n)), pending: true, run: p.run };
    },
    async apply(ctx, record) {
      const nonce = randomBytes(8).toString('hex');
      await onNodes(ctx, p.nodes, { action: 'enable', spec: p.spec, addon: p.addon, steps: p.steps, nonce, run: p.run }, step.phase);
      const reports = await readReports(ctx, names);
      const fresh = new Set(record.fresh as string[]);
      const changed: string[] = [];
      for (const n of names) {
        const r = reports.get(n);
        if (!r || r.nonce !== nonce) throw new StepError(`node ${n} converged but did not report it on its Node object (annotation ${CHECK_ANNOTATION}); see that node's cluster agent log`, { phase: step.phase });
        if (!r.enabled) fresh.add(n);
        if (r.changes.length) changed.push(n);
      }
      record.fresh = [...fresh];
      delete record.pending;
      delete record.run;
      for (const f of fresh) p.converging.add(f);
      ctx.note(changed.length ? `converged ${changed.join(', ')}` : `${names.length} other node(s) as wanted`);
      return changed.length > 0;
    },
  };
}

async function undoOnNodes(ctx: StepContext, record: UndoRecord): Promise<boolean> {
  const fresh = record.fresh as string[];
  // A pending record (its converge did not report): the other nodes undo only what this run enabled there.
  const unsure = record.pending ? (record.nodes as string[]).filter((n) => !fresh.includes(n)) : [];
  if (fresh.length === 0 && unsure.length === 0) return false;
  const addon = String(record.addon);
  const phase = `disable/${addon}/other-nodes`;
  if (fresh.length) await onNodes(ctx, await endpointsFor(ctx, fresh), { action: 'disable', spec: [addon], addon, steps: [] }, phase);
  if (unsure.length) await onNodes(ctx, await endpointsFor(ctx, unsure), { action: 'disable', spec: [addon], addon, steps: [], run: String(record.run) }, phase);
  return true;
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
 * `addon.steps[i]`); unchanged when there are no other nodes or no node steps.
 */
export function withFanOut(addon: PlannedAddon, built: Step[], nodes: readonly ClusterEndpoint[], manifest: Pick<AddonManifest, 'arguments'>, opts: { dryRun: boolean } = { dryRun: true }): Step[] {
  const spec = nodeSpec(addon, manifest);
  if (nodes.length === 0) return built;
  const out: Step[] = [];
  const sofar: string[] = [];
  let segment: string[] = [];
  let index = 0;
  // Nodes where this run's fan-out steps enabled the addon (shared by the addon's fan-out steps of this run).
  const converging = new Set<string>();
  // A real run converges without asking first (`converged`); one id for the addon's fan-out steps of this run.
  const direct = opts.dryRun ? undefined : { run: randomBytes(8).toString('hex') };
  for (const [i, step] of built.entries()) {
    const planned = addon.steps[i];
    out.push(step);
    if (planned?.node) {
      sofar.push(planned.name);
      segment.push(planned.name);
    }
    const next = addon.steps[i + 1];
    if (segment.length && !next?.node) {
      out.push(fanOutStep(addon, spec, ++index, [...sofar], segment, nodes, converging, direct));
      segment = [];
    }
  }
  return out;
}
