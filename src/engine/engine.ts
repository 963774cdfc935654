/**
 * The engine: what a run does, in order, and its policies. It composes three parts: the step executor
 * (src/engine/executor.ts: the verbs, events, restarts, the running phase), the journal's recording
 * (src/engine/recorder.ts: journal-ahead, the operation, the addons' records) and the Listr wiring
 * (src/engine/tasks.ts). Here: enable (downgrades refused, then the steps, rollback on failure or
 * Ctrl+C), disable, reset's restores, crash recovery of an interrupted earlier run. Everything that
 * changes a node goes through here.
 */
import type { Plan, PlannedAddon } from '../planner.js';
import type { Step } from './step.js';
import type { Journal, OperationStep } from './journal.js';
import type { FileState } from '../adapters/fs.js';
import type { EventSink, StepStatus } from '../output/events.js';
import { Executor, type BaseStepContext, type BuiltStep, type RunStats } from './executor.js';
import { JournalRecorder } from './recorder.js';
import { group, loadListr, runTasks, type EngineTask, type EngineTaskWrapper, type ListrModule } from './tasks.js';
import { kindImpl } from './kinds/index.js';
import { Mk8sError, PreconditionError, StepError, UsageError } from '../errors.js';
import { isApiUnreachable } from '../adapters/kube-http.js';
import semverGt from 'semver/functions/gt.js';

export type { BuiltStep, RunStats };

/** Everything a run needs, built by src/commands/run.ts. */
export interface EngineOptions {
  /** The step context minus the engine-owned parts (restarts, notes). */
  base: BaseStepContext;
  sink: EventSink;
  dryRun: boolean;
  noRollback: boolean;
  force: boolean;
  /** The command line, for the journal and the lock. */
  commandLine: string;
  /** Counters the run updates as it goes (also valid after a failure). */
  stats: RunStats;
  /** Test-only: MK8S_ADDONS_CRASH_AT=<phase>[:before|:after] kills the process there (crash-safety tests). */
  crashAt?: string;
}

export interface RunResult extends RunStats {
  ok: boolean;
}

const executorFor = (opts: EngineOptions, phase: string) =>
  new Executor({ base: opts.base, sink: opts.sink, dryRun: opts.dryRun, stats: opts.stats, ...(opts.crashAt ? { crashAt: opts.crashAt } : {}) }, phase);

/** How long to wait before the next round of retries (the API server may be restarting). */
const RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 5000];

/**
 * Undoes operation steps (newest first), reporting each; used by rollback and crash recovery. An undo
 * that fails does not stop the others: every step that can be undone is (the node-local ones do not need
 * the API server), then those that failed because the API server could not be reached are retried with
 * backoff within --timeout. What still failed stays in the journal's operation for the next run, and the
 * error names it. A journal write that fails (a full disk) does not stop the undos either: they are
 * idempotent, so a step undone but still listed is undone again, harmlessly, by the next run.
 */
async function undoSteps(ex: Executor, recorder: JournalRecorder, listr: Promise<ListrModule>, steps: readonly OperationStep[], label: string, restartOptions: RestartOptions = {}): Promise<void> {
  const { sink } = ex.opts;
  // Undo runs to the end even after Ctrl+C: its child processes get a signal of their own.
  const ctx = { ...ex.ctx, signal: new AbortController().signal };
  const failed = new Map<OperationStep, unknown>();
  let journalError: unknown;
  const undoOne = async (s: OperationStep) => {
    try {
      ex.enter(s.phase);
      const did = await kindImpl(s.kind).undo(ctx, s.record);
      failed.delete(s);
      if (recorder.journal.operation) {
        recorder.drop(s, [...ex.pending.keys()]);
        journalError = await recorder.trySave();
      }
      if (did !== false) ex.stats.changed++;
      sink.step({ phase: s.phase, status: did === false ? 'skipped' : 'undone', changed: did !== false });
    } catch (err) {
      failed.set(s, err);
      sink.step({ phase: s.phase, status: 'failed', changed: false, summary: `undo failed: ${err instanceof Error ? err.message : String(err)}` });
    }
  };
  const newestFirst = [...steps].reverse();
  const tasks: EngineTask[] = newestFirst.map((s) => ({ title: `${label} ${s.phase}`, task: () => undoOne(s) }));
  // Restarts first: restarting the API server (its args were restored) may be what brings it back.
  let restartError: unknown;
  const restarts = async () => {
    ex.enter(`${label}/restarts`);
    try {
      await ex.flush(ctx.signal, restartOptions);
    } catch (err) {
      restartError ??= err;
    }
  };
  tasks.push({ title: `${label}: service restarts`, task: restarts });
  tasks.push({
    title: `${label}: retry what needs the API server`,
    task: async () => {
      const deadline = Date.now() + ex.opts.base.timeoutMs;
      for (let round = 0; [...failed.values()].some(isApiUnreachable) && Date.now() < deadline; round++) {
        const delay = Math.min(RETRY_DELAYS_MS[Math.min(round, RETRY_DELAYS_MS.length - 1)] as number, Math.max(0, deadline - Date.now()));
        sink.note(`${label}/retry`, `the API server cannot be reached; retrying ${[...failed.keys()].filter((s) => isApiUnreachable(failed.get(s))).map((s) => s.phase).join(', ')} in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        for (const s of newestFirst) if (isApiUnreachable(failed.get(s))) await undoOne(s);
      }
      if (ex.pending.size > 0) await restarts();
    },
  });
  await runTasks(listr, tasks, sink);
  if (journalError !== undefined) journalError = await recorder.trySave();
  if (journalError !== undefined && failed.size === 0) {
    // Every step is undone: the node is as before. The journal may still list some; undoing them again changes nothing.
    sink.note(label, `the journal could not be updated (${(journalError as Error).message}); the next run undoes the listed steps again, which changes nothing`);
    journalError = undefined;
  }
  if (restartError !== undefined && failed.size === 0) throw restartError;
  if (failed.size > 0) {
    const list = newestFirst.filter((s) => failed.has(s));
    const first = failed.get(list[0] as OperationStep);
    const why = first instanceof Error ? first.message : String(first);
    ex.enter((list[0] as OperationStep).phase);
    throw new StepError(
      `${list.length} step(s) could not be undone (${list.map((s) => s.phase).join(', ')}): ${why}; every other step was undone; ${journalError === undefined ? 'the journal keeps these and the next mk8s-addons run undoes them first' : 'and the journal could not be written either'}`,
    );
  }
}

type RestartOptions = Parameters<Executor['flush']>[1];

/**
 * Finishes or rolls back an operation that a killed run left in the journal: an enable is rolled back,
 * a disable or a reset is finished. Called with the lock held, so its owner is gone.
 */
async function recoverInterrupted(recorder: JournalRecorder, opts: EngineOptions): Promise<void> {
  const journal = recorder.journal;
  const op = journal.operation;
  if (!op) return;
  const listr = loadListr();
  const ex = executorFor(opts, 'recover');
  opts.sink.note('recover', `an earlier run (pid ${op.pid}: ${op.command}, started ${op.startedAt}) was interrupted; ${op.type === 'enable' ? 'rolling back its' : 'finishing its'} ${op.steps.length} step(s)`);
  // Restarts that steps it had already undone asked for, and that it did not live to do.
  for (const daemon of op.restarts ?? []) ex.pending.set(daemon, [...(ex.pending.get(daemon) ?? []), 'recover']);
  if (op.type === 'enable') {
    await undoSteps(ex, recorder, listr, op.steps, 'recover: undo');
  } else {
    // A disable's (or reset's) remaining steps are kept in undo order already.
    await undoSteps(ex, recorder, listr, [...op.steps].reverse(), `recover: finish ${op.type}`, op.type === 'reset' ? resetRestarts(op.steps) : {});
    for (const name of op.addons ?? []) delete journal.addons[name];
  }
  journal.operation = null;
  await recorder.save();
  if (op.type === 'reset') await recorder.forgetSnapshotIfClean();
}

/** An addon's built steps, and what must hold before any step of the run is reported or applied. */
export interface BuiltAddon {
  steps: Step[];
  /**
   * Resolves once the checks of the addon's inputs still running at build time passed (cilium's render
   * check), rejects with their refusal. The engine waits for every addon's, in plan order, before the
   * first step; a dry-run checks the steps meanwhile.
   */
  ready?: Promise<void>;
}

/** Builds the steps of a plan (the kinds' factories) with the addon's resolved parameters. */
export type StepBuilder = (addon: PlannedAddon) => Promise<BuiltAddon>;

/** Waits for each in order: the first (in plan order) that fails is the error, as if each were awaited at build. */
async function allReady(ready: readonly Promise<void>[]): Promise<void> {
  for (const r of ready) await r;
}

/** Downgrades are refused before anything is touched (--force allows them). */
function refuseDowngrades(plan: Plan, journal: Journal, force: boolean): void {
  if (force) return;
  for (const a of plan.addons) {
    const installed = journal.addons[a.name]?.version;
    if (installed && a.version && installed !== a.version && semverGt(installed, a.version)) {
      throw new UsageError(`${a.name} ${installed} is installed; ${a.version} would be a downgrade; give --force to downgrade anyway`);
    }
  }
}

/** enable: every step checked; unsatisfied ones applied with journal-ahead; rollback on failure. */
export async function runEnable(plan: Plan, build: StepBuilder, opts: EngineOptions): Promise<RunResult> {
  const recorder = await JournalRecorder.load(opts.base.paths.snapData, opts.commandLine);
  if (!opts.dryRun) await recoverInterrupted(recorder, opts);
  refuseDowngrades(plan, recorder.journal, opts.force);

  const ex = executorFor(opts, `enable/${plan.addons[0]?.name ?? ''}`);
  // listr2 loads while the hooks run.
  const listr = loadListr();
  const built: { addon: PlannedAddon; steps: Step[] }[] = [];
  const ready: Promise<void>[] = [];
  for (const addon of plan.addons) {
    const b = await build(addon).catch(async (err: unknown) => {
      // An earlier addon's refusal comes first, as when each was awaited in turn.
      await allReady(ready);
      throw err;
    });
    built.push({ addon, steps: b.steps });
    if (b.ready) {
      b.ready.catch(() => undefined);
      ready.push(b.ready);
    }
    ex.checkEarly(b.steps);
  }
  await allReady(ready);

  const addonsAtStart = JSON.stringify(recorder.journal.addons);
  const changedBy = new Map<string, number>();
  const stepTask = (addon: PlannedAddon, step: Step): EngineTask => ({
    title: `${step.phase}: ${step.description}`,
    task: async (_ctx, task: EngineTaskWrapper) => {
      const o = await ex.executeStep({ addon, step }, recorder);
      if (o.status === 'skipped') task.skip(`${step.phase}: ${o.summary}`);
      else task.output = o.detail ? `${o.summary}\n${o.detail}` : o.summary;
      if (o.changed) changedBy.set(addon.name, (changedBy.get(addon.name) ?? 0) + 1);
    },
  });
  const tasks = built.map(({ addon, steps }) =>
    group(
      `${opts.dryRun ? 'plan' : 'enable'} ${addon.name}${addon.version ? ` ${addon.version}` : ''}`,
      () => [
        ...steps.map((step) => stepTask(addon, step)),
        {
          // Restarts still pending when an addon's steps are done happen before the next addon.
          title: `enable/${addon.name}/pending-restarts`,
          enabled: () => ex.pending.size > 0 && !opts.dryRun,
          task: async () => {
            ex.enter(`enable/${addon.name}/restarts`);
            await ex.flush();
          },
        },
      ],
      { persistentOutput: true },
    ),
  );

  try {
    await runTasks(listr, tasks, opts.sink, { collapseSubtasks: false });
  } catch (err) {
    throw await rollBack(err, ex, recorder, listr, opts);
  }

  if (!opts.dryRun) {
    for (const { addon } of built) {
      if (changedBy.get(addon.name)) continue;
      const before = recorder.journal.addons[addon.name];
      opts.sink.note(`enable/${addon.name}`, before ? `${addon.name} is already enabled${addon.version ? ` at ${addon.version}` : ''}` : `${addon.name}: the node already had everything; recorded as enabled`);
    }
    await recorder.enabled(
      built.map((b) => b.addon),
      changedBy,
      addonsAtStart,
    );
  }
  return { ok: true, ...opts.stats };
}

/** A failed enable: every step this run applied is undone (unless --no-rollback); the error to throw. */
async function rollBack(err: unknown, ex: Executor, recorder: JournalRecorder, listr: Promise<ListrModule>, opts: EngineOptions): Promise<Error> {
  const failedPhase = err instanceof Mk8sError && err.phase ? err.phase : ex.phase;
  const message = err instanceof Error ? err.message : String(err);
  opts.sink.step({ phase: failedPhase, status: 'failed', changed: false, summary: message });
  if (opts.dryRun) return wrap(err, failedPhase);
  const applied = recorder.appliedSteps();
  if (opts.noRollback) {
    opts.sink.note(failedPhase, `--no-rollback: keeping ${applied.length} applied step(s); the next run will roll them back first`);
    return wrap(err, failedPhase);
  }
  opts.sink.note(failedPhase, `rolling back ${applied.length} step(s) applied in this run`);
  ex.pending.clear();
  try {
    await undoSteps(ex, recorder, listr, applied, 'rollback: undo');
    recorder.journal.operation = null;
    await recorder.save().catch((saveErr: unknown) => {
      opts.sink.note(failedPhase, `the journal could not record the rollback (${(saveErr as Error).message}); the next run undoes those steps again, which changes nothing`);
    });
  } catch (undoErr) {
    return new StepError(`${message}; and the rollback is incomplete: ${(undoErr as Error).message}`, { phase: failedPhase });
  }
  return wrap(err, failedPhase, 'rolled back');
}

function wrap(err: unknown, phase: string, suffix?: string): Error {
  const message = err instanceof Error ? err.message : String(err);
  const text = suffix ? `${message} (${suffix})` : message;
  // A condition of the node met by a step (a full disk, a read-only folder): exit 3, named by its phase.
  if (err instanceof PreconditionError && err.phase === undefined) return new PreconditionError(text, { phase, cause: err });
  if (err instanceof Mk8sError && !(err instanceof StepError)) return err;
  return new StepError(text, { phase, cause: err });
}

/**
 * One task per journaled step to undo inside an open operation (disable, reset): each undone step leaves
 * the operation, so a run killed here is finished by the next.
 */
function undoTask(ex: Executor, recorder: JournalRecorder, s: OperationStep, phase: string, again: string, after?: () => void): EngineTask {
  return {
    title: `${phase}: undo`,
    task: async () => {
      ex.enter(phase);
      if (ex.ctx.signal.aborted) throw new StepError(`interrupted; ${again}`, { phase });
      ex.opts.sink.step({ phase, status: 'started', changed: false });
      ex.crashIfAsked(phase, 'before');
      await ex.undoStep(s, phase, () => recorder.undone(s, [...ex.pending.keys()]));
      after?.();
    },
  };
}

/** The last task of an operation of undos: the restarts asked for, then the operation closed. */
function closingTask(phase: string, ex: Executor, recorder: JournalRecorder, restarts: RestartOptions, done?: () => void): EngineTask {
  return {
    title: phase,
    task: async () => {
      ex.enter(phase);
      await ex.flush(ex.ctx.signal, restarts);
      done?.();
      recorder.journal.operation = null;
      await recorder.save();
    },
  };
}

/** Runs an operation's undo tasks; a failure is named by its phase, and the journal keeps what is left. */
async function runUndoTasks(ex: Executor, listr: Promise<ListrModule>, tasks: EngineTask[], again: string): Promise<void> {
  try {
    await runTasks(listr, tasks, ex.opts.sink);
  } catch (err) {
    ex.opts.sink.step({ phase: ex.phase, status: 'failed', changed: false, summary: (err as Error).message });
    throw wrap(err, ex.phase, `the journal keeps the remaining steps; ${again}`);
  }
}

const disablePhase = (s: OperationStep) => s.phase.replace(/^enable\//, 'disable/');

/** disable: undo the addon's journaled steps, newest first; finished by the next run if interrupted. */
export async function runDisable(plan: Plan, opts: EngineOptions): Promise<RunResult> {
  const recorder = await JournalRecorder.load(opts.base.paths.snapData, opts.commandLine);
  const journal = recorder.journal;
  const listr = loadListr();
  if (!opts.dryRun) await recoverInterrupted(recorder, opts);
  const ex = executorFor(opts, 'disable');
  const again = 'run disable again to finish';
  const tasks = plan.addons.map((addon) =>
    group(`disable ${addon.name}`, async (t) => {
      ex.enter(`disable/${addon.name}`);
      const enabled = journal.addons[addon.name];
      if (!enabled) {
        opts.sink.note(ex.phase, `${addon.name} is not enabled; nothing to do`);
        t.skip(`${addon.name} is not enabled`);
        return undefined;
      }
      const steps: OperationStep[] = [...enabled.steps].reverse().map((s) => ({ ...s, state: 'applied' as const }));
      if (opts.dryRun) {
        for (const s of steps) opts.sink.step({ phase: disablePhase(s), status: 'would-change', changed: false, summary: `undo ${s.phase}` });
        return undefined;
      }
      await recorder.openUndo('disable', steps, [addon.name]);
      return [
        ...steps.map((s) => undoTask(ex, recorder, s, disablePhase(s), again)),
        closingTask(`disable/${addon.name}/restarts`, ex, recorder, {}, () => delete journal.addons[addon.name]),
      ];
    }),
  );
  await runUndoTasks(ex, listr, tasks, again);
  return { ok: true, ...opts.stats };
}

/** A node file for reset to put back as it was before mk8s-addons first changed it. */
export interface Restore {
  /** Relative to $SNAP_DATA, e.g. `args/kubelet`. */
  rel: string;
  path: string;
  /** As it was before mk8s-addons changed it. */
  previous: FileState;
  /** One line for the report (`restored args/kubelet (content as before mk8s-addons)`). */
  summary: string;
  /** The daemon that reads the file, restarted (when running) once the file is back. */
  daemon?: string;
}

/** The phase of a reset restore: `reset/restore/args/kubelet`. */
const RESTORE_PREFIX = 'reset/restore/';

/** Reset's restarts: running daemons only, each saying which of the restored files it reads. */
function resetRestarts(steps: readonly OperationStep[]): RestartOptions {
  const rels = (daemon: string) => steps.filter((s) => (s.record.restarts as string[] | undefined)?.includes(daemon)).map((s) => s.phase.slice(RESTORE_PREFIX.length));
  // A daemon owed by an interrupted reset's earlier restores has none of them left in `steps`.
  return { onlyActive: true, phase: 'reset/restarts', say: (daemon) => (rels(daemon).length > 0 ? `restarted ${daemon} (${rels(daemon).join(', ')} restored)` : `restarted ${daemon}`) };
}

/**
 * reset's last part: every node file the journal's snapshot holds and that is not as it was is put back,
 * as undo steps of kind `file` run by the executor inside a journaled operation (`reset`): a run killed
 * half-way is finished by the next run like a disable. Then the daemons that read restored files are
 * restarted (running ones only) and, with no addon left, the snapshot is forgotten.
 */
export async function runRestore(restores: readonly Restore[], opts: EngineOptions): Promise<RunResult> {
  const recorder = await JournalRecorder.load(opts.base.paths.snapData, opts.commandLine);
  const listr = loadListr();
  await recoverInterrupted(recorder, opts);
  const ex = executorFor(opts, 'reset/restore');
  if (restores.length > 0) {
    const steps: OperationStep[] = restores.map((r) => ({
      phase: `${RESTORE_PREFIX}${r.rel}`,
      kind: 'file',
      addon: 'reset',
      // The file kind's undo puts `previous` back and asks for the restart of what reads it.
      record: { path: r.path, previous: r.previous, summary: r.summary, ...(r.daemon ? { restarts: [r.daemon] } : {}) },
      state: 'applied',
    }));
    await recorder.openUndo('reset', steps, []);
    const again = 'run reset again to finish';
    const tasks: EngineTask[] = steps.map((s) => undoTask(ex, recorder, s, s.phase, again, () => opts.sink.note('reset/restore', String(s.record.summary))));
    tasks.push(closingTask('reset/restarts', ex, recorder, resetRestarts(steps)));
    await runUndoTasks(ex, listr, tasks, again);
  }
  await recorder.forgetSnapshotIfClean();
  return { ok: true, ...opts.stats };
}

export type { StepStatus };
