/**
 * The step model. Every change mk8s-addons makes to a node is a Step with three verbs:
 * - check: read-only; is the node already as wanted, and what would change (for --dry-run);
 * - apply: makes the change. Before it runs, `prepare` computes the undo record, which the engine writes
 *   to the journal *ahead* of the mutation, so a run killed mid-step can be undone by the next run;
 * - undo: puts back exactly what apply changed, from the record. Idempotent: undoing twice, or undoing a
 *   step whose apply never happened, leaves the node as it was before apply.
 * Dry-run, idempotent re-runs, rollback, disable and reset all come from these verbs, run by one engine.
 */
import type { StepKind } from '../catalogue.js';
import type { SnapPaths } from '../node/node.js';
import type { Layout } from '../planner.js';
import type { ServiceManager } from './services.js';
import type { Command, RunOptions, RunResult } from '../adapters/process.js';

/** JSON-serialisable data a step needs to undo itself (stored in the journal). */
export type UndoRecord = { [key: string]: unknown };

export interface CheckResult {
  /** True when the node is already as the step wants it: apply would change nothing. */
  satisfied: boolean;
  /** One line: what is, or what would change. */
  summary: string;
  /** Optional detail for --dry-run: a unified diff, before/after lines, commands. */
  detail?: string;
  /**
   * The processes apply would run, as `[file, args]` tuples built by the same functions apply uses:
   * --dry-run prints them (`commands` of the JSON event, `$ ...` lines otherwise).
   */
  commands?: Command[];
  /**
   * An args-flag step: the service, the flag and the value it would set (null: the flag removed), so a
   * node-local check can report it for `configure` (src/cluster/configure-args.ts).
   */
  args?: { service: string; flag: string; to: string | null };
}

/** What steps may touch: the narrow view of the run they get (no globals, no CLI). */
export interface StepContext {
  paths: SnapPaths;
  layout: Layout;
  services: ServiceManager;
  /** Cancelled on SIGINT / SIGTERM: pass it to every child process. */
  signal: AbortSignal;
  /** Environment for processes that talk to the cluster or start services (proxy variables removed). */
  env: NodeJS.ProcessEnv;
  /** Runs a process from a tuple (the one door to the outside for steps that run commands). */
  run(cmd: Command, opts?: RunOptions): Promise<RunResult>;
  /** Asks for a service restart; the engine coalesces them into one per service per run. */
  requestRestart(service: string, reason: string): void;
  /** Daemons with a restart asked for and not yet done. */
  pendingRestarts(): string[];
  /** Restarts each pending daemon once. */
  flushRestarts(): Promise<void>;
  /** Counts a service action for the result line (`restarts`). */
  countService(action: 'start' | 'stop' | 'restart', daemon: string): void;
  /** An `ip` command for the node's network namespace (a sandbox's own, or the host's). */
  ipCommand(args: readonly string[]): Command;
  /** Any tool run in the node's network namespace (`ip netns exec NS ...` on a sandbox; as it is on a host). */
  netCommand(cmd: Command): Command;
  /** The node's BPF filesystem (/sys/fs/bpf on a host; a sandbox's own instance). */
  bpffs: string;
  /** Records a line of output for the user (shown under the step). */
  note(message: string): void;
  /** Kubeconfig for the cluster (default $SNAP_DATA/credentials/client.config). */
  kubeconfig: string;
  /** Timeout for waits, in ms. */
  timeoutMs: number;
}

export interface Step {
  /** Stable hierarchical name, e.g. `enable/cilium/flannel-lock`. */
  readonly phase: string;
  readonly kind: StepKind;
  readonly description: string;
  /** Logical services (kube-apiserver, kubelet, containerd, ...) to restart when apply changed something. */
  readonly restarts?: readonly string[];
  /** True for steps that only wait or look (a rollout wait): applying them changes nothing on the node. */
  readonly observes?: boolean;
  /**
   * True when check reads what earlier steps of the run asked for (the pending restarts), so a dry-run
   * checks it in order, after them. Every other check reads only the node, which a dry-run does not
   * change, so a dry-run runs those checks side by side.
   */
  readonly checksEarlierSteps?: boolean;
  /** Node files apply may change (absolute paths), snapshotted once for `reset`. */
  touches?(ctx: StepContext): string[] | Promise<string[]>;
  check(ctx: StepContext): Promise<CheckResult>;
  /** Read-only: the record undo will need; journaled before apply runs. */
  prepare(ctx: StepContext): Promise<UndoRecord>;
  /**
   * Makes the change; may fill in `record` (saved with the step as applied). Resolves false when it found
   * nothing to change after all (a step whose check cannot see the node, e.g. the cluster fan-out's
   * converge, whose nodes check each step themselves): reported done, not counted as a change, no restart.
   */
  apply(ctx: StepContext, record: UndoRecord): Promise<boolean | void>;
  undo(ctx: StepContext, record: UndoRecord): Promise<boolean | void>;
}
