/**
 * The helm adapter's release calls against a real API server (test/support/control-plane.ts): install,
 * list, status, values, upgrade, rollback, uninstall; and a Cilium install whose stored release carries
 * the post-renderer's rewrite.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { withoutProxy } from '../../src/adapters/process.js';
import { forgetReleaseStates, getValues, list, releaseState, rollback, status, uninstall, upgradeInstall, type HelmContext } from '../../src/adapters/helm.js';
import { coalesceValues } from '../../src/cilium/helm-values.js';
import { ciliumPostRenderer, hostPathsOf } from '../../src/cilium/post-render.js';
import { ciliumValues } from '../../src/cilium/values.js';
import { ROOT } from '../support/cli.js';
import { HELM, useControlPlane } from '../support/control-plane.js';

const cp = await useControlPlane();
const dir = mkdtempSync(path.join(os.tmpdir(), 'helm-release-test-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const ctx: HelmContext = {
  helm: HELM,
  kubeconfig: cp.kubeconfig,
  env: { ...withoutProxy(process.env).env, HELM_CACHE_HOME: path.join(dir, 'cache'), HELM_CONFIG_HOME: path.join(dir, 'config'), HELM_DATA_HOME: path.join(dir, 'data') },
  phase: 'test/helm-release',
};

const chart = path.join(dir, 'demo');
mkdirSync(path.join(chart, 'templates'), { recursive: true });
writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: "9.9"\n');
writeFileSync(path.join(chart, 'values.yaml'), 'greeting: hello\nnested: {a: 1}\n');
writeFileSync(
  path.join(chart, 'templates', 'cm.yaml'),
  'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\ndata:\n  values.json: {{ toJson .Values | quote }}\n',
);

async function configMapValues(): Promise<unknown> {
  const r = await cp.kubectl(['-n', 'default', 'get', 'configmap', 'demo', '-o', 'json']);
  return JSON.parse((JSON.parse(r.stdout) as { data: { 'values.json': string } }).data['values.json']);
}

const release = { release: 'demo', namespace: 'default' };

/**
 * releaseState (one read of Helm's storage, or one `helm status`) says what `helm list --all` and
 * `helm get values` say, whatever the state.
 */
async function releaseStateAgrees(c: HelmContext = ctx): Promise<void> {
  forgetReleaseStates();
  const st = await releaseState(c, release);
  const [listed] = await list(c, { namespace: 'default', filter: '^demo$', all: true });
  if (!listed) {
    assert.equal(st, undefined);
    return;
  }
  assert.ok(st, `helm list --all shows ${listed.name} ${listed.status}`);
  const { updated: _u1, ...fromList } = listed;
  const { updated: _u2, ...fromStatus } = st.release;
  assert.deepEqual(fromStatus, fromList);
  assert.equal(st.chartVersion, listed.chart.replace(/^demo-/, ''));
  assert.deepEqual(st.values, (await getValues(c, release)) ?? {});
}

test('helm release: install, upgrade, rollback and uninstall, seen through list, status and get values', async () => {
  assert.equal(await status(ctx, release), undefined);
  assert.equal(await getValues(ctx, release), undefined);
  assert.deepEqual(await list(ctx, { namespace: 'default', filter: '^demo$' }), []);
  await releaseStateAgrees();

  await upgradeInstall(ctx, { ...release, chart, values: [{ greeting: 'a,b=c', extra: null }, { nested: { b: 2 } }] });
  // A null of a key the chart lacks stays (Helm's coalescing, which coalesceValues reproduces).
  assert.deepEqual(await configMapValues(), { greeting: 'a,b=c', extra: null, nested: { a: 1, b: 2 } });
  const [listed, ...more] = await list(ctx, { namespace: 'default', filter: '^demo$' });
  assert.deepEqual(more, []);
  assert.equal(listed?.name, 'demo');
  assert.equal(listed?.revision, '1');
  assert.equal(listed?.status, 'deployed');
  assert.equal(listed?.chart, 'demo-0.1.0');
  assert.equal(listed?.app_version, '9.9');
  const s1 = await status(ctx, release);
  assert.equal(s1?.version, 1);
  assert.equal(s1?.info.status, 'deployed');
  // The release records the values files merged, as given (the null too).
  assert.deepEqual(await getValues(ctx, release), { greeting: 'a,b=c', extra: null, nested: { b: 2 } });
  assert.deepEqual(await getValues(ctx, { ...release, all: true }), { greeting: 'a,b=c', extra: null, nested: { a: 1, b: 2 } });
  await releaseStateAgrees();

  // --reset-values: the second upgrade's values replace the first's entirely; a null deletes a chart key.
  const second = { nested: { a: 5 }, greeting: null };
  await upgradeInstall(ctx, { ...release, chart, values: [second] });
  assert.equal((await status(ctx, release))?.version, 2);
  assert.deepEqual(await getValues(ctx, release), second);
  assert.deepEqual(await configMapValues(), { nested: { a: 5 } });
  assert.deepEqual(coalesceValues({ greeting: 'hello', nested: { a: 1 } }, second), { nested: { a: 5 } });

  // An upgrade with no values keeps nothing from before either.
  await upgradeInstall(ctx, { ...release, chart });
  assert.deepEqual(await getValues(ctx, release), {});
  await releaseStateAgrees();

  await rollback(ctx, { ...release, revision: 1 });
  const s4 = await status(ctx, release);
  assert.equal(s4?.version, 4);
  assert.equal(s4?.info.description, 'Rollback to 1');
  assert.deepEqual(await configMapValues(), { greeting: 'a,b=c', extra: null, nested: { a: 1, b: 2 } });

  await rollback(ctx, release);
  assert.equal((await status(ctx, release))?.info.description, 'Rollback to 3');
  await releaseStateAgrees();

  // Uninstalled with its history kept: still a release, in state uninstalled.
  await uninstall(ctx, { ...release, keepHistory: true });
  await releaseStateAgrees();
  assert.equal((await releaseState(ctx, release))?.release.status, 'uninstalled');
  await uninstall(ctx, release);
  await releaseStateAgrees();
  assert.equal(await status(ctx, release), undefined);
  assert.deepEqual(await list(ctx, { namespace: 'default', filter: '^demo$' }), []);
  await assert.rejects(uninstall(ctx, release), {
    name: 'StepError',
    message: `${HELM} uninstall demo --namespace default --kubeconfig ${cp.kubeconfig} exited with 1: Error: uninstall: Release not loaded: demo: release: not found`,
  });
});

test('helm release: with another storage driver (HELM_DRIVER=configmap), the state is what helm says', async () => {
  const cm: HelmContext = { ...ctx, env: { ...ctx.env, HELM_DRIVER: 'configmap' } };
  await upgradeInstall(cm, { ...release, chart, values: [{ greeting: 'in a configmap' }] });
  try {
    await releaseStateAgrees(cm);
    assert.deepEqual((await releaseState(cm, release))?.values, { greeting: 'in a configmap' });
    // Helm with its default driver sees no such release, and neither does a read of the Secrets.
    forgetReleaseStates();
    assert.equal(await releaseState(ctx, release), undefined);
  } finally {
    await uninstall(cm, release);
  }
});

// 1.10 is the newest version that needs the rewrite; 1.8's chart cannot install on this Kubernetes
// (a v1beta1 CRD, see the compatibility table).
test('helm release: Cilium 1.10.20 with Hubble Relay is installed with the rewritten relay hostPath', async () => {
  const snapData = '/var/snap/microk8s/current';
  const values = await ciliumValues({ version: '1.10.20', snapData, snapCommon: '/var/snap/microk8s/common', podCidr: '10.1.0.0/16', hubble: { relay: true, ui: false } });
  const cilium = { release: 'cilium', namespace: 'kube-system' };
  await upgradeInstall(ctx, {
    ...cilium,
    chart: path.join(ROOT, 'charts', 'cilium', 'cilium-1.10.20.tgz'),
    values: [values],
    postRenderer: ciliumPostRenderer('1.10.20', snapData),
  });
  assert.equal((await status(ctx, cilium))?.info.status, 'deployed');
  // What the API server holds, and what the release recorded, both carry the rewrite.
  const live = JSON.parse((await cp.kubectl(['-n', 'kube-system', 'get', 'deployment', 'hubble-relay', '-o', 'json'])).stdout) as unknown;
  assert.deepEqual(hostPathsOf(live), [{ volume: 'hubble-sock-dir', path: `${snapData}/var/run/cilium` }]);
  const manifest = (await cp.helm(['get', 'manifest', 'cilium', '--namespace', 'kube-system'])).stdout;
  const relay = yaml.loadAll(manifest).find((d) => (d as { kind?: string; metadata?: { name?: string } } | null)?.metadata?.name === 'hubble-relay' && (d as { kind: string }).kind === 'Deployment');
  assert.deepEqual(hostPathsOf(relay), [{ volume: 'hubble-sock-dir', path: `${snapData}/var/run/cilium` }]);
  await uninstall(ctx, cilium);
});
