/**
 * Preflight, proxy-free environments, nested invocations under one lock, and the service managers'
 * command tuples (snapd and systemd cannot run here: their calls are checked against a table).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, mkdirSync, rmSync, chmodSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, CLI } from '../support/cli.js';
import { makeNode, nodeTree, jsonEvents, TEST_ADDONS } from '../support/node.js';
import { hostManager, snapctlManager } from '../../src/engine/services.js';
import type { Command, RunOptions, RunResult } from '../../src/adapters/process.js';

const env = { MK8S_ADDONS_ADDONS_DIR: TEST_ADDONS };

test('preflight: no node, a worker node, a stopped node, no permission: exit 3, nothing changed', () => {
  const missing = runCli(['enable', 'netdemo', '--snap-data', '/nonexistent-mk8s', '--output', 'json'], { env });
  assert.equal(missing.code, 3);
  assert.equal(
    jsonEvents(missing.stdout)[0]!.message,
    'MicroK8s not found: /nonexistent-mk8s/args does not exist; install MicroK8s (sudo snap install microk8s --classic), point --snap-data at a node, or try a sandbox node (mk8s-addons sandbox up)',
  );
  const table: [string, string][] = [
    ['clustered.lock', 'this node is a worker of a MicroK8s cluster (var/lock/clustered.lock exists); run mk8s-addons on a control-plane node'],
    ['stopped.lock', 'MicroK8s is stopped (var/lock/stopped.lock exists); start it first: mk8s-addons start (or microk8s start)'],
  ];
  for (const [lock, message] of table) {
    const n = makeNode('1.35');
    try {
      writeFileSync(path.join(n.snapData, 'var', 'lock', lock), '');
      const before = nodeTree(n);
      const r = runCli(['enable', 'netdemo', ...n.flags], { env });
      assert.equal(r.code, 3, lock);
      assert.equal(r.stderr, `mk8s-addons: error: ${message}\n`);
      assert.deepEqual(nodeTree(n), before);
    } finally {
      n.cleanup();
    }
  }
  // Permission: as an unprivileged user (setpriv, as root here) on a root-owned node.
  const n = makeNode('1.20');
  try {
    chmodSync(n.root, 0o755);
    const r = runCliAs('nobody', ['enable', 'netdemo', ...n.flags]);
    assert.equal(r.code, 3, r.stderr);
    assert.equal(r.stderr, `mk8s-addons: error: no permission to change ${n.snapData}; run mk8s-addons with sudo\n`);
  } finally {
    n.cleanup();
  }
});

/** Runs the CLI as another user (setpriv; the tests run as root). */
function runCliAs(user: string, args: string[]) {
  const r = spawnSync('setpriv', ['--reuid', user, '--regid', 'nogroup', '--clear-groups', process.execPath, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env, NO_COLOR: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('proxy variables are removed for services and cluster calls, and the output says which', () => {
  const n = makeNode('1.35');
  try {
    const r = runCli(['enable', 'netdemo', ...n.flags, '--output', 'json'], { env: { ...env, HTTPS_PROXY: 'http://proxy.invalid:3128', no_proxy: 'localhost' } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(jsonEvents(r.stdout)[0], {
      type: 'note',
      phase: 'preflight',
      message: 'proxy variables removed for MicroK8s services and cluster calls: HTTPS_PROXY, no_proxy (--keep-proxy keeps them)',
    });
    const kept = runCli(['disable', 'netdemo', ...n.flags, '--output', 'json', '--keep-proxy'], { env: { ...env, HTTPS_PROXY: 'http://proxy.invalid:3128' } });
    assert.equal(kept.code, 0);
    assert.ok(!kept.stdout.includes('proxy variables removed'));
  } finally {
    n.cleanup();
  }
});

test('an addon step that runs mk8s-addons again (a nested invocation) does not deadlock on the lock', () => {
  const n = makeNode('1.35');
  const catalogue = mkdtempSync(path.join(tmpdir(), 'mk8s-nested-'));
  try {
    mkdirSync(path.join(catalogue, 'outer'));
    mkdirSync(path.join(catalogue, 'netdemo'));
    writeFileSync(path.join(catalogue, 'netdemo', 'manifest.yaml'), readFixture('netdemo'));
    writeFileSync(
      path.join(catalogue, 'outer', 'manifest.yaml'),
      `name: outer
description: Enables netdemo through a second mk8s-addons process, as MicroK8s's scripts enable their dependencies
steps:
  - name: nested
    kind: process
    description: Run mk8s-addons enable netdemo
    params:
      command: [${JSON.stringify(process.execPath)}, [${JSON.stringify(CLI)}, enable, netdemo, --snap, "\${SNAP}", --snap-data, "\${SNAP_DATA}", --snap-common, "\${SNAP_COMMON}", --lock-timeout, 2s]]
`,
    );
    const r = runCli(['enable', 'outer', ...n.flags, '--output', 'json', '--lock-timeout', '2s'], { env: { MK8S_ADDONS_ADDONS_DIR: catalogue } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const journal = JSON.parse(readFileSync(path.join(n.snapData, 'var', 'mk8s-addons', 'journal.json'), 'utf8'));
    assert.deepEqual(Object.keys(journal.addons).sort(), ['netdemo', 'outer']);
  } finally {
    n.cleanup();
    rmSync(catalogue, { recursive: true, force: true });
  }
});

function readFixture(name: string) {
  return readFileSync(path.join(TEST_ADDONS, name, 'manifest.yaml'), 'utf8');
}

/** A process runner that accepts only the commands in `table` (keyed by the printed tuple). */
function tableRunner(table: Record<string, RunResult>) {
  const calls: string[] = [];
  const run = async (cmd: Command, _opts?: RunOptions): Promise<RunResult> => {
    const key = [cmd[0], ...cmd[1]].join(' ');
    calls.push(key);
    const r = table[key];
    if (!r) throw new Error(`unexpected command: ${key}`);
    return r;
  };
  return { run, calls };
}

const ok = (stdout = ''): RunResult => ({ stdout, stderr: '', exitCode: 0 });

test('host service manager: snap restart microk8s.daemon-X, or systemctl when snap is missing', async () => {
  const snap = tableRunner({
    'snap restart microk8s.daemon-kubelite': ok(),
    'snap stop microk8s.daemon-flanneld': ok(),
    'systemctl is-active snap.microk8s.daemon-kubelite.service': ok('active\n'),
  });
  const m = hostManager(snap.run, true);
  await m.act('restart', 'kubelite', { env: {} });
  await m.act('stop', 'flanneld', { env: {} });
  assert.equal(await m.isActive('kubelite'), true);
  assert.equal(m.describe('restart', 'containerd'), 'snap restart microk8s.daemon-containerd');
  const sd = tableRunner({ 'systemctl start snap.microk8s.daemon-flanneld.service': ok() });
  await hostManager(sd.run, false).act('start', 'flanneld', { env: {} });
  assert.deepEqual(sd.calls, ['systemctl start snap.microk8s.daemon-flanneld.service']);
  const failing = tableRunner({ 'snap restart microk8s.daemon-containerd': { stdout: '', stderr: 'error: snap "microk8s" has no service "daemon-containerd"', exitCode: 1 } });
  await assert.rejects(hostManager(failing.run, true).act('restart', 'containerd', { env: {} }), {
    message: 'snap restart microk8s.daemon-containerd failed: error: snap "microk8s" has no service "daemon-containerd"; check "journalctl -u snap.microk8s.daemon-containerd"',
  });
});

test('snapctl service manager, inside the snap', async () => {
  const t = tableRunner({ 'snapctl restart microk8s.daemon-apiserver': ok(), 'snapctl services microk8s.daemon-apiserver': ok('Service  Startup  Current  Notes\nmicrok8s.daemon-apiserver  enabled  active  -\n') });
  const m = snapctlManager(t.run);
  await m.act('restart', 'apiserver', { env: {} });
  assert.equal(await m.isActive('apiserver'), true);
  assert.deepEqual(t.calls, ['snapctl restart microk8s.daemon-apiserver', 'snapctl services microk8s.daemon-apiserver']);
});
