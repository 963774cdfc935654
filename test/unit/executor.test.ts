/**
 * The step executor on its own (src/engine/executor.ts): a list of built steps and a recorder, no Listr
 * and no journal file, as a per-node fan-out calls it. And the generic kube kinds' data: the managed-by
 * resource of kube-restart-pods and the ConfigMap edits a hook prepares.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Executor, type BuiltStep, type ExecutorOptions } from '../../src/engine/executor.js';
import type { StepRecorder } from '../../src/engine/recorder.js';
import type { Step, UndoRecord } from '../../src/engine/step.js';
import type { OperationStep } from '../../src/engine/journal.js';
import type { EventSink, StepEvent } from '../../src/output/events.js';
import type { PlannedAddon } from '../../src/planner.js';
import { KUBE_KINDS } from '../../src/engine/kinds/kube.js';
import type { ConfigMapEdit } from '../../src/engine/kinds/types.js';

/** Everything that happens, in order: steps' verbs, the recorder's calls, service actions, events. */
function harness(opts: { dryRun?: boolean } = {}) {
  const log: string[] = [];
  const sink = {
    mode: 'json',
    step: (e: StepEvent) => log.push(`event ${e.phase} ${e.status}`),
    note: (phase: string, message: string) => log.push(`note ${phase}: ${message}`),
  } as unknown as EventSink;
  const stats = { changed: 0, restarts: {} as Record<string, number> };
  const options: ExecutorOptions = {
    base: {
      paths: { snap: '/snap', snapData: '/data', snapCommon: '/common' },
      layout: 'kubelite',
      services: {
        variant: 'sandbox',
        describe: (a, d) => `${a} ${d}`,
        isActive: async () => true,
        act: async (a, d) => void log.push(`service ${a} ${d}`),
      },
      signal: new AbortController().signal,
      env: {},
      run: async () => {
        throw new Error('no process may run here');
      },
      ipCommand: (args) => ['ip', [...args]],
      netCommand: (cmd) => cmd,
      bpffs: '/sys/fs/bpf',
      kubeconfig: '/data/credentials/client.config',
      timeoutMs: 1000,
    },
    sink,
    dryRun: opts.dryRun ?? false,
    stats,
  };
  const recorder: StepRecorder = {
    async applying(addon, step, record) {
      log.push(`record ${step.phase} applying ${JSON.stringify(record)}`);
      return { phase: step.phase, kind: step.kind, addon, record, state: 'applying' } satisfies OperationStep;
    },
    async applied(entry) {
      log.push(`record ${entry.phase} applied`);
    },
  };
  return { log, stats, recorder, executor: new Executor(options, 'enable/demo') };
}

const addon = { name: 'demo' } as PlannedAddon;

function step(name: string, satisfied: boolean, log: string[], extra: Partial<Step> = {}): BuiltStep {
  const phase = `enable/demo/${name}`;
  return {
    addon,
    step: {
      phase,
      kind: 'file',
      description: name,
      check: async () => ({ satisfied, summary: satisfied ? `${name} ok` : `change ${name}` }),
      prepare: async (): Promise<UndoRecord> => ({ before: name }),
      apply: async () => void log.push(`apply ${phase}`),
      undo: async () => undefined,
      ...extra,
    },
  };
}

test('executor: each step checked; a satisfied one skipped; the others journaled ahead, applied, recorded; restarts once, at the end', async () => {
  const { log, stats, recorder, executor } = harness();
  const outcomes = await executor.executeSteps(
    [step('a', false, log, { restarts: ['kubelet'] }), step('b', true, log), step('c', false, log, { restarts: ['kube-apiserver'] }), step('wait', false, log, { observes: true })],
    recorder,
  );
  assert.deepEqual(
    outcomes.map((o) => [o.status, o.summary, o.changed]),
    [
      ['done', 'change a', true],
      ['skipped', 'b ok', false],
      ['done', 'change c', true],
      ['done', 'change wait', false],
    ],
  );
  assert.deepEqual(log, [
    'event enable/demo/a started',
    'record enable/demo/a applying {"before":"a"}',
    'apply enable/demo/a',
    'record enable/demo/a applied',
    'event enable/demo/a done',
    'event enable/demo/b started',
    'event enable/demo/b skipped',
    'event enable/demo/c started',
    'record enable/demo/c applying {"before":"c"}',
    'apply enable/demo/c',
    'record enable/demo/c applied',
    'event enable/demo/c done',
    'event enable/demo/wait started',
    'record enable/demo/wait applying {"before":"wait"}',
    'apply enable/demo/wait',
    'record enable/demo/wait applied',
    'event enable/demo/wait done',
    // kubelet and kube-apiserver are one daemon on a kubelite node: restarted once.
    'service restart kubelite',
    'note enable/demo/wait: restarted kubelite',
  ]);
  assert.deepEqual(stats, { changed: 2, restarts: { kubelite: 1 } });
});

test('executor: a dry-run prepares, records and applies nothing, and restarts nothing', async () => {
  const { log, stats, recorder, executor } = harness({ dryRun: true });
  const outcomes = await executor.executeSteps([step('a', false, log, { restarts: ['kubelet'] }), step('b', true, log)], recorder);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['would-change', 'skipped'],
  );
  assert.deepEqual(log, ['event enable/demo/a started', 'event enable/demo/a would-change', 'event enable/demo/b started', 'event enable/demo/b skipped']);
  assert.deepEqual(stats, { changed: 0, restarts: {} });
});

test('executor: a step that fails stops the list there, named by the executor\'s phase', async () => {
  const { log, recorder, executor } = harness();
  const failing = step('b', false, log, {
    apply: async () => {
      throw new Error('disk full');
    },
  });
  await assert.rejects(executor.executeSteps([step('a', false, log), failing, step('c', false, log)], recorder), /^Error: disk full$/);
  assert.equal(executor.phase, 'enable/demo/b');
  assert.deepEqual(log.filter((l) => l.startsWith('apply') || l.startsWith('record')), [
    'record enable/demo/a applying {"before":"a"}',
    'apply enable/demo/a',
    'record enable/demo/a applied',
    'record enable/demo/b applying {"before":"b"}',
  ]);
});

const kind = (name: string) => KUBE_KINDS.find((k) => k.kind === name)!;
const seed = (kindName: 'kube-restart-pods' | 'kube-configmap', params: Record<string, unknown>) => ({
  phase: `enable/demo/${kindName}`,
  meta: { phase: `enable/demo/${kindName}`, kind: kindName, description: kindName },
  params,
});
const kctx = { paths: { snap: '/snap', snapData: '/data', snapCommon: '/common' }, layout: 'kubelite' as const };

test('kube-restart-pods: which pods the CNI manages is the step\'s managedBy data', () => {
  const agent = { namespace: 'kube-system', selector: 'k8s-app=cilium' };
  assert.throws(() => kind('kube-restart-pods').create(seed('kube-restart-pods', { agent }), kctx), {
    message: 'step enable/demo/kube-restart-pods: "managedBy" must be {apiVersion, resource}, the custom resource with one object per pod the CNI manages',
  });
  assert.throws(() => kind('kube-restart-pods').create(seed('kube-restart-pods', { agent, managedBy: { apiVersion: 'cilium.io/v2' } }), kctx), /"managedBy" must be/);
  const built = kind('kube-restart-pods').create(seed('kube-restart-pods', { agent, managedBy: { apiVersion: 'cilium.io/v2', resource: 'ciliumendpoints' } }), kctx);
  assert.equal(built.phase, 'enable/demo/kube-restart-pods');
});

test('kube-configmap: the edit is the one the addon\'s hook prepared, by name', () => {
  const params = { name: 'coredns', namespace: 'kube-system', key: 'Corefile', edit: 'corefile-forwarders', args: {} };
  assert.throws(() => kind('kube-configmap').create(seed('kube-configmap', params), kctx), {
    message: 'step enable/demo/kube-configmap: the addon\'s hook prepared no configmap edit named "corefile-forwarders"',
  });
  const edit: ConfigMapEdit = (current) => current ?? 'new';
  assert.throws(() => kind('kube-configmap').create(seed('kube-configmap', params), { ...kctx, edits: { other: edit } }), /no configmap edit named "corefile-forwarders"/);
  assert.equal(kind('kube-configmap').create(seed('kube-configmap', params), { ...kctx, edits: { 'corefile-forwarders': edit } }).phase, 'enable/demo/kube-configmap');
});
