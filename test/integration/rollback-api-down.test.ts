/**
 * Rollback with the API server down (issue 13, item 3), against a real kube-apiserver that the test stops
 * while a run is in its slow step: the rollback undoes every node-local step, retries the step that needs
 * the API with backoff within --timeout, and leaves only what truly cannot be undone in the journal for
 * the next run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, runCli, spawnCli as spawnWith, waitFor } from '../support/cli.js';
import { makeNode, fullTree, jsonEvents, type TestNode } from '../support/node.js';
import { useControlPlane } from '../support/control-plane.js';
import { startComponent, stopComponent } from '../../src/sandbox/control-plane.js';

const cp = await useControlPlane();
// apidemo lives in its own catalogue folder, so the other tests' catalogue stays as they list it.
const env = { MK8S_ADDONS_ADDONS_DIR: path.join(ROOT, 'test', 'fixtures', 'addons-api') };
const spawnCli = (args: string[]) => spawnWith(args, env);
const flags = (n: TestNode) => [...n.flags, '--kubeconfig', cp.kubeconfig, '--output', 'json'];


const configMapExists = async () => (await cp.kubectl(['get', 'configmap', 'apidemo', '-n', 'default', '--ignore-not-found', '-o', 'name'])).stdout.trim() === 'configmap/apidemo';
const journal = (n: TestNode) => JSON.parse(readFileSync(path.join(n.snapData, 'var', 'mk8s-addons', 'journal.json'), 'utf8'));
const FAILED = /^ls \/nonexistent-mk8s-addons-test exited with 2: .*No such file or directory/;

test('the API server comes back during the rollback: the retried undo succeeds, everything is rolled back', async () => {
  const n = makeNode('1.35');
  try {
    const before = fullTree(n);
    const run = spawnCli(['enable', 'apidemo:2', ...flags(n), '--timeout', '60s']);
    await waitFor(() => run.out().includes('"phase":"enable/apidemo/slow","status":"started"'), 'the slow step');
    assert.ok(await configMapExists());
    await stopComponent(cp.dir, 'kube-apiserver');
    await waitFor(() => run.out().includes('the API server cannot be reached; retrying enable/apidemo/configmap'), 'a retry');
    // The node-local steps were undone before the retries began (the run still holds its lock).
    const { 'var/lock/mk8s-addons.lock': held, ...during } = fullTree(n);
    assert.ok(held);
    assert.deepEqual(during, before);
    await startComponent(cp.dir, 'kube-apiserver', { env: cp.env });
    assert.equal(await run.done, 1, run.out() + run.err());
    const error = jsonEvents(run.out()).find((e) => e.type === 'error')!;
    assert.equal(error.phase, 'enable/apidemo/broken');
    assert.match(String(error.message), new RegExp(`${FAILED.source} \\(rolled back\\)$`));
    assert.equal(await configMapExists(), false);
    assert.deepEqual(fullTree(n), before);
    assert.equal(journal(n).operation, null);
  } finally {
    await startComponent(cp.dir, 'kube-apiserver', { env: cp.env });
    n.cleanup();
  }
});

test('the API server stays down: node-local steps undone, the API step kept for the next run, which undoes it', async () => {
  const n = makeNode('1.20');
  try {
    const before = fullTree(n);
    const run = spawnCli(['enable', 'apidemo:2', ...flags(n), '--timeout', '3s']);
    await waitFor(() => run.out().includes('"phase":"enable/apidemo/slow","status":"started"'), 'the slow step');
    await stopComponent(cp.dir, 'kube-apiserver');
    assert.equal(await run.done, 1, run.out() + run.err());
    assert.equal(run.err(), '');
    const errors = jsonEvents(run.out()).filter((e) => e.type === 'error');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.phase, 'enable/apidemo/broken');
    assert.match(
      String(errors[0]!.message),
      new RegExp(`${FAILED.source}; and the rollback is incomplete: 1 step\\(s\\) could not be undone \\(enable/apidemo/configmap\\): cannot delete configmap/apidemo in default: .*ECONNREFUSED.*; every other step was undone; the journal keeps these and the next mk8s-addons run undoes them first$`),
    );
    // No CNI-less half node: every node-local step is undone.
    assert.deepEqual(fullTree(n), before);
    assert.deepEqual(journal(n).operation.steps.map((s: { phase: string }) => s.phase), ['enable/apidemo/configmap']);

    await startComponent(cp.dir, 'kube-apiserver', { env: cp.env });
    assert.ok(await configMapExists());
    const next = runCli(['disable', 'apidemo', ...flags(n)], { env });
    assert.equal(next.code, 0, next.stdout + next.stderr);
    assert.ok(jsonEvents(next.stdout).some((e) => e.phase === 'enable/apidemo/configmap' && e.status === 'undone'));
    assert.equal(await configMapExists(), false);
    assert.equal(journal(n).operation, null);
    assert.deepEqual(fullTree(n), before);
  } finally {
    await startComponent(cp.dir, 'kube-apiserver', { env: cp.env });
    n.cleanup();
  }
});
