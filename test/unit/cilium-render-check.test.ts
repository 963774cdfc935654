/**
 * Render checks (src/cilium/render-check.ts) with the real `helm template` on the pinned Cilium charts,
 * the hostPath rewrites applied in-process, and compared with what the shipped post-renderer
 * (scripts/post-render-hostpath.mjs) that the install runs makes of the same render.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/cli.js';
import { template, type HelmContext } from '../../src/adapters/helm.js';
import { mergeUserValues } from '../../src/cilium/helm-values.js';
import { ciliumHostPathRewrites, ciliumPostRenderer } from '../../src/cilium/post-render.js';
import { assertRenderOk, checkRenderedManifests, parseManifests, renderCheck, type RenderProblem } from '../../src/cilium/render-check.js';
import { ciliumValues } from '../../src/cilium/values.js';
import { hostPathsOf } from '../../src/cilium/post-render.js';

const SNAP_DATA = '/var/snap/microk8s/current';
const helmHome = mkdtempSync(path.join(os.tmpdir(), 'render-check-helm-'));
process.on('exit', () => rmSync(helmHome, { recursive: true, force: true }));
const ctx: HelmContext = {
  helm: path.join(ROOT, 'vendor', 'bin', 'helm'),
  env: { PATH: process.env.PATH, HOME: helmHome, HELM_CACHE_HOME: helmHome, HELM_CONFIG_HOME: helmHome, HELM_DATA_HOME: helmHome },
};
const chart = (version: string) => path.join(ROOT, 'charts', 'cilium', `cilium-${version}.tgz`);

async function render(version: string, opts: { rewrite?: boolean; snapData?: string; set?: string[]; hubble?: { relay: boolean; ui: boolean } } = {}) {
  const snapData = opts.snapData ?? SNAP_DATA;
  const hubble = opts.hubble;
  const ours = await ciliumValues({ version, snapData, snapCommon: '/var/snap/microk8s/common', podCidr: '10.1.0.0/16', hubble });
  const values = mergeUserValues([ours], { set: opts.set ?? [] });
  return renderCheck(ctx, {
    chart: chart(version),
    values,
    rewrites: opts.rewrite === false ? undefined : ciliumHostPathRewrites(version, snapData),
    expect: { snapData, podCidr: '10.1.0.0/16', hubble },
  });
}

const relayHostPaths = (manifests: string) =>
  hostPathsOf(parseManifests(manifests).find((o) => o.kind === 'Deployment' && o.metadata?.name === 'hubble-relay'));

for (const version of ['1.8.13', '1.9.18', '1.10.20']) {
  test(`render check: ${version} with Hubble Relay: the rewrite moves relay's /var/run/cilium under $SNAP_DATA`, async () => {
    const hubble = { relay: true, ui: true };
    const withRewrite = await render(version, { hubble });
    assert.deepEqual(withRewrite.problems, []);
    assert.deepEqual(relayHostPaths(withRewrite.manifests), [{ volume: 'hubble-sock-dir', path: `${SNAP_DATA}/var/run/cilium` }]);

    const without = await render(version, { hubble, rewrite: false });
    assert.deepEqual(without.problems, [
      {
        object: 'Deployment hubble-relay',
        message: `hostPath /var/run/cilium (volume hubble-sock-dir) is the stock path; on MicroK8s it is ${SNAP_DATA}/var/run/cilium`,
      },
    ]);
  });
}

test('render check: 1.20.0 with Hubble Relay and UI needs no rewrite and fits MicroK8s', async () => {
  assert.equal(ciliumPostRenderer('1.20.0', SNAP_DATA), undefined);
  const r = await render('1.20.0', { hubble: { relay: true, ui: true } });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(relayHostPaths(r.manifests), []);
  const objects = parseManifests(r.manifests);
  const agent = objects.find((o) => o.kind === 'DaemonSet' && o.metadata?.name === 'cilium');
  const paths = hostPathsOf(agent).map((h) => h.path);
  for (const p of [`${SNAP_DATA}/var/run/cilium`, `${SNAP_DATA}/opt/cni/bin`, `${SNAP_DATA}/args/cni-network`]) assert.ok(paths.includes(p), p);
  // The rest stay where Cilium wants them.
  for (const p of ['/sys/fs/bpf', '/proc', '/lib/modules', '/run/xtables.lock', '/var/run/netns']) assert.ok(paths.includes(p), p);
});

test('render check: 1.20.0 without Hubble renders no relay or UI', async () => {
  const r = await render('1.20.0');
  assert.deepEqual(r.problems, []);
  const names = parseManifests(r.manifests).map((o) => `${o.kind}/${o.metadata?.name}`);
  assert.ok(!names.includes('Deployment/hubble-relay'));
  assert.ok(!names.includes('Deployment/hubble-ui'));
});

test('render check: a $SNAP_DATA with spaces and quotes reaches the manifests intact', async () => {
  const snapData = `/var/snap/micro k8s/it's "current"`;
  const r = await render('1.8.13', { snapData, hubble: { relay: true, ui: false } });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(relayHostPaths(r.manifests), [{ volume: 'hubble-sock-dir', path: `${snapData}/var/run/cilium` }]);
});

// The check renders once and rewrites in-process; the install runs helm with the post-renderer. Both must
// give the same bytes, or the check would not be checking what gets installed. (1.9 and 1.10 generate
// Hubble's TLS certificates and keys at every render: those random base64 runs are masked.)
const withoutGeneratedKeys = (manifests: string) => manifests.replace(/[A-Za-z0-9+/=]{40,}/g, '<generated>');
for (const [version, snapData] of [
  ['1.8.13', SNAP_DATA],
  ['1.9.18', SNAP_DATA],
  ['1.10.20', `/var/snap/micro k8s/it's "current"`],
] as const) {
  test(`render check: ${version}: the in-process rewrite gives exactly what helm template prints with the install's post-renderer`, async () => {
    const hubble = { relay: true, ui: true };
    const checked = await render(version, { snapData, hubble });
    const values = await ciliumValues({ version, snapData, snapCommon: '/var/snap/microk8s/common', podCidr: '10.1.0.0/16', hubble });
    const postRenderer = ciliumPostRenderer(version, snapData);
    assert.ok(postRenderer);
    const installed = await template(ctx, { release: 'cilium', chart: chart(version), namespace: 'kube-system', values: [values], postRenderer });
    assert.equal(withoutGeneratedKeys(checked.manifests), withoutGeneratedKeys(installed));
    assert.deepEqual(relayHostPaths(installed), [{ volume: 'hubble-sock-dir', path: `${snapData}/var/run/cilium` }]);
  });
}

test('render check: a hostPath the rewrite cannot reach is a problem of the render, as the post-renderer would fail the install', async () => {
  // A chart of our own whose relay writes its hostPath in flow style, which the textual rewrite does not edit.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'render-check-chart-'));
  try {
    mkdirSync(path.join(dir, 'templates'));
    writeFileSync(path.join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: flow\nversion: 0.1.0\n');
    writeFileSync(
      path.join(dir, 'templates', 'relay.yaml'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hubble-relay\nspec:\n  template:\n    spec:\n      volumes:\n        - name: hubble-sock-dir\n          hostPath: {path: /var/run/cilium, type: Directory}\n',
    );
    const r = await renderCheck(ctx, { chart: dir, values: {}, rewrites: ciliumHostPathRewrites('1.10.20', SNAP_DATA), expect: { snapData: SNAP_DATA } });
    assert.deepEqual(r.problems, [
      { object: 'hostPath rewrite', message: `Deployment hubble-relay: could not rewrite hostPath /var/run/cilium (volume hubble-sock-dir) to ${SNAP_DATA}/var/run/cilium` },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('render check: user values that undo the MicroK8s layout are reported', async () => {
  const r = await render('1.20.0', { set: ['cni.binPath=/opt/cni/bin', 'operator.replicas=2', 'kubeProxyReplacement=true'] });
  const expected: RenderProblem[] = [
    { object: 'DaemonSet cilium', message: `hostPath /opt/cni/bin (volume cni-path) is the stock path; on MicroK8s it is ${SNAP_DATA}/opt/cni/bin` },
    { object: 'DaemonSet cilium', message: `no hostPath ${SNAP_DATA}/opt/cni/bin (the CNI bin dir, cni.binPath)` },
    { object: 'ConfigMap cilium-config', message: 'kube-proxy-replacement is "true", want "disabled" or "false" (MicroK8s runs kube-proxy)' },
    { object: 'Deployment cilium-operator', message: 'runs 2 replicas, want 1 (one node fits one)' },
  ];
  assert.deepEqual(r.problems, expected);
  assert.throws(() => assertRenderOk('cilium 1.20.0', r.problems), {
    name: 'UsageError',
    message: `the rendered cilium 1.20.0 chart does not fit MicroK8s: ${expected.map((p) => `${p.object}: ${p.message}`).join('; ')}; drop the --set / -f values that change these paths or settings`,
  });
  assert.doesNotThrow(() => assertRenderOk('cilium 1.20.0', []));
});

test('render check: missing objects and a wrong pod CIDR are reported (pure check)', () => {
  assert.deepEqual(checkRenderedManifests('', { snapData: SNAP_DATA, hubble: { relay: true, ui: true } }), [
    { object: 'DaemonSet cilium', message: 'the agent DaemonSet is not rendered' },
    { object: 'ConfigMap cilium-config', message: 'not rendered' },
    { object: 'Deployment cilium-operator', message: 'not rendered' },
    { object: 'Deployment hubble-relay', message: 'not rendered, but Hubble Relay was asked for' },
    { object: 'Deployment hubble-ui', message: 'not rendered, but the Hubble UI was asked for' },
  ]);
  const config = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cilium-config}\ndata:\n  custom-cni-conf: "false"\n  kube-proxy-replacement: "disabled"\n  cluster-pool-ipv4-cidr: "10.0.0.0/8"\n';
  assert.deepEqual(
    checkRenderedManifests(config, { snapData: SNAP_DATA, podCidr: '10.1.0.0/16' }).filter((p) => p.object === 'ConfigMap cilium-config'),
    [
      { object: 'ConfigMap cilium-config', message: 'custom-cni-conf is "false", want "true" (mk8s-addons writes the CNI config)' },
      { object: 'ConfigMap cilium-config', message: 'cluster-pool-ipv4-cidr is "10.0.0.0/8", want "10.1.0.0/16"' },
    ],
  );
});
