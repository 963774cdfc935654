/**
 * The engine: runs planned steps through their check / prepare / apply / undo verbs as a Listr2 task
 * list, with the journal written ahead of every mutation, coalesced service restarts, rollback on
 * failure or Ctrl+C, crash recovery of an interrupted earlier run, and one event per step for
 * `--output json`. Everything that changes a node goes through here.
 */
import path from 'node:path';
import type { Plan, PlannedAddon } from '../planner.js';
import type { StepKind } from '../catalogue.js';
import type { CheckResult, Step, StepContext, UndoRecord } from './step.js';
import type { Journal, OperationStep } from './journal.js';
import { loadJournal, mergeSteps, saveJournal } from './journal.js';
import type { EventSink, StepStatus } from '../output/events.js';
import { kindImpl } from './kinds/index.js';
import { fileState } from '../adapters/fs.js';
import { Mk8sError, PreconditionError, StepError, UsageError } from '../errors.js';
import { isApiUnreachable } from '../adapters/kube-http.js';
import { daemonFor } from '../node/node.js';
import { printCommand } from '../adapters/process.js';
import semverGt from 'semver/functions/gt.js';

/** Everything a run needs, built by src/commands/run.ts. */
export interface EngineOptions {
  /** The step context minus the engine-owned parts (restarts, notes). */
  base: Omit<StepContext, 'requestRestart' | 'pendingRestarts' | 'flushRestarts' | 'countService' | 'note'>;
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

export interface RunStats {
  /** Steps that changed the node (applied or undone). */
  changed: number;
  /** Service restarts by daemon. */
  restarts: Record<string, number>;
}

export interface RunResult extends RunStats {
  ok: boolean;
}

/** A step of the plan, built, with the addon it belongs to. */
export interface BuiltStep {
  addon: PlannedAddon;
  step: Step;
}

class Run {
  readonly pending = new Map<string, string[]>();
  readonly ctx: StepContext;
  get restarts() {
    return this.opts.stats.restarts;
  }
  get changed() {
    return this.opts.stats.changed;
  }
  set changed(n: number) {
    this.opts.stats.changed = n;
  }

  constructor(readonly opts: EngineOptions, private phase: () => string) {
    this.ctx = {
      ...opts.base,
      requestRestart: (service, reason) => {
        const daemon = daemonFor(service, opts.base.layout);
        this.pending.set(daemon, [...(this.pending.get(daemon) ?? []), reason]);
      },
      pendingRestarts: () => [...this.pending.keys()],
      flushRestarts: () => this.flush(),
      countService: (action, daemon) => {
        if (action === 'restart') this.restarts[daemon] = (this.restarts[daemon] ?? 0) + 1;
      },
      note: (message) => opts.sink.note(this.phase(), message),
    };
  }

  /** Restarts each daemon once, whatever number of steps asked for it. */
  async flush(signal: AbortSignal = this.ctx.signal): Promise<void> {
    for (const daemon of [...this.pending.keys()]) {
      this.pending.delete(daemon);
      if (this.opts.dryRun) continue;
      await this.ctx.services.act('restart', daemon, { signal, env: this.ctx.env });
      this.ctx.countService('restart', daemon);
      this.opts.sink.note(this.phase(), `restarted ${daemon}`);
    }
  }
}

function crashIfAsked(opts: EngineOptions, phase: string, when: 'before' | 'after'): void {
  if (!opts.crashAt) return;
  const [p, w = 'before'] = opts.crashAt.split(':');
  if (p === phase && w === when) process.kill(process.pid, 'SIGKILL');
}

async function snapshotTouched(journal: Journal, step: Step, ctx: StepContext): Promise<void> {
  if (!step.touches) return;
  for (const file of await step.touches(ctx)) {
    const rel = path.relative(ctx.paths.snapData, file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
    if (!(rel in journal.snapshot)) journal.snapshot[rel] = await fileState(file);
  }
}

async function listr() {
  const { Listr } = await import('listr2');
  return Listr;
}

function rendererFor(opts: EngineOptions): 'default' | 'simple' | 'silent' {
  return opts.sink.mode === 'json' ? 'silent' : opts.sink.mode === 'pretty' && process.stdout.isTTY ? 'default' : 'simple';
}

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
async function undoSteps(run: Run, journal: Journal, steps: OperationStep[], label: string, setPhase: (p: string) => void): Promise<void> {
  const Listr = await listr();
  const opts = run.opts;
  // Undo runs to the end even after Ctrl+C: its child processes get a signal of their own.
  const ctx: StepContext = { ...run.ctx, signal: new AbortController().signal };
  const failed = new Map<OperationStep, unknown>();
  let journalError: unknown;
  const save = async () => {
    try {
      await saveJournal(opts.base.paths.snapData, journal);
      journalError = undefined;
    } catch (err) {
      journalError = err;
    }
  };
  const undoOne = async (s: OperationStep) => {
    setPhase(s.phase);
    let did: boolean | void;
    try {
      did = await kindImpl(s.kind).undo(ctx, s.record);
    } catch (err) {
      failed.set(s, err);
      opts.sink.step({ phase: s.phase, status: 'failed', changed: false, summary: `undo failed: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    failed.delete(s);
    const op = journal.operation;
    if (op) {
      op.steps = op.steps.filter((x) => x !== s);
      await save();
    }
    if (did !== false) run.changed++;
    opts.sink.step({ phase: s.phase, status: did === false ? 'skipped' : 'undone', changed: did !== false });
  };
  const newestFirst = [...steps].reverse();
  const tasks = newestFirst.map((s) => ({ title: `${label} ${s.phase}`, task: () => undoOne(s) }));
  // Restarts first: restarting the API server (its args were restored) may be what brings it back.
  let restartError: unknown;
  const restarts = async () => {
    setPhase(`${label}/restarts`);
    try {
      await run.flush(ctx.signal);
    } catch (err) {
      restartError ??= err;
    }
  };
  tasks.push({ title: `${label}: service restarts`, task: restarts });
  tasks.push({
    title: `${label}: retry what needs the API server`,
    task: async () => {
      const deadline = Date.now() + opts.base.timeoutMs;
      for (let round = 0; [...failed.values()].some(isApiUnreachable) && Date.now() < deadline; round++) {
        const delay = Math.min(RETRY_DELAYS_MS[Math.min(round, RETRY_DELAYS_MS.length - 1)] as number, Math.max(0, deadline - Date.now()));
        opts.sink.note(`${label}/retry`, `the API server cannot be reached; retrying ${[...failed.keys()].filter((s) => isApiUnreachable(failed.get(s))).map((s) => s.phase).join(', ')} in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
        for (const s of newestFirst) if (isApiUnreachable(failed.get(s))) await undoOne(s);
      }
      if (run.pending.size > 0) await restarts();
    },
  });
  await new Listr(tasks, { renderer: rendererFor(opts), exitOnError: true, registerSignalListeners: false }).run();
  if (journalError !== undefined) await save();
  if (journalError !== undefined && failed.size === 0) {
    // Every step is undone: the node is as before. The journal may still list some; undoing them again changes nothing.
    opts.sink.note(label, `the journal could not be updated (${(journalError as Error).message}); the next run undoes the listed steps again, which changes nothing`);
    journalError = undefined;
  }
  if (restartError !== undefined && failed.size === 0) throw restartError;
  if (failed.size > 0) {
    const list = newestFirst.filter((s) => failed.has(s));
    const first = failed.get(list[0] as OperationStep);
    const why = first instanceof Error ? first.message : String(first);
    setPhase((list[0] as OperationStep).phase);
    throw new StepError(
      `${list.length} step(s) could not be undone (${list.map((s) => s.phase).join(', ')}): ${why}; every other step was undone; ${journalError === undefined ? 'the journal keeps these and the next mk8s-addons run undoes them first' : 'and the journal could not be written either'}`,
    );
  }
}

/**
 * Finishes or rolls back an operation that a killed run left in the journal: an enable is rolled back,
 * a disable is finished. Called with the lock held, so its owner is gone.
 */
export async function recoverInterrupted(journal: Journal, opts: EngineOptions): Promise<void> {
  const op = journal.operation;
  if (!op) return;
  let phase = 'recover';
  const run = new Run(opts, () => phase);
  opts.sink.note('recover', `an earlier run (pid ${op.pid}: ${op.command}, started ${op.startedAt}) was interrupted; ${op.type === 'enable' ? 'rolling back its' : 'finishing its'} ${op.steps.length} step(s)`);
  if (op.type === 'enable') {
    await undoSteps(run, journal, op.steps, 'recover: undo', (p) => (phase = p));
  } else {
    // A disable's remaining steps are kept in undo order already.
    await undoSteps(run, journal, [...op.steps].reverse(), 'recover: finish disable', (p) => (phase = p));
    for (const name of op.addons ?? []) delete journal.addons[name];
  }
  journal.operation = null;
  await saveJournal(opts.base.paths.snapData, journal);
}

/** Builds the steps of a plan (the kinds' factories) with the addon's resolved parameters. */
export type StepBuilder = (addon: PlannedAddon) => Promise<Step[]>;

/** enable: every step checked; unsatisfied ones applied with journal-ahead; rollback on failure. */
export async function runEnable(plan: Plan, build: StepBuilder, opts: EngineOptions): Promise<RunResult> {
  const snapData = opts.base.paths.snapData;
  const journal = opts.dryRun ? await loadJournal(snapData) : await loadJournal(snapData);
  if (!opts.dryRun) await recoverInterrupted(journal, opts);

  // Downgrades are refused before anything is touched.
  for (const a of plan.addons) {
    const installed = journal.addons[a.name]?.version;
    if (installed && a.version && installed !== a.version && semverGt(installed, a.version) && !opts.force) {
      throw new UsageError(`${a.name} ${installed} is installed; ${a.version} would be a downgrade; give --force to downgrade anyway`);
    }
  }

  let phase = `enable/${plan.addons[0]?.name ?? ''}`;
  const run = new Run(opts, () => phase);
  const listrLoaded = listr();
  listrLoaded.catch(() => undefined);
  // A dry-run changes nothing, so the checks that read only the node start as soon as their addon is
  // built (side by side with each other and with the next addon's hook); results are reported in order.
  const checked = new Map<Step, Promise<CheckResult>>();
  const built: { addon: PlannedAddon; steps: Step[] }[] = [];
  for (const addon of plan.addons) {
    const steps = await build(addon);
    built.push({ addon, steps });
    if (!opts.dryRun) continue;
    for (const step of steps) {
      if (step.checksEarlierSteps) continue;
      const result = step.check(run.ctx);
      result.catch(() => undefined);
      checked.set(step, result);
    }
  }

  // The operation record is opened with the first step that changes something, so a run that changes
  // nothing writes nothing at all (not even the journal).
  const addonsAtStart = JSON.stringify(journal.addons);
  const openOperation = () => {
    journal.operation ??= { type: 'enable', pid: process.pid, command: opts.commandLine, startedAt: new Date().toISOString(), steps: [] };
    return journal.operation;
  };
  const changedBy = new Map<string, number>();
  const Listr = await listrLoaded;

  const execStep = async (addon: PlannedAddon, step: Step, task: { skip(m: string): void; output: string; title: string }) => {
    phase = step.phase;
    if (opts.base.signal.aborted) throw new StepError('interrupted', { phase });
    opts.sink.step({ phase, status: 'started', changed: false });
    const check = await (checked.get(step) ?? step.check(run.ctx));
    if (check.satisfied) {
      opts.sink.step({ phase, status: 'skipped', changed: false, summary: check.summary });
      task.skip(`${step.phase}: ${check.summary}`);
      return;
    }
    if (opts.dryRun) {
      for (const s of step.restarts ?? []) run.ctx.requestRestart(s, step.phase);
      const commands = (check.commands ?? []).map((c) => printCommand(c));
      opts.sink.step({ phase, status: 'would-change', changed: false, summary: check.summary, ...(check.detail ? { detail: check.detail } : {}), ...(commands.length ? { commands } : {}) });
      task.output = [check.summary, ...(check.detail ? [check.detail] : []), ...commands.map((c) => `$ ${c}`)].join('\n');
      return;
    }
    const record: UndoRecord = await step.prepare(run.ctx);
    await snapshotTouched(journal, step, run.ctx);
    const entry: OperationStep = { phase, kind: step.kind as StepKind, addon: addon.name, record, state: 'applying' };
    openOperation().steps.push(entry);
    await saveJournal(snapData, journal);
    crashIfAsked(opts, phase, 'before');
    await step.apply(run.ctx, record);
    entry.state = 'applied';
    // A step may have run mk8s-addons itself (a nested invocation under our lock): take what it recorded.
    const disk = await loadJournal(snapData);
    journal.addons = disk.addons;
    for (const [rel, st] of Object.entries(disk.snapshot)) if (!(rel in journal.snapshot)) journal.snapshot[rel] = st;
    await saveJournal(snapData, journal);
    crashIfAsked(opts, phase, 'after');
    for (const s of step.restarts ?? []) run.ctx.requestRestart(s, step.phase);
    // A wait changed nothing, whether or not it had to wait.
    if (!step.observes) {
      run.changed++;
      changedBy.set(addon.name, (changedBy.get(addon.name) ?? 0) + 1);
    }
    opts.sink.step({ phase, status: 'done', changed: !step.observes, summary: check.summary });
    task.output = check.summary;
  };

  const tasks = built.map(({ addon, steps }) => ({
    title: `${opts.dryRun ? 'plan' : 'enable'} ${addon.name}${addon.version ? ` ${addon.version}` : ''}`,
    task: (_: unknown, parent: { newListr: (t: unknown[], o: unknown) => unknown }) =>
      parent.newListr(
        [
          ...steps.map((step) => ({
            title: `${step.phase}: ${step.description}`,
            task: (_c: unknown, t: { skip(m: string): void; output: string; title: string }) => execStep(addon, step, t),
          })),
          {
            // Restarts still pending when an addon's steps are done happen before the next addon.
            title: `enable/${addon.name}/pending-restarts`,
            enabled: () => run.pending.size > 0 && !opts.dryRun,
            task: async () => {
              phase = `enable/${addon.name}/restarts`;
              await run.flush();
            },
          },
        ],
        { concurrent: false, exitOnError: true, rendererOptions: { persistentOutput: true } },
      ),
  }));

  try {
    await new Listr(tasks as never, { renderer: rendererFor(opts), exitOnError: true, registerSignalListeners: false, rendererOptions: { collapseSubtasks: false } }).run();
  } catch (err) {
    const failedPhase = err instanceof Mk8sError && err.phase ? err.phase : phase;
    const message = err instanceof Error ? err.message : String(err);
    opts.sink.step({ phase: failedPhase, status: 'failed', changed: false, summary: message });
    if (opts.dryRun) throw wrap(err, failedPhase);
    const applied = journal.operation?.steps ?? [];
    if (opts.noRollback) {
      opts.sink.note(failedPhase, `--no-rollback: keeping ${applied.length} applied step(s); the next run will roll them back first`);
      throw wrap(err, failedPhase);
    }
    opts.sink.note(failedPhase, `rolling back ${applied.length} step(s) applied in this run`);
    run.pending.clear();
    try {
      await undoSteps(run, journal, applied, 'rollback: undo', (p) => (phase = p));
      journal.operation = null;
      await saveJournal(snapData, journal).catch((saveErr: unknown) => {
        opts.sink.note(failedPhase, `the journal could not record the rollback (${(saveErr as Error).message}); the next run undoes those steps again, which changes nothing`);
      });
    } catch (undoErr) {
      throw new StepError(`${message}; and the rollback is incomplete: ${(undoErr as Error).message}`, { phase: failedPhase });
    }
    throw wrap(err, failedPhase, 'rolled back');
  }

  if (!opts.dryRun) {
    const now = new Date().toISOString();
    for (const { addon } of built) {
      const mine = (journal.operation?.steps ?? []).filter((s) => s.addon === addon.name).map(({ phase: p, kind, addon: a, record }) => ({ phase: p, kind, addon: a, record }));
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
      if (!changedBy.get(addon.name)) {
        opts.sink.note(`enable/${addon.name}`, before ? `${addon.name} is already enabled${addon.version ? ` at ${addon.version}` : ''}` : `${addon.name}: the node already had everything; recorded as enabled`);
      }
    }
    const opened = journal.operation !== null;
    journal.operation = null;
    if (opened || JSON.stringify(journal.addons) !== addonsAtStart) await saveJournal(snapData, journal);
  }
  return { ok: true, changed: run.changed, restarts: run.restarts };
}

function wrap(err: unknown, phase: string, suffix?: string): Error {
  const message = err instanceof Error ? err.message : String(err);
  const text = suffix ? `${message} (${suffix})` : message;
  // A condition of the node met by a step (a full disk, a read-only folder): exit 3, named by its phase.
  if (err instanceof PreconditionError && err.phase === undefined) return new PreconditionError(text, { phase, cause: err });
  if (err instanceof Mk8sError && !(err instanceof StepError)) return err;
  return new StepError(text, { phase, cause: err });
}

/** disable: undo the addon's journaled steps, newest first; finished by the next run if interrupted. */
export async function runDisable(plan: Plan, opts: EngineOptions): Promise<RunResult> {
  const snapData = opts.base.paths.snapData;
  const journal = await loadJournal(snapData);
  if (!opts.dryRun) await recoverInterrupted(journal, opts);
  let phase = 'disable';
  const run = new Run(opts, () => phase);
  const Listr = await listr();
  const tasks = plan.addons.map((addon) => ({
    title: `disable ${addon.name}`,
    task: async (_: unknown, t: { skip(m: string): void; newListr: (x: unknown[], o: unknown) => unknown }) => {
      phase = `disable/${addon.name}`;
      const enabled = journal.addons[addon.name];
      if (!enabled) {
        opts.sink.note(phase, `${addon.name} is not enabled; nothing to do`);
        t.skip(`${addon.name} is not enabled`);
        return;
      }
      const steps: OperationStep[] = [...enabled.steps].reverse().map((s) => ({ ...s, state: 'applied' as const }));
      if (opts.dryRun) {
        for (const s of steps) opts.sink.step({ phase: s.phase.replace(/^enable\//, 'disable/'), status: 'would-change', changed: false, summary: `undo ${s.phase}` });
        return;
      }
      journal.operation = { type: 'disable', pid: process.pid, command: opts.commandLine, startedAt: new Date().toISOString(), steps: [...steps], addons: [addon.name] };
      await saveJournal(snapData, journal);
      return t.newListr(
        [
          ...steps.map((s) => ({
            title: `${s.phase.replace(/^enable\//, 'disable/')}: undo`,
            task: async () => {
              phase = s.phase.replace(/^enable\//, 'disable/');
              if (opts.base.signal.aborted) throw new StepError('interrupted; run disable again to finish', { phase });
              opts.sink.step({ phase, status: 'started', changed: false });
              crashIfAsked(opts, phase, 'before');
              const did = await kindImpl(s.kind).undo(run.ctx, s.record);
              if (journal.operation) journal.operation.steps = journal.operation.steps.filter((x) => x.phase !== s.phase);
              await saveJournal(snapData, journal);
              if (did !== false) run.changed++;
              opts.sink.step({ phase, status: did === false ? 'skipped' : 'undone', changed: did !== false });
            },
          })),
          {
            title: `disable/${addon.name}/restarts`,
            task: async () => {
              phase = `disable/${addon.name}/restarts`;
              await run.flush();
              delete journal.addons[addon.name];
              journal.operation = null;
              await saveJournal(snapData, journal);
            },
          },
        ],
        { concurrent: false, exitOnError: true },
      );
    },
  }));
  try {
    await new Listr(tasks as never, { renderer: rendererFor(opts), exitOnError: true, registerSignalListeners: false }).run();
  } catch (err) {
    opts.sink.step({ phase, status: 'failed', changed: false, summary: (err as Error).message });
    throw wrap(err, phase, 'the journal keeps the remaining steps; run disable again to finish');
  }
  return { ok: true, changed: run.changed, restarts: run.restarts };
}

export type { StepStatus };
