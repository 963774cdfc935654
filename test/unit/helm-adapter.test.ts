/**
 * The helm adapter (src/adapters/helm.ts): the command tuples, the values files, and real helm runs
 * that need no cluster (template, show values, and the errors of the cluster calls when there is none).
 * helm-release.test.ts runs the release calls against a real API server.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { ROOT } from '../support/cli.js';
import { printCommand } from '../../src/adapters/process.js';
import {
  getValues,
  helmGetValuesCommand,
  helmListCommand,
  helmRollbackCommand,
  helmShowValuesCommand,
  helmStatusCommand,
  helmTemplateCommand,
  helmUninstallCommand,
  helmUpgradeInstallCommand,
  list,
  showValues,
  status,
  template,
  valuesFileText,
  withValuesFiles,
  type HelmContext,
} from '../../src/adapters/helm.js';

const HELM = path.join(ROOT, 'vendor', 'bin', 'helm');
const dir = mkdtempSync(path.join(os.tmpdir(), 'helm-adapter-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env.PATH, HOME: dir, HELM_CACHE_HOME: dir, HELM_CONFIG_HOME: dir, HELM_DATA_HOME: dir };
const ctx: HelmContext = { helm: HELM, env };
const k = { helm: 'helm', kubeconfig: '/snap/data/credentials/client.config' };

test('helm adapter: every call is a [file, args] tuple', () => {
  const table: [string, ReturnType<typeof helmTemplateCommand>, string][] = [
    [
      'template',
      helmTemplateCommand(k, {
        release: 'cilium',
        chart: '/c/cilium-1.9.18.tgz',
        namespace: 'kube-system',
        valuesFiles: ['/t/values-1.json'],
        postRenderer: ['/usr/bin/node', ['/p/post.mjs', '--rewrite', 'Deployment/hubble-relay', '/var/run/cilium', '/s d/var/run/cilium']],
        kubeVersion: '1.31.0',
      }),
      "helm template cilium /c/cilium-1.9.18.tgz --namespace kube-system --values /t/values-1.json --kube-version 1.31.0 --post-renderer /usr/bin/node --post-renderer-args /p/post.mjs --post-renderer-args --rewrite --post-renderer-args Deployment/hubble-relay --post-renderer-args /var/run/cilium --post-renderer-args '/s d/var/run/cilium'",
    ],
    [
      'upgrade --install',
      helmUpgradeInstallCommand(k, { release: 'cilium', chart: '/c/cilium-1.20.0.tgz', namespace: 'kube-system', valuesFiles: ['/t/a.json', '/t/b.json'] }),
      'helm upgrade cilium /c/cilium-1.20.0.tgz --install --namespace kube-system --values /t/a.json --values /t/b.json --reset-values --wait=false --kubeconfig /snap/data/credentials/client.config',
    ],
    [
      'upgrade --install --reuse-values',
      helmUpgradeInstallCommand({ helm: 'helm' }, { release: 'cilium', chart: 'c.tgz', namespace: 'kube-system', reuseValues: true }),
      'helm upgrade cilium c.tgz --install --namespace kube-system --reuse-values --wait=false',
    ],
    [
      'uninstall',
      helmUninstallCommand(k, { release: 'cilium', namespace: 'kube-system' }),
      'helm uninstall cilium --namespace kube-system --kubeconfig /snap/data/credentials/client.config',
    ],
    ['uninstall --keep-history', helmUninstallCommand({ helm: 'helm' }, { release: 'r', namespace: 'n', keepHistory: true }), 'helm uninstall r --namespace n --keep-history'],
    ['rollback', helmRollbackCommand({ helm: 'helm' }, { release: 'cilium', namespace: 'kube-system' }), 'helm rollback cilium --namespace kube-system --wait=false'],
    ['rollback to 3', helmRollbackCommand({ helm: 'helm' }, { release: 'cilium', namespace: 'kube-system', revision: 3 }), 'helm rollback cilium 3 --namespace kube-system --wait=false'],
    [
      'list',
      helmListCommand(k, { namespace: 'kube-system', filter: '^cilium$', all: true }),
      "helm list --namespace kube-system --filter '^cilium$' --all --output json --kubeconfig /snap/data/credentials/client.config",
    ],
    ['status', helmStatusCommand({ helm: 'helm' }, { release: 'cilium', namespace: 'kube-system' }), 'helm status cilium --namespace kube-system --output json'],
    [
      'get values --all',
      helmGetValuesCommand({ helm: 'helm' }, { release: 'cilium', namespace: 'kube-system', all: true }),
      'helm get values cilium --namespace kube-system --all --output json',
    ],
    ['show values', helmShowValuesCommand({ helm: 'helm' }, { chart: '/c/cilium-1.8.13.tgz' }), 'helm show values /c/cilium-1.8.13.tgz'],
  ];
  for (const [name, cmd, printed] of table) assert.equal(printCommand(cmd), printed, name);
});

test('helm adapter: values files are private, JSON, and gone afterwards, also when the call fails', async () => {
  let seen: string[] = [];
  const values = [{ a: 'x,y', b: { c: null, d: [1, 'two'] } }, { e: '{{ .Release.Name }}\n' }];
  const out = await withValuesFiles(values, async (files) => {
    seen = files;
    assert.equal(files.length, 2);
    assert.equal(statSync(path.dirname(files[0] ?? '')).mode & 0o777, 0o700);
    for (const [i, f] of files.entries()) {
      assert.equal(statSync(f).mode & 0o777, 0o600);
      assert.deepEqual(JSON.parse(readFileSync(f, 'utf8')), values[i]);
    }
    return 'done';
  });
  assert.equal(out, 'done');
  assert.ok(!existsSync(path.dirname(seen[0] ?? '/nonexistent')));

  await assert.rejects(
    withValuesFiles([{ a: 1 }], async (files) => {
      seen = files;
      throw new Error('helm failed');
    }),
    { message: 'helm failed' },
  );
  assert.ok(!existsSync(path.dirname(seen[0] ?? '/nonexistent')));
  assert.equal(await withValuesFiles([], async (files) => files.length), 0);
});

test('helm adapter: a value a values file cannot hold is an internal error, not a silent null', () => {
  assert.equal(valuesFileText({ a: [1, true, null, 'x'] }), '{\n  "a": [\n    1,\n    true,\n    null,\n    "x"\n  ]\n}\n');
  assert.throws(() => valuesFileText({ a: { b: Infinity } }), { name: 'InternalError', message: 'chart value b is Infinity, which a values file cannot hold' });
  assert.throws(() => valuesFileText({ a: undefined }), { name: 'InternalError', message: 'chart value a is a undefined, which a values file cannot hold' });
});

test('helm adapter: template renders with values passed as a file, so no value is re-read by helm', async () => {
  const chart = path.join(dir, 'dump');
  mkdirSync(path.join(chart, 'templates'), { recursive: true });
  writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: dump\nversion: 0.1.0\n');
  writeFileSync(path.join(chart, 'values.yaml'), 'keep: 1\n');
  writeFileSync(
    path.join(chart, 'templates', 'cm.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dump\n  namespace: {{ .Release.Namespace }}\ndata:\n  values.json: {{ toJson .Values | quote }}\n',
  );
  const tricky = { list: 'a,b', dotted: 'x.y=z', nul: 'null', tmpl: '{{ .Release.Name }}', yaml: 'key: [1, 2]\n- item', brace: '{a,b}', num: '007' };
  const out = await template(ctx, { release: 'r', chart, namespace: 'ns', values: [tricky, { keep: 2 }] });
  const cm = yaml.load(out) as { metadata: { namespace: string }; data: { 'values.json': string } };
  assert.equal(cm.metadata.namespace, 'ns');
  assert.deepEqual(JSON.parse(cm.data['values.json']), { ...tricky, keep: 2 });
  // One values document goes on helm's standard input (`--values -`): the same values reach the chart.
  const one = yaml.load(await template(ctx, { release: 'r', chart, namespace: 'ns', values: [{ ...tricky, keep: 3 }] })) as typeof cm;
  assert.deepEqual(JSON.parse(one.data['values.json']), { ...tricky, keep: 3 });
  // No values: the chart's own.
  const none = yaml.load(await template(ctx, { release: 'r', chart, namespace: 'ns' })) as typeof cm;
  assert.deepEqual(JSON.parse(none.data['values.json']), { keep: 1 });
});

test('helm adapter: a failing helm is a StepError with its stderr', async () => {
  await assert.rejects(template(ctx, { release: 'r', chart: path.join(dir, 'missing.tgz'), namespace: 'ns' }), {
    name: 'StepError',
    message: `${HELM} template r ${path.join(dir, 'missing.tgz')} --namespace ns exited with 1: Error: path "${path.join(dir, 'missing.tgz')}" not found`,
  });
});

test('helm adapter: show values prints the chart values.yaml (only the parent chart of an umbrella)', async () => {
  const text = await showValues(ctx, { chart: path.join(ROOT, 'charts', 'cilium', 'cilium-1.8.13.tgz') });
  const values = yaml.load(text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(values).sort(), ['agent', 'config', 'global', 'hubble-relay', 'operator', 'preflight']);
  assert.equal((values.operator as Record<string, unknown>).numReplicas, 2);
});

test('helm adapter: cluster calls without a reachable cluster fail with helm\'s reason', async () => {
  const kubeconfig = path.join(dir, 'unreachable.kubeconfig');
  writeFileSync(
    kubeconfig,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {token: t}}]\n',
    { mode: 0o600 },
  );
  const c: HelmContext = { ...ctx, kubeconfig, phase: 'enable/cilium/helm-release' };
  for (const call of [() => list(c, { namespace: 'kube-system' }), () => status(c, { release: 'cilium', namespace: 'kube-system' }), () => getValues(c, { release: 'cilium', namespace: 'kube-system' })]) {
    await assert.rejects(call(), (err: Error & { phase?: string }) => {
      assert.equal(err.name, 'StepError');
      assert.equal(err.phase, 'enable/cilium/helm-release');
      assert.ok(
        err.message.endsWith(' exited with 1: Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:1/version": dial tcp 127.0.0.1:1: connect: connection refused'),
        err.message,
      );
      return true;
    });
  }
});
