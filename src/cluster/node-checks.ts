/**
 * The other nodes' checks of one run, asked as few times as the guarantees allow (issue 17, item 5: each
 * node-local process costs a round of ~150-250 ms: the agent, the wrappers, a Node start, a PATCH).
 *
 * A fan-out step is satisfied or not by the check reports of the other nodes (src/cluster/fan-out.ts). A
 * report says how a node is NOW; it stays true until something changes that node. Within one run only
 * two things do: this run's fan-out converges of that node, and this run's cluster-wide steps (a Helm
 * release, a wait that had to wait, a kube apply: what a node's check reads through the API). This node's
 * own node steps change only this node. So a report is taken as the step's check when it was made after
 * the last change of either sort (`epochs`); otherwise the node is asked again.
 *
 * That lets a node answer several checks in one process, with nothing weaker than asking each in turn:
 * - a check request carries every part (fan-out step) of the run that could still use it: at the start of
 *   the run, side by side with the addons' hooks and renders, the parts before the plan's first
 *   cluster-wide step (`leading`: nothing can change a node before them); at a fan-out step, this part and
 *   the parts adjacent after it (`chain`); each time with the later parts of the same addons (`expand`:
 *   the same dry-run on the node, and what a re-run that changes nothing uses);
 * - a node that needs only the hook run in a fan-out step is handed to the adjacent next one (`handOver`),
 *   which runs that converge first in its own hook run: nothing is sent to the node in between, so its
 *   reports stay valid (helm3's binary, then cilium's args, files and flannel: one process, not two).
 * Parts are adjacent when only node steps lie between them in the plan (this node's own, then the next
 * fan-out): nothing cluster-wide in between.
 *
 * Pure planning (`planFanOuts`) and an in-memory store (`NodeChecks`); the requests go through
 * src/cluster/fan-out.ts.
 */
import type { PlannedAddon } from '../planner.js';
import type { NodeCheckReport } from './node-report.js';
import type { NodeRun } from './payload.js';

/** One fan-out step's check, as a node runs it: the addon's node steps up to that step. */
export interface CheckPart {
  /** `ADDON#INDEX`: the addon's INDEX-th fan-out step (`enable/ADDON/other-nodes-INDEX`). */
  key: string;
  index: number;
  addon: string;
  /** The addon as this node resolved it, for the other nodes (src/cluster/fan-out.ts `nodeSpec`). */
  spec: string[];
  steps: string[];
  /** The other addons whose node steps a node-local run of this addon does too (its dependencies, all of them). */
  with: string[];
}

export interface FanOutPlan {
  /** Every fan-out step of the plan, in plan order. */
  parts: CheckPart[];
  /** By key: the parts after it with only node steps in between (nothing cluster-wide). */
  chains: Map<string, CheckPart[]>;
  /** The parts before the plan's first cluster-wide step: nothing can change a node before them. */
  leading: CheckPart[];
}

/**
 * The fan-out steps a plan makes on a cluster (one after each run of an addon's node steps) and which
 * follow one another with nothing cluster-wide in between. Pure.
 */
export function planFanOuts(addons: readonly PlannedAddon[], specOf: (addon: PlannedAddon) => string[], requires: (name: string) => readonly string[] = () => []): FanOutPlan {
  const closure = (name: string, seen = new Set<string>()): Set<string> => {
    for (const d of requires(name)) if (!seen.has(d)) closure(d, seen.add(d));
    return seen;
  };
  const parts: CheckPart[] = [];
  const chains = new Map<string, CheckPart[]>();
  let leading: CheckPart[] | undefined;
  // The parts since the last cluster-wide step: each later one joins the chain of each earlier one.
  let open: CheckPart[] = [];
  for (const addon of addons) {
    const spec = specOf(addon);
    const sofar: string[] = [];
    let index = 0;
    for (const [i, step] of addon.steps.entries()) {
      if (!step.node) {
        leading ??= [...parts];
        open = [];
        continue;
      }
      sofar.push(step.name);
      if (addon.steps[i + 1]?.node) continue;
      const part: CheckPart = { key: `${addon.name}#${++index}`, index, addon: addon.name, spec, steps: [...sofar], with: [...closure(addon.name)] };
      for (const earlier of open) chains.get(earlier.key)?.push(part);
      chains.set(part.key, []);
      open.push(part);
      parts.push(part);
    }
  }
  return { parts, chains, leading: leading ?? [...parts] };
}

interface Held {
  report: NodeCheckReport;
  cluster: number;
  node: number;
}

/**
 * The reports the other nodes gave in this run, and what changed since. In memory, for one run: a report
 * is never kept across runs (the next run asks again).
 */
export class NodeChecks {
  private cluster = 0;
  private readonly node = new Map<string, number>();
  private readonly held = new Map<string, Held>();
  /** By node: converges handed to the next fan-out step (in order), not run yet. */
  private readonly handed = new Map<string, NodeRun[]>();
  /** The check sent at the start of the run, if any: a fan-out step's check waits for it first. */
  private ahead: Promise<void> = Promise.resolve();

  constructor(readonly plan: FanOutPlan) {}

  /** A cluster-wide step is about to change the cluster: every report so far is out of date. */
  clusterChanges(): void {
    this.cluster++;
  }

  /** A converge is about to change `node`: its reports so far are out of date. */
  nodeChanges(node: string): void {
    this.node.set(node, (this.node.get(node) ?? 0) + 1);
  }

  /** Keeps `report` (a node's answer to part `key`, made now). */
  keep(key: string, nodeName: string, report: NodeCheckReport): void {
    this.held.set(`${key}\n${nodeName}`, { report, cluster: this.cluster, node: this.node.get(nodeName) ?? 0 });
  }

  /** The report `node` gave for part `key` when nothing changed it since, else undefined. */
  valid(key: string, nodeName: string): NodeCheckReport | undefined {
    const h = this.held.get(`${key}\n${nodeName}`);
    return h && h.cluster === this.cluster && h.node === (this.node.get(nodeName) ?? 0) ? h.report : undefined;
  }

  /**
   * Hands `runs` on `node` to the next fan-out step: it runs them there first, in the same node-local
   * process as its own converge. Nothing changed the node yet, so its reports stay as they are.
   */
  handOver(nodeName: string, runs: readonly NodeRun[]): void {
    this.handed.set(nodeName, [...(this.handed.get(nodeName) ?? []), ...runs]);
  }

  /** The converges handed to the fan-out step now running, on `node` (left with it). */
  handedOn(nodeName: string): NodeRun[] {
    return this.handed.get(nodeName) ?? [];
  }

  /** Takes them: the step runs them now (or hands them on). */
  take(nodeName: string): NodeRun[] {
    const runs = this.handedOn(nodeName);
    this.handed.delete(nodeName);
    return runs;
  }

  /** The parts adjacent after `key` (checked in the same process as it; handed converges go to the first). */
  chain(key: string): CheckPart[] {
    return this.plan.chains.get(key) ?? [];
  }

  /**
   * What to ask along with `parts`: also the later parts of the same addons. A node checks an addon's
   * parts in one dry-run (each is the addon's node steps up to it), so they cost next to nothing there, and
   * in a run where nothing changes in between (a re-run) they are the later steps' checks.
   */
  expand(parts: readonly CheckPart[]): CheckPart[] {
    const addons = new Set(parts.map((p) => p.addon));
    const from = Math.min(...parts.map((p) => this.plan.parts.indexOf(p)));
    return this.plan.parts.filter((q, i) => parts.includes(q) || (i >= from && addons.has(q.addon)));
  }

  /** Records the check sent at the start (its failure is not the run's: the steps ask again). */
  startedAhead(p: Promise<void>): void {
    this.ahead = p.catch(() => undefined);
  }

  settled(): Promise<void> {
    return this.ahead;
  }
}
