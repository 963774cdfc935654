/**
 * What a run on a node loads: a dry-run and a no-op re-run only read the cluster, over plain HTTPS, and
 * must not import @kubernetes/client-node (0.8 s); a run that changes the cluster does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { useSandbox } from '../support/sandbox.js';
import { spawnSync } from 'node:child_process';
import { CLI, ROOT } from '../support/cli.js';
import { encodeNodeRequest } from '../../src/cluster/payload.js';

const sandbox = useSandbox('1.35', { name: 'imports' });

function loaded(env: NodeJS.ProcessEnv, args: string[]): { code: number | null; modules: string; stdout: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'mk8s-imports-'));
  try {
    const file = path.join(dir, 'imports.txt');
    const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'test', 'support', 'record-imports.mjs'), CLI, ...args], {
      encoding: 'utf8',
      env: { ...env, MK8S_RECORD_IMPORTS: file, NO_COLOR: '1' },
    });
    return { code: r.status, modules: readFileSync(file, 'utf8'), stdout: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('dry-run and no-op re-run read over HTTPS; only a change loads the Kubernetes client', () => {
  const sb = sandbox();
  const env = { ...process.env, ...sb.env } as NodeJS.ProcessEnv;
  const dry = loaded(env, ['enable', 'dns:1.1.1.1', '--dry-run', '--output', 'json']);
  assert.equal(dry.code, 0, dry.stdout);
  assert.ok(!dry.modules.includes('node_modules/@kubernetes/client-node/'), 'a dry-run does not load the client');
  const first = loaded(env, ['enable', 'dns:1.1.1.1', '--output', 'json']);
  assert.equal(first.code, 0, first.stdout);
  assert.ok(first.modules.includes('node_modules/@kubernetes/client-node/'), 'applying objects loads the client');
  const again = loaded(env, ['enable', 'dns:1.1.1.1', '--output', 'json']);
  assert.equal(again.code, 0, again.stdout);
  assert.match(again.stdout, /"type":"result","ok":true,"changed":0,"restarts":\{\}/);
  assert.ok(!again.modules.includes('node_modules/@kubernetes/client-node/'), 'a no-op re-run does not load the client');
  assert.equal(sb.cli(['disable', 'dns']).code, 0);
});

test('a cilium dry-run checks its render in this process: no post-renderer process, no Kubernetes client, no template engine once its values are cached', (t) => {
  const sb = sandbox();
  // NODE_OPTIONS too, so that a Node child (the post-renderer helm would run) records into the same file.
  // A check cache of its own, empty, so that the first run renders (the second may use its kept verdict).
  const checks = mkdtempSync(path.join(tmpdir(), 'mk8s-checks-'));
  t.after(() => rmSync(checks, { recursive: true, force: true }));
  const env = { ...process.env, ...sb.env, MK8S_ADDONS_CHECK_CACHE: checks, NODE_OPTIONS: `--import=${path.join(ROOT, 'test', 'support', 'record-imports.mjs')}` } as NodeJS.ProcessEnv;
  const args = ['enable', 'cilium:v1.8', '--dry-run', '--force', '--output', 'json'];
  for (const run of ['first', 'second'] as const) {
    const dry = loaded(env, args);
    assert.equal(dry.code, 0, dry.stdout);
    assert.match(dry.stdout, /"type":"result","ok":true,"changed":0,"restarts":\{\},"dryRun":true\}\n$/);
    assert.match(dry.modules, /dist\/src\/cilium\/render-check\.js/, 'the render check ran');
    assert.ok(!dry.modules.includes('scripts/post-render-hostpath.mjs'), `${run} run: no second Node process for the hostPath rewrite`);
    assert.ok(!dry.modules.includes('node_modules/@kubernetes/client-node/'), `${run} run: no Kubernetes client`);
    // The first run may render the values template (and cache it); the same values again need no Handlebars.
    if (run === 'second') assert.ok(!dry.modules.includes('node_modules/handlebars/'), 'second run: no template engine');
  }
  // And the render check still refuses what it refused: the agent's CNI bin dir moved back to the stock path.
  const bad = sb.cli([...args, '--set', 'global.cni.binPath=/opt/cni/bin']);
  assert.equal(bad.code, 2, bad.stdout);
  const snapData = sb.info.snapData;
  const error = bad.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; message?: string }).find((e) => e.type === 'error');
  assert.equal(
    error?.message,
    `the rendered cilium 1.8.13 chart does not fit MicroK8s: DaemonSet cilium: hostPath /opt/cni/bin (volume cni-path) is the stock path; on MicroK8s it is ${snapData}/opt/cni/bin; DaemonSet cilium: no hostPath ${snapData}/opt/cni/bin (the CNI bin dir, cni.binPath); drop the --set / -f values that change these paths or settings`,
  );
});

test('a node-local run of cilium (another node\'s fan-out) runs no helm: only the node steps\' vars, no render check, no release read', () => {
  const sb = sandbox();
  const dir = mkdtempSync(path.join(tmpdir(), 'mk8s-spawns-'));
  try {
    const file = path.join(dir, 'spawns.txt');
    const programs = (args: string[]) => {
      writeFileSync(file, '');
      const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'test', 'support', 'record-spawns.mjs'), CLI, ...args], {
        encoding: 'utf8',
        // A check cache of its own, empty: no verdict kept by an earlier run spares the render.
        env: { ...process.env, ...sb.env, MK8S_RECORD_SPAWNS: file, NO_COLOR: '1', MK8S_ADDONS_CHECK_CACHE: path.join(dir, 'checks') },
      });
      return { ...r, helm: readFileSync(file, 'utf8').split('\n').filter((p) => /^helm/.test(path.basename(p))) };
    };
    // The recording sees helm where it runs: a dry-run here reads the release with it.
    const here = programs(['enable', 'cilium', '--dry-run', '--output', 'json']);
    assert.equal(here.status, 0, here.stderr);
    assert.ok(here.helm.length > 0, 'a cilium dry-run runs helm');
    // What the cluster agent's addon enable runs on a node: our repository's hook with the encoded request.
    const request = encodeNodeRequest({ action: 'check', spec: ['cilium'], addon: 'cilium', steps: ['allow-privileged', 'containerd-cilium-sock'], nonce: 'imports-test' });
    const node = programs(['microk8s-repo', 'hook', 'enable', ...request.split(':')]);
    assert.equal(node.status, 0, node.stderr);
    assert.equal(node.stdout, 'node-0: would change enable/helm3/binary, enable/cilium/containerd-cilium-sock\n');
    assert.deepEqual(node.helm, [], 'a node-local run starts no helm process');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cilium dry-run keeps its render check\'s verdict: the same dry-run again runs no helm and says the same; other values render again', () => {
  const sb = sandbox();
  const dir = mkdtempSync(path.join(tmpdir(), 'mk8s-verdicts-'));
  try {
    const file = path.join(dir, 'spawns.txt');
    const env = { ...process.env, ...sb.env, MK8S_RECORD_SPAWNS: file, NO_COLOR: '1', MK8S_ADDONS_CHECK_CACHE: path.join(dir, 'checks') };
    const dryRun = (extra: string[] = []) => {
      writeFileSync(file, '');
      const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'test', 'support', 'record-spawns.mjs'), CLI, 'enable', 'cilium:v1.8', '--dry-run', '--force', '--output', 'json', ...extra], { encoding: 'utf8', env });
      return { ...r, helm: readFileSync(file, 'utf8').split('\n').filter((p) => /^helm/.test(path.basename(p))).length };
    };
    const first = dryRun();
    assert.equal(first.status, 0, first.stdout);
    assert.equal(first.helm, 1, 'the first dry-run renders (helm template; the release is read over the API)');
    assert.equal(readdirSync(path.join(dir, 'checks')).length, 1, 'its verdict is kept');
    const second = dryRun();
    assert.equal(second.status, 0, second.stdout);
    assert.equal(second.helm, 0, 'the same dry-run again: no helm process');
    assert.equal(second.stdout, first.stdout, 'and the same output');
    const other = dryRun(['--set', 'hubble.enabled=true']);
    assert.equal(other.status, 0, other.stdout);
    assert.equal(other.helm, 1, 'other values: rendered again');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
