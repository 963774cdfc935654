import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runChecked } from '../../src/adapters/process.js';
import { PreconditionError, StepError } from '../../src/errors.js';
import {
  BUILD_SCRIPT_HINT,
  CONTROL_PLANE_VERSIONS,
  controlPlaneCacheBinDir,
  locateControlPlaneBinaries,
} from '../../src/sandbox/binaries.js';
import {
  controlPlaneStatus,
  isRunning,
  kubeApi,
  loadControlPlane,
  restartComponent,
  startControlPlane,
  stopControlPlane,
} from '../../src/sandbox/control-plane.js';
import { ROOT } from '../support/cli.js';
import { CONTROL_PLANE_ROOT, useControlPlane } from '../support/control-plane.js';

// A marker that must reach the daemons, and a proxy variable of ours that must not (the env is exact).
process.env.HTTPS_PROXY = 'http://proxy.invalid:3128';
const daemonEnv = { PATH: '/usr/bin:/bin', MK8S_ADDONS_TEST: 'control-plane' };
const cp = await useControlPlane({ nodes: 2, env: daemonEnv });

const tempDir = (prefix: string) => mkdtempSync(path.join(tmpdir(), prefix));

function environOf(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

interface PodList {
  items: { spec: { nodeName?: string; volumes?: { name: string }[] }; status: { conditions?: { type: string; status: string }[] } }[];
}

async function podsOf(namespace: string, selector: string): Promise<PodList['items']> {
  const r = await kubeApi<PodList>(cp, 'GET', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`);
  assert.equal(r.status, 200);
  return r.body.items;
}

const isReady = (pod: PodList['items'][number]) => pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

const WORKLOADS = `
apiVersion: apps/v1
kind: DaemonSet
metadata: { name: probe-ds, namespace: default }
spec:
  selector: { matchLabels: { app: probe-ds } }
  template:
    metadata: { labels: { app: probe-ds } }
    spec:
      tolerations: [{ operator: Exists }]
      containers: [{ name: agent, image: registry.invalid/agent:1 }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: probe-deploy, namespace: default }
spec:
  replicas: 3
  selector: { matchLabels: { app: probe-deploy } }
  template:
    metadata: { labels: { app: probe-deploy } }
    spec:
      containers: [{ name: web, image: registry.invalid/web:1 }]
`;

test('the build script builds the versions the binaries module looks for, and prints only the bin folder', async () => {
  const script = readFileSync(path.join(ROOT, 'scripts', 'build-control-plane.sh'), 'utf8');
  const pinned = (name: string) => script.match(new RegExp(`^${name}="([^"]+)"$`, 'm'))?.[1];
  assert.deepEqual(
    { kubernetes: pinned('K8S_VERSION'), etcd: pinned('ETCD_VERSION'), kwok: pinned('KWOK_VERSION') },
    CONTROL_PLANE_VERSIONS,
  );
  // Everything is built already (the control plane above runs), so this only checks the cache.
  const r = await runChecked(['bash', [path.join(ROOT, 'scripts', 'build-control-plane.sh'), '--quiet']], { env: { ...process.env, KUBEBUILDER_ASSETS: '' } });
  assert.equal(r.stdout, `${controlPlaneCacheBinDir()}\n`);
  assert.equal(r.stderr, '');
});

test('binaries come from KUBEBUILDER_ASSETS one by one, else from the build cache', () => {
  const cache = tempDir('mk8s-cp-cache-');
  const assets = tempDir('mk8s-cp-assets-');
  try {
    const env = { HOME: '/nonexistent', MK8S_ADDONS_CACHE: cache, KUBEBUILDER_ASSETS: assets };
    const cacheBin = controlPlaneCacheBinDir(env);
    const { kubernetes, etcd, kwok } = CONTROL_PLANE_VERSIONS;
    assert.equal(cacheBin, path.join(cache, 'control-plane', `k8s-${kubernetes}-etcd-${etcd}-kwok-${kwok}`, 'bin'));
    mkdirSync(cacheBin, { recursive: true });
    for (const name of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      writeFileSync(path.join(cacheBin, name), '#!/bin/sh\n', { mode: 0o755 });
    }
    writeFileSync(path.join(assets, 'etcd'), '#!/bin/sh\n', { mode: 0o755 });
    // Present but not executable: not a candidate.
    writeFileSync(path.join(assets, 'kube-apiserver'), '#!/bin/sh\n', { mode: 0o644 });

    assert.throws(
      () => locateControlPlaneBinaries({ env }),
      (err: unknown) => {
        assert.ok(err instanceof PreconditionError);
        assert.equal(err.message, `the local control plane needs kwok, not found in ${assets} nor in ${cacheBin}: ${BUILD_SCRIPT_HINT}`);
        return true;
      },
    );
    writeFileSync(path.join(cacheBin, 'kwok'), '#!/bin/sh\n', { mode: 0o755 });
    assert.deepEqual(locateControlPlaneBinaries({ env }), {
      etcd: path.join(assets, 'etcd'),
      'kube-apiserver': path.join(cacheBin, 'kube-apiserver'),
      'kube-controller-manager': path.join(cacheBin, 'kube-controller-manager'),
      'kube-scheduler': path.join(cacheBin, 'kube-scheduler'),
      kwok: path.join(cacheBin, 'kwok'),
    });
    chmodSync(path.join(assets, 'kube-apiserver'), 0o755);
    assert.equal(locateControlPlaneBinaries({ env })['kube-apiserver'], path.join(assets, 'kube-apiserver'));
  } finally {
    rmSync(cache, { recursive: true, force: true });
    rmSync(assets, { recursive: true, force: true });
  }
});

test('loading a folder without a control plane says to start one', () => {
  const dir = tempDir('mk8s-cp-empty-');
  try {
    assert.throws(() => loadControlPlane(dir), new PreconditionError(`there is no control plane in ${dir} (no control-plane.json): start one first`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the state file lets another process find the control plane', () => {
  const loaded = loadControlPlane(cp.dir);
  assert.equal(loaded.server, cp.server);
  assert.match(cp.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(loaded.kubernetesVersion, CONTROL_PLANE_VERSIONS.kubernetes);
  assert.deepEqual(loaded.nodes, ['node-0', 'node-1']);
  assert.equal(loaded.kubeconfig, path.join(cp.dir, 'admin.kubeconfig'));
  assert.deepEqual(
    controlPlaneStatus(cp.dir).map((c) => [c.name, c.alive]),
    [
      ['etcd', true],
      ['kube-apiserver', true],
      ['kube-controller-manager', true],
      ['kube-scheduler', true],
      ['kwok', true],
    ],
  );
});

test('the daemons are detached and run with exactly the environment given', () => {
  for (const c of controlPlaneStatus(cp.dir)) {
    assert.deepEqual(environOf(c.pid), daemonEnv, c.name);
    // Field 6 of /proc/PID/stat is the session: a detached daemon leads its own.
    const stat = readFileSync(`/proc/${c.pid}/stat`, 'utf8');
    assert.equal(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3], String(c.pid), c.name);
  }
});

test('the admin kubeconfig trusts the apiserver CA and the fake nodes are Ready', async () => {
  const kubeconfig = readFileSync(cp.kubeconfig, 'utf8');
  assert.match(kubeconfig, /certificate-authority-data: /);
  assert.doesNotMatch(kubeconfig, /insecure-skip-tls-verify/);
  const r = await cp.kubectl(['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{" "}{end}']);
  assert.equal(r.stdout, 'node-0=True node-1=True ');
  const sa = await cp.kubectl(['get', 'serviceaccount', 'default', '-n', 'kube-system', '-o', 'name']);
  assert.equal(sa.stdout, 'serviceaccount/default\n');
});

test('a DaemonSet and a Deployment roll out to Ready on the fake nodes', async () => {
  await cp.kubectl(['apply', '-f', '-'], { input: WORKLOADS });
  await cp.kubectl(['rollout', 'status', 'daemonset/probe-ds', '-n', 'default', '--timeout=180s']);
  await cp.kubectl(['rollout', 'status', 'deployment/probe-deploy', '-n', 'default', '--timeout=180s']);

  const ds = await podsOf('default', 'app=probe-ds');
  assert.deepEqual(ds.map((p) => p.spec.nodeName).sort(), ['node-0', 'node-1']);
  assert.ok(ds.every(isReady));
  const deploy = await podsOf('default', 'app=probe-deploy');
  assert.equal(deploy.filter(isReady).length, 3);
  // Admitted with a projected ServiceAccount token: the signing key and root CA are wired up.
  assert.ok(deploy.every((p) => p.spec.volumes?.some((v) => v.name.startsWith('kube-api-access-'))));
});

test('helm installs the Cilium 1.8 chart and its DaemonSet is Ready on every fake node', async () => {
  await cp.helm([
    'upgrade', '--install', 'cilium', path.join(ROOT, 'charts', 'cilium', 'cilium-1.8.13.tgz'),
    '-n', 'kube-system',
    // The 1.8 chart ships an apiextensions.k8s.io/v1beta1 CRD (ServiceMonitor) that Kubernetes >= 1.22 does not serve.
    '--skip-crds',
    '--set', 'global.cni.binPath=/var/snap/microk8s/current/opt/cni/bin',
    '--set', 'global.cni.confPath=/var/snap/microk8s/current/args/cni-network',
    '--set', 'global.cni.customConf=true',
    '--set', 'global.containerRuntime.integration=containerd',
    '--set', 'global.containerRuntime.socketPath=/var/snap/microk8s/common/run/containerd.sock',
    '--set', 'global.daemon.runPath=/var/snap/microk8s/current/var/run/cilium',
    '--set', 'global.ipam.operator.clusterPoolIPv4PodCIDR=10.1.0.0/16',
  ]);
  await cp.kubectl(['rollout', 'status', 'daemonset/cilium', '-n', 'kube-system', '--timeout=180s']);
  await cp.kubectl(['rollout', 'status', 'deployment/cilium-operator', '-n', 'kube-system', '--timeout=180s']);

  const r = await kubeApi<{ status: { desiredNumberScheduled: number; numberReady: number } }>(cp, 'GET', '/apis/apps/v1/namespaces/kube-system/daemonsets/cilium');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.status.desiredNumberScheduled, 2);
  assert.deepEqual(r.body.status.numberReady, 2);
  const agents = await podsOf('kube-system', 'k8s-app=cilium');
  assert.deepEqual(agents.map((p) => p.spec.nodeName).sort(), ['node-0', 'node-1']);
  assert.ok(agents.every(isReady));
  const list = await cp.helm(['list', '-n', 'kube-system', '-o', 'json']);
  assert.deepEqual(
    (JSON.parse(list.stdout) as { name: string; status: string; chart: string }[]).map((h) => [h.name, h.status, h.chart]),
    [['cilium', 'deployed', 'cilium-1.8.13']],
  );
});

test('deleting a namespace with pods in it completes', async () => {
  await cp.kubectl(['create', 'namespace', 'doomed']);
  await cp.kubectl(['create', 'deployment', 'web', '-n', 'doomed', '--image=registry.invalid/web:1', '--replicas=2']);
  await cp.kubectl(['rollout', 'status', 'deployment/web', '-n', 'doomed', '--timeout=180s']);
  await cp.kubectl(['delete', 'namespace', 'doomed', '--wait=true', '--timeout=180s']);
  const r = await kubeApi(cp, 'GET', '/api/v1/namespaces/doomed');
  assert.equal(r.status, 404);
});

test('a component restarts alone with a new environment', async () => {
  const before = loadControlPlane(cp.dir).components['kube-apiserver'];
  const newEnv = { PATH: '/usr/bin:/bin', MK8S_ADDONS_TEST: 'restarted' };
  const after = (await restartComponent(cp.dir, 'kube-apiserver', { env: newEnv })).components['kube-apiserver'];
  assert.notEqual(after.pid, before.pid);
  assert.equal(isRunning(before), false);
  assert.deepEqual(environOf(after.pid), newEnv);
  assert.equal(loadControlPlane(cp.dir).components['kube-apiserver'].pid, after.pid);
  // Same port, same serving cert, data kept: the old kubeconfig still works and the workloads are there.
  const r = await cp.kubectl(['get', 'daemonset', 'probe-ds', '-n', 'default', '-o', 'jsonpath={.status.numberReady}']);
  assert.equal(r.stdout, '2');
});

test('a component that does not come up fails the start with the tail of its log, leaves nothing running, and can be fixed', async () => {
  const dir = tempDir('mk8s-cp-broken-');
  const binDir = path.join(dir, 'bin');
  mkdirSync(binDir);
  // A stand-in kube-apiserver that fails the way a bad flag does; the other binaries come from the cache.
  writeFileSync(path.join(binDir, 'kube-apiserver'), '#!/bin/sh\necho "Error: unknown flag: --bogus" >&2\necho "usage: kube-apiserver [flags]" >&2\nexit 1\n', { mode: 0o755 });
  try {
    const log = path.join(dir, 'state', 'logs', 'kube-apiserver.log');
    await assert.rejects(
      startControlPlane({ dir: path.join(dir, 'state'), binDir, env: daemonEnv }),
      new StepError(
        `kube-apiserver exited with code 1 before the control plane was ready; last lines of ${log}: Error: unknown flag: --bogus | usage: kube-apiserver [flags]`,
        { phase: 'sandbox/control-plane/kube-apiserver' },
      ),
    );
    const { etcd } = loadControlPlane(path.join(dir, 'state')).components;
    assert.ok(etcd.pid > 0, 'etcd was started before the apiserver');
    assert.equal(exited(etcd), true);

    // Started again without the broken binary, the same folder comes up on the ports it recorded.
    const fixed = await startControlPlane({ dir: path.join(dir, 'state'), env: daemonEnv });
    assert.equal(fixed.ports.etcdClient, loadControlPlane(path.join(dir, 'state')).ports.etcdClient);
    assert.equal(fixed.components['kube-apiserver'].command[0], locateControlPlaneBinaries()['kube-apiserver']);
    assert.deepEqual(fixed.nodes, ['node-0']);
    await stopControlPlane(path.join(dir, 'state'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** True when the process is gone, a zombie, or a different process that reused the pid. */
function exited(c: { pid: number; startTime: string }): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${c.pid}/stat`, 'utf8');
  } catch {
    return true;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[19] !== c.startTime;
}

test('a stopped control plane leaves no process, starts again with its data, and its folder can be removed', async () => {
  const first = Object.values(loadControlPlane(cp.dir).components);
  assert.equal(first.length, 5);
  assert.ok(first.every((c) => !exited(c)));
  await stopControlPlane(cp.dir);
  assert.deepEqual(first.filter((c) => !exited(c)).map((c) => c.command[0]), []);
  assert.deepEqual(controlPlaneStatus(cp.dir).filter((c) => c.alive), []);
  await stopControlPlane(cp.dir);

  const again = await startControlPlane({ dir: cp.dir, env: daemonEnv });
  assert.equal(again.server, cp.server);
  const r = await cp.kubectl(['get', 'deployment', 'probe-deploy', '-n', 'default', '-o', 'name']);
  assert.equal(r.stdout, 'deployment.apps/probe-deploy\n');

  await cp.teardown();
  assert.deepEqual(Object.values(again.components).filter((c) => !exited(c)).map((c) => c.command[0]), []);
  assert.equal(path.dirname(cp.dir), CONTROL_PLANE_ROOT);
  assert.equal(existsSync(cp.dir), false);
});
