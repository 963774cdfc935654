/**
 * An addon built before its hook's verdict is in (cilium's render check, `BuiltAddon.ready`): a dry-run
 * checks its steps meanwhile, but no step is reported before every addon's verdict passed, in plan order;
 * a refused verdict is the run's error with no step reported, and it comes before a later addon's refusal.
 * runEnable with in-memory steps and a real temporary $SNAP_DATA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { runEnable, type BuiltAddon, type EngineOptions } from '../../src/engine/engine.js';
import { createSink } from '../../src/output/events.js';
import { UsageError } from '../../src/errors.js';
import type { Plan, PlannedAddon } from '../../src/planner.js';
import type { Step, StepContext } from '../../src/engine/step.js';
import type { SnapPaths } from '../../src/node/node.js';

const snapData = mkdtempSync(path.join(os.tmpdir(), 'engine-ready-'));
process.on('exit', () => rmSync(snapData, { recursive: true, force: true }));

const addon = (name: string): PlannedAddon => ({ name, requested: null, version: null, reason: 'requested', args: {}, options: {}, steps: [] });
const plan: Plan = { command: 'enable', addons: [addon('first'), addon('second')] };

/** What happened, in order: checks started, verdicts settled, events written. */
function harness() {
  const log: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const e = JSON.parse(line) as { type: string; phase?: string; status?: string };
        log.push(`event ${e.type}${e.phase ? ` ${e.phase}` : ''}${e.status ? ` ${e.status}` : ''}`);
      }
      done();
    },
  });
  const opts: EngineOptions = {
    base: { paths: { snap: '/snap/x', snapData, snapCommon: snapData } as SnapPaths, layout: '1.35', signal: new AbortController().signal } as unknown as StepContext,
    sink: createSink('json', out),
    dryRun: true,
    noRollback: false,
    force: false,
    commandLine: 'mk8s-addons enable first second',
    stats: { changed: 0, restarts: {} },
  };
  const step = (phase: string): Step => ({
    phase,
    kind: 'file',
    description: phase,
    async check() {
      log.push(`check ${phase}`);
      return { satisfied: false, summary: `change ${phase}` };
    },
    prepare: () => Promise.reject(new Error('a dry-run prepares nothing')),
    apply: () => Promise.reject(new Error('a dry-run applies nothing')),
    undo: () => Promise.reject(new Error('a dry-run undoes nothing')),
  });
  return { log, opts, step };
}

/** A verdict settled by the test, logged when it settles. */
function verdict(log: string[], name: string) {
  let settle!: (err?: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    settle = (err) => {
      log.push(`verdict ${name} ${err ? 'refused' : 'passed'}`);
      if (err) reject(err);
      else resolve();
    };
  });
  return { ready, settle };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

test('dry-run: the steps are checked while the verdict is pending; nothing is reported before it passed', async () => {
  const { log, opts, step } = harness();
  const v = verdict(log, 'first');
  const run = runEnable(plan, async (a): Promise<BuiltAddon> => (a.name === 'first' ? { steps: [step('enable/first/a')], ready: v.ready } : { steps: [step('enable/second/b')] }), opts);
  await tick();
  assert.deepEqual(log, ['check enable/first/a', 'check enable/second/b'], 'both checked, nothing reported yet');
  v.settle();
  assert.deepEqual(await run, { ok: true, changed: 0, restarts: {} });
  assert.deepEqual(log.slice(2), [
    'verdict first passed',
    'event step enable/first/a started',
    'event step enable/first/a would-change',
    'event step enable/second/b started',
    'event step enable/second/b would-change',
  ]);
});

test('dry-run: a refused verdict is the error, and no step is reported', async () => {
  const { log, opts, step } = harness();
  const v = verdict(log, 'first');
  const run = runEnable(plan, async (a): Promise<BuiltAddon> => ({ steps: [step(`enable/${a.name}/a`)], ...(a.name === 'first' ? { ready: v.ready } : {}) }), opts);
  await tick();
  v.settle(new UsageError('the rendered chart does not fit MicroK8s'));
  await assert.rejects(run, { name: 'UsageError', message: 'the rendered chart does not fit MicroK8s' });
  assert.deepEqual(log.filter((l) => l.startsWith('event')), []);
});

test("an earlier addon's refused verdict comes before a later addon's refusal at build, as when each was awaited in turn", async () => {
  const { log, opts, step } = harness();
  const v = verdict(log, 'first');
  const run = runEnable(
    plan,
    async (a): Promise<BuiltAddon> => {
      if (a.name === 'second') throw new UsageError('second: bad argument');
      return { steps: [step('enable/first/a')], ready: v.ready };
    },
    opts,
  );
  await tick();
  assert.deepEqual(log, ['check enable/first/a'], 'the run waits for the earlier verdict before it reports the later refusal');
  v.settle(new UsageError('first: render refused'));
  await assert.rejects(run, { message: 'first: render refused' });
  // And when the earlier verdict passes, the later refusal is the error.
  const { opts: opts2, step: step2 } = harness();
  await assert.rejects(
    runEnable(
      plan,
      async (a): Promise<BuiltAddon> => {
        if (a.name === 'second') throw new UsageError('second: bad argument');
        return { steps: [step2('enable/first/a')], ready: Promise.resolve() };
      },
      opts2,
    ),
    { message: 'second: bad argument' },
  );
});
