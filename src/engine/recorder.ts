/**
 * The journal's recording for a run: what the engine writes, and when. Ahead of every mutation the step's
 * undo record is appended to the operation (state `applying`) and saved; after it, marked `applied`;
 * after every undo the step leaves the operation. The operation is opened with the first change, so a
 * run that changes nothing writes nothing. Holds the one in-memory journal of a run.
 */
import path from 'node:path';
import type { PlannedAddon } from '../planner.js';
import type { StepKind } from '../catalogue.js';
import type { Step, StepContext, UndoRecord } from './step.js';
import { fileState } from '../adapters/fs.js';
import { loadJournal, mergeSteps, saveJournal, type Journal, type Operation, type OperationStep } from './journal.js';

/** What the step executor records around an apply (a fan-out records per node with its own). */
export interface StepRecorder {
  /** Before apply: the files the step touches are snapshotted, its undo record journaled as `applying`. */
  applying(addon: string, step: Step, record: UndoRecord, ctx: StepContext): Promise<OperationStep>;
  /** After apply: the step is `applied`. */
  applied(entry: OperationStep): Promise<void>;
}

export class JournalRecorder implements StepRecorder {
  private constructor(
    readonly snapData: string,
    readonly journal: Journal,
    private readonly commandLine: string,
  ) {}

  static async load(snapData: string, commandLine: string): Promise<JournalRecorder> {
    return new JournalRecorder(snapData, await loadJournal(snapData), commandLine);
  }

  save(): Promise<void> {
    return saveJournal(this.snapData, this.journal);
  }

  /** Saves; a failure (a full disk) is returned, not thrown: undos go on, they are idempotent. */
  async trySave(): Promise<unknown> {
    try {
      await this.save();
      return undefined;
    } catch (err) {
      return err;
    }
  }

  /** The operation of this run, opened on first use. */
  private open(type: Operation['type']): Operation {
    this.journal.operation ??= { type, pid: process.pid, command: this.commandLine, startedAt: new Date().toISOString(), steps: [] };
    return this.journal.operation;
  }

  async applying(addon: string, step: Step, record: UndoRecord, ctx: StepContext): Promise<OperationStep> {
    await this.snapshotTouched(step, ctx);
    const entry: OperationStep = { phase: step.phase, kind: step.kind as StepKind, addon, record, state: 'applying' };
    this.open('enable').steps.push(entry);
    await this.save();
    return entry;
  }

  async applied(entry: OperationStep): Promise<void> {
    entry.state = 'applied';
    // A step may have run mk8s-addons itself (a nested invocation under our lock): take what it recorded.
    const disk = await loadJournal(this.snapData);
    this.journal.addons = disk.addons;
    for (const [rel, st] of Object.entries(disk.snapshot)) if (!(rel in this.journal.snapshot)) this.journal.snapshot[rel] = st;
    await this.save();
  }

  /** Node files a step may change, as they were before mk8s-addons first changed them (for reset). */
  private async snapshotTouched(step: Step, ctx: StepContext): Promise<void> {
    if (!step.touches) return;
    for (const file of await step.touches(ctx)) {
      const rel = path.relative(ctx.paths.snapData, file);
      if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
      if (!(rel in this.journal.snapshot)) this.journal.snapshot[rel] = await fileState(file);
    }
  }

  /** Opens an operation of undos (disable, reset): interrupted, the next run finishes it. Saved. */
  async openUndo(type: 'disable' | 'reset', steps: readonly OperationStep[], addons: readonly string[]): Promise<void> {
    this.journal.operation = { type, pid: process.pid, command: this.commandLine, startedAt: new Date().toISOString(), steps: [...steps], addons: [...addons] };
    await this.save();
  }

  /**
   * A step leaves the operation (not saved: see `undone`). `restarts`: the daemons asked to restart and not
   * restarted yet (this undo's included), recorded with it, so that a run killed before the restarts does
   * not lose them.
   */
  drop(step: OperationStep, restarts: readonly string[]): void {
    const op = this.journal.operation;
    if (!op) return;
    op.steps = op.steps.filter((x) => x !== step && !(x.phase === step.phase && x.addon === step.addon));
    if (restarts.length > 0) op.restarts = [...restarts];
    else delete op.restarts;
  }

  /** A step of the operation is undone: it leaves the operation, with the restarts still owed; saved. */
  async undone(step: OperationStep, restarts: readonly string[]): Promise<void> {
    this.drop(step, restarts);
    await this.save();
  }

  /** The steps this run applied (what a rollback undoes). */
  appliedSteps(): OperationStep[] {
    return this.journal.operation?.steps ?? [];
  }

  /**
   * An enable that went through: each addon's record (version, arguments, its applied steps merged with
   * those of earlier runs, oldest record first) and the operation closed. Saved only when something changed.
   */
  async enabled(addons: readonly PlannedAddon[], changedBy: ReadonlyMap<string, number>, addonsAtStart: string): Promise<void> {
    const journal = this.journal;
    const now = new Date().toISOString();
    for (const addon of addons) {
      const mine = (journal.operation?.steps ?? []).filter((s) => s.addon === addon.name).map(({ phase, kind, addon: a, record }) => ({ phase, kind, addon: a, record }));
      const before = journal.addons[addon.name];
      const history = before && before.version !== addon.version ? [...(before.history ?? []), { version: before.version, at: now }] : before?.history;
      // A dependency pulled in by another addon keeps what it was enabled with.
      const kept = before !== undefined && addon.reason !== 'requested';
      journal.addons[addon.name] = {
        version: addon.version,
        requested: kept ? before.requested : addon.requested,
        args: kept ? before.args : addon.args,
        options: kept ? before.options : addon.options,
        enabledAt: before?.enabledAt ?? now,
        updatedAt: changedBy.get(addon.name) ? now : (before?.updatedAt ?? now),
        steps: mergeSteps(before?.steps ?? [], mine),
        ...(history ? { history } : {}),
      };
    }
    const opened = journal.operation !== null;
    journal.operation = null;
    if (opened || JSON.stringify(journal.addons) !== addonsAtStart) await this.save();
  }

  /** Once no addon is enabled and nothing is pending, the node is as before mk8s-addons: the snapshot starts anew. */
  async forgetSnapshotIfClean(): Promise<void> {
    const j = this.journal;
    if (Object.keys(j.snapshot).length > 0 && Object.keys(j.addons).length === 0 && !j.operation) {
      j.snapshot = {};
      await this.save();
    }
  }
}
