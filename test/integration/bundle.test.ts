/**
 * The shipped CLI: package.json's `bin`, dist/bundle/src/cli.js, built from dist/src by scripts/bundle.mjs
 * (the snap's command and the MicroK8s hooks run it too). The other CLI tests run dist/src/cli.js; these
 * run the bundle itself, check that it was built from the dist/src they test, and that it does on a node
 * what dist/src does, loading only its own chunks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, CLI } from '../support/cli.js';
import { NO_PROXY_ENV, useSandbox } from '../support/sandbox.js';

const BUNDLE = path.join(ROOT, 'dist', 'bundle', 'src', 'cli.js');
const sandbox = useSandbox('1.20', { name: 'bundle' });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  modules: string[];
}

/** One CLI run (the bundle or dist/src), with the modules it resolved (test/support/record-imports.mjs). */
function run(cli: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const dir = mkdtempSync(path.join(tmpdir(), 'mk8s-bundle-'));
  try {
    const file = path.join(dir, 'imports.txt');
    const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'test', 'support', 'record-imports.mjs'), cli, ...args], {
      encoding: 'utf8',
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1', ...NO_PROXY_ENV, ...env, MK8S_RECORD_IMPORTS: file },
      timeout: 240_000,
    });
    let modules: string[] = [];
    try {
      modules = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    } catch {
      modules = [];
    }
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, modules };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The modules of this package (not node: builtins, not the recorder itself) a run resolved, relative to the root. */
const ours = (r: Run) =>
  [...new Set(r.modules.filter((u) => u.startsWith('file://') && !u.includes('/test/support/record-imports')).map((u) => path.relative(ROOT, new URL(u).pathname)))].sort();

test('package.json runs the bundle, and the bundle was built from the dist/src the tests run', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; files: string[] };
  assert.equal(path.join(ROOT, pkg.bin['mk8s-addons'] as string), BUNDLE);
  assert.ok(pkg.files.includes('dist/bundle') && pkg.files.includes('dist/src'), 'both ship: the sandbox helpers and the derived cache keys are dist/src files');
  const inputs = JSON.parse(readFileSync(path.join(ROOT, 'dist', 'bundle', 'inputs.json'), 'utf8')) as { files: Record<string, string> };
  for (const m of ['dist/src/cli.js', 'dist/src/commands/run.js', 'dist/src/addons/cilium.js', 'dist/src/engine/engine.js', 'dist/src/sandbox/sandbox.js']) assert.ok(inputs.files[m], `${m} is in the bundle`);
  for (const [rel, digest] of Object.entries(inputs.files)) {
    assert.equal(createHash('sha256').update(readFileSync(path.join(ROOT, rel))).digest('hex'), digest, `${rel} changed since the bundle was built: run npm run build (or node scripts/bundle.mjs after tsc)`);
  }
  const check = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bundle.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
});

test('--version, --help, list and a usage error: the same as dist/src, from its own chunks only', () => {
  const env = { SNAP_DATA: path.join(tmpdir(), 'mk8s-addons-no-node') };
  for (const args of [['--version'], ['--help'], ['list'], ['list', '--output', 'json'], ['enable', 'cilium:v1.8', '--dry-run'], ['enable', 'cilium:v0.1']]) {
    const bundled = run(BUNDLE, args, env);
    const tsc = run(CLI, args, env);
    assert.deepEqual([bundled.code, bundled.stdout, bundled.stderr], [tsc.code, tsc.stdout, tsc.stderr], `mk8s-addons ${args.join(' ')}`);
    assert.deepEqual(ours(bundled).filter((f) => !f.startsWith('dist/bundle/src/')), [], `mk8s-addons ${args.join(' ')} loads nothing outside the bundle`);
  }
  const usage = run(BUNDLE, ['enable', 'cilium:v0.1'], env);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^mk8s-addons: error: /);
});

test('on a node: enable --dry-run, enable, status and disable from the bundle, as from dist/src', () => {
  const sb = sandbox();
  const dryArgs = ['enable', 'cilium:v1.8', '--dry-run', '--force', '--output', 'json'];
  const steps = (r: Run) =>
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; phase?: string; status?: string })
      .filter((e) => e.type === 'step' || e.type === 'result')
      .map((e) => (e.type === 'step' ? `${e.phase} ${e.status}` : JSON.stringify(e)));
  const bundled = run(BUNDLE, dryArgs, sb.env);
  assert.equal(bundled.code, 0, bundled.stdout + bundled.stderr);
  assert.equal(steps(bundled).at(-1), '{"type":"result","ok":true,"changed":0,"restarts":{},"dryRun":true}');
  assert.deepEqual(steps(bundled), steps(run(CLI, dryArgs, sb.env)), 'the same steps, the same verdicts');
  // A dry-run loads only the bundle's chunks: no Kubernetes client, nothing from node_modules or dist/src.
  assert.deepEqual(ours(bundled).filter((f) => !f.startsWith('dist/bundle/src/')), []);
  // The render check refuses from the bundle what it refuses from dist/src (exit 2, the same message).
  const badArgs = [...dryArgs, '--set', 'global.cni.binPath=/opt/cni/bin'];
  const bad = run(BUNDLE, badArgs, sb.env);
  assert.equal(bad.code, 2, bad.stdout);
  assert.equal(bad.stdout, run(CLI, badArgs, sb.env).stdout);

  // A real change from the bundle: dns (helm-free, quick), then status from both, then disable.
  const enable = run(BUNDLE, ['enable', 'dns:1.1.1.1', '--output', 'json'], sb.env);
  assert.equal(enable.code, 0, enable.stdout + enable.stderr);
  assert.ok(ours(enable).some((f) => f.startsWith('node_modules/@kubernetes/client-node/')), 'applying objects loads the client, from node_modules');
  const status = run(BUNDLE, ['status', '--format', 'yaml'], sb.env);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /- name: dns\n(?: {4}\w+: .*\n)*? {4}status: enabled\n/);
  assert.equal(status.stdout, run(CLI, ['status', '--format', 'yaml'], sb.env).stdout);
  const disable = run(BUNDLE, ['disable', 'dns', '--output', 'json'], sb.env);
  assert.equal(disable.code, 0, disable.stdout + disable.stderr);
  assert.match(run(BUNDLE, ['status', '--format', 'yaml'], sb.env).stdout, /- name: dns\n(?: {4}\w+: .*\n)*? {4}status: disabled\n/);
});
