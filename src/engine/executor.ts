/**
 * The step executor: runs built steps through their verbs (check, then prepare / apply with the record
 * journaled ahead by a StepRecorder; undo from a record), reports one event per step, coalesces the
 * service restarts steps ask for, and knows which phase is running (for notes and errors). It knows no
 * Listr (src/engine/tasks.ts shows what it does) and no journal file (src/engine/recorder.ts records).
 * `executeSteps` is the whole of it for one node: a list of built steps and a recorder.
 */
import type { PlannedAddon } from '../planner.js';
import type { CheckResult, Step, StepContext } from './step.js';
import type { OperationStep } from './journal.js';
import type { EventSink } from '../output/events.js';
import type { StepRecorder } from './recorder.js';
import { kindImpl } from './kinds/index.js';
import { StepError } from '../errors.js';
import { daemonFor } from '../node/node.js';
import { printCommand } from '../adapters/process.js';

/** The step context minus the parts the executor owns (restarts, notes). */
export type BaseStepContext = Omit<StepContext, 'requestRestart' | 'pendingRestarts' | 'flushRestarts' | 'countService' | 'note'>;

export interface RunStats {
  /** Steps that changed the node (applied or undone). */
  changed: number;
  /** Service restarts by daemon. */
  restarts: Record<string, number>;
}

export interface ExecutorOptions {
  base: BaseStepContext;
  sink: EventSink;
  dryRun: boolean;
  /** Counters the run updates as it goes (also valid after a failure). */
  stats: RunStats;
  /** Test-only: MK8S_ADDONS_CRASH_AT=<phase>[:before|:after] kills the process there (crash-safety tests). */
  crashAt?: string;
}

/** A step of the plan, built, with the addon it belongs to. */
export interface BuiltStep {
  addon: PlannedAddon;
  step: Step;
}

/** What running one step came to: its line's text. */
export interface StepOutcome {
  status: 'skipped' | 'would-change' | 'done';
  /** One line (the check's summary). */
  summary: string;
  /** For --dry-run: the diff or commands. */
  detail?: string;
  /** Whether the node changed (an applied step that does not only observe). */
  changed: boolean;
}

export class Executor {
  /** Daemons asked to restart, with the reasons. */
  readonly pending = new Map<string, string[]>();
  readonly ctx: StepContext;
  /** A dry-run's checks, started early (side by side), by step. */
  private readonly early = new Map<Step, Promise<CheckResult>>();
  private current: string;

  constructor(
    readonly opts: ExecutorOptions,
    phase: string,
  ) {
    this.current = phase;
    this.ctx = {
      ...opts.base,
      requestRestart: (service, reason) => {
        const daemon = daemonFor(service, opts.base.layout);
        this.pending.set(daemon, [...(this.pending.get(daemon) ?? []), reason]);
      },
      pendingRestarts: () => [...this.pending.keys()],
      flushRestarts: () => this.flush(),
      countService: (action, daemon) => {
        if (action === 'restart') opts.stats.restarts[daemon] = (opts.stats.restarts[daemon] ?? 0) + 1;
      },
      note: (message) => opts.sink.note(this.current, message),
    };
  }

  /** The phase running now (notes and errors name it). */
  get phase(): string {
    return this.current;
  }

  enter(phase: string): void {
    this.current = phase;
  }

  get stats(): RunStats {
    return this.opts.stats;
  }

  /** Test-only crash injection: SIGKILL at a step boundary when MK8S_ADDONS_CRASH_AT names it. */
  crashIfAsked(phase: string, when: 'before' | 'after'): void {
    if (!this.opts.crashAt) return;
    const [p, w = 'before'] = this.opts.crashAt.split(':');
    if (p === phase && w === when) process.kill(process.pid, 'SIGKILL');
  }

  /**
   * Restarts each pending daemon once, whatever number of steps asked for it. `onlyActive` leaves a
   * stopped daemon stopped (reset); `say` words the note (default `restarted DAEMON`).
   */
  async flush(signal: AbortSignal = this.ctx.signal, options: { onlyActive?: boolean; phase?: string; say?: (daemon: string, reasons: readonly string[]) => string } = {}): Promise<void> {
    for (const [daemon, reasons] of [...this.pending.entries()]) {
      this.pending.delete(daemon);
      if (this.opts.dryRun) continue;
      if (options.onlyActive && !(await this.ctx.services.isActive(daemon))) continue;
      await this.ctx.services.act('restart', daemon, { signal, env: this.ctx.env });
      this.ctx.countService('restart', daemon);
      this.opts.sink.note(options.phase ?? this.current, options.say ? options.say(daemon, reasons) : `restarted ${daemon}`);
    }
  }

  /**
   * A dry-run changes nothing, so the checks that read only the node start as soon as their addon is
   * built (side by side with each other and with the next addon's hook); results are reported in order.
   */
  checkEarly(steps: readonly Step[]): void {
    if (!this.opts.dryRun) return;
    for (const step of steps) {
      if (step.checksEarlierSteps) continue;
      const result = step.check(this.ctx);
      result.catch(() => undefined);
      this.early.set(step, result);
    }
  }

  /**
   * One step: checked; satisfied, it is skipped; in a dry-run, said what would change; else prepared,
   * its record journaled ahead by `recorder`, applied, recorded as applied, and its restarts asked for.
   */
  async executeStep({ addon, step }: BuiltStep, recorder: StepRecorder): Promise<StepOutcome> {
    const { sink } = this.opts;
    const phase = step.phase;
    this.enter(phase);
    if (this.ctx.signal.aborted) throw new StepError('interrupted', { phase });
    sink.step({ phase, status: 'started', changed: false });
    const check = await (this.early.get(step) ?? step.check(this.ctx));
    if (check.satisfied) {
      sink.step({ phase, status: 'skipped', changed: false, summary: check.summary });
      return { status: 'skipped', summary: check.summary, changed: false };
    }
    if (this.opts.dryRun) {
      for (const s of step.restarts ?? []) this.ctx.requestRestart(s, phase);
      // The commands apply would run, printed from the same tuples.
      const commands = (check.commands ?? []).map((c) => printCommand(c));
      sink.step({ phase, status: 'would-change', changed: false, summary: check.summary, ...(check.detail ? { detail: check.detail } : {}), ...(commands.length ? { commands } : {}), ...(check.args ? { args: check.args } : {}) });
      const detail = [...(check.detail ? [check.detail] : []), ...commands.map((c) => `$ ${c}`)].join('\n');
      return { status: 'would-change', summary: check.summary, ...(detail ? { detail } : {}), changed: false };
    }
    const record = await step.prepare(this.ctx);
    const entry = await recorder.applying(addon.name, step, record, this.ctx);
    this.crashIfAsked(phase, 'before');
    const did = await step.apply(this.ctx, record);
    await recorder.applied(entry);
    this.crashIfAsked(phase, 'after');
    if (did !== false) for (const s of step.restarts ?? []) this.ctx.requestRestart(s, phase);
    // A wait changed nothing, whether or not it had to wait; nor did an apply that found nothing to change.
    const changed = !step.observes && did !== false;
    if (changed) this.opts.stats.changed++;
    sink.step({ phase, status: 'done', changed, summary: check.summary });
    return { status: 'done', summary: check.summary, changed };
  }

  /** Runs steps in order, then the restarts still pending (what a per-node fan-out calls). */
  async executeSteps(steps: readonly BuiltStep[], recorder: StepRecorder): Promise<StepOutcome[]> {
    const out: StepOutcome[] = [];
    for (const s of steps) out.push(await this.executeStep(s, recorder));
    await this.flush();
    return out;
  }

  /**
   * Undoes one journaled step from its record alone, reported under `phase`; `recorded` records it undone
   * (before it is reported). Resolves whether the node changed (false: nothing to put back).
   */
  async undoStep(s: OperationStep, phase: string, recorded: () => Promise<void>): Promise<boolean> {
    this.enter(phase);
    const did = await kindImpl(s.kind).undo(this.ctx, s.record);
    await recorded();
    if (did !== false) this.opts.stats.changed++;
    this.opts.sink.step({ phase, status: did === false ? 'skipped' : 'undone', changed: did !== false });
    return did !== false;
  }
}
