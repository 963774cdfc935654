import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, ROOT } from '../support/cli.js';

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

test('--version prints the package version', () => {
  const r = runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `${pkg.version}\n`);
});

test('--help shows usage, examples and exit codes', () => {
  const r = runCli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /mk8s-addons enable NAME\[:ARG\[:ARG\.\.\.\]\]/);
  assert.match(r.stdout, /sudo mk8s-addons enable cilium:v1.8/);
  assert.match(r.stdout, /Exit codes: 0 done/);
  assert.match(runCli(['enable', '--help']).stdout, /^Usage: mk8s-addons enable/);
  assert.match(runCli(['help', 'list']).stdout, /^Usage: mk8s-addons list/);
  const bare = runCli([]);
  assert.equal(bare.code, 2, 'no command is a usage error');
  assert.match(bare.stdout, /Usage:/);
});

test('list prints the catalogue; json form', () => {
  const r = runCli(['list']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^cilium {2}1\.20\.0 {3}Cilium CNI/m);
  assert.match(r.stdout, /versions: 1\.8\.0, 1\.8\.13, 1\.9\.0/);
  const j = runCli(['list', '--output', 'json']);
  const event = JSON.parse(j.stdout) as { type: string; addons: { name: string; default: string | null; versions: string[] }[] };
  assert.equal(event.type, 'catalogue');
  assert.deepEqual(event.addons.map((a) => a.name), ['cilium', 'dns', 'helm3', 'hubble']);
  assert.equal(event.addons[0]!.versions.length, 15);
});

test('enable --dry-run --output json prints one plan line, dependencies first', () => {
  const r = runCli(['enable', 'cilium:v1.8', '--dry-run', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const event = JSON.parse(lines[0]!) as { type: string; addons: { name: string; requested: string | null; version: string; steps: { phase: string; description: string }[] }[] };
  assert.equal(event.type, 'plan');
  assert.deepEqual(event.addons.map((a) => [a.name, a.requested, a.version]), [['helm3', null, '3.17.2'], ['cilium', 'v1.8', '1.8.13']]);
  assert.equal(event.addons[1]!.steps.find((s) => s.phase === 'enable/cilium/helm-release')?.description, 'Install or upgrade Helm release cilium in kube-system from the pinned official chart');
});

test('dry-run reads and changes nothing on the node', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mk8s-node-'));
  try {
    const r = runCli(['enable', 'cilium:v1.8', 'dns:1.1.1.1', '--dry-run', '--snap-data', dir, '--snap', path.join(dir, 'nope')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Plan: enable helm3, cilium, dns/);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad input: one line on stderr, exit 2, json error event with --output json', () => {
  const table: [string[], string][] = [
    [['enable', 'cilum'], 'mk8s-addons: error: unknown addon "cilum" (did you mean "cilium"?); available: cilium, dns, helm3, hubble (see "mk8s-addons list")'],
    [['enable', 'cilium:v1.7'], 'mk8s-addons: error: cilium 1.7.x is not bundled with mk8s-addons; available: 1.8.0, 1.8.13, 1.9.0, 1.9.18, 1.10.20, 1.11.20, 1.12.19, 1.13.18, 1.14.19, 1.15.19, 1.16.19, 1.17.18, 1.18.12, 1.19.6, 1.20.0'],
    [['enable', 'cilium:v1.8', '--version', '1.9'], 'mk8s-addons: error: cilium: give arguments either as cilium:VERSION or with --version, not both styles'],
    [['enable', '../etc'], 'mk8s-addons: error: invalid addon name "../etc": names are lower-case letters, digits and dashes, with no path characters (see "mk8s-addons list")'],
    [['frob'], 'mk8s-addons: error: unknown command "frob"; commands: enable, disable, list, status, reset, apply, start, stop, sandbox, datapath, cilium, microk8s-repo, nodes, completion; run "mk8s-addons --help"'],
    [['list', 'extra'], 'mk8s-addons: error: list takes no arguments; got "extra"'],
  ];
  for (const [args, line] of table) {
    const r = runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.equal(r.stderr, `${line}\n`, args.join(' '));
    assert.equal(r.stdout, '');
  }
  const j = runCli(['enable', 'cilum', '--output', 'json']);
  assert.equal(j.code, 2);
  assert.deepEqual(
    j.stdout.trim().split('\n').map((l) => JSON.parse(l)),
    [
      { type: 'error', code: 'usage', phase: null, message: 'unknown addon "cilum" (did you mean "cilium"?); available: cilium, dns, helm3, hubble (see "mk8s-addons list")' },
      { type: 'result', ok: false, changed: 0, restarts: {} },
    ],
  );
  assert.equal(j.stderr, '');
  const inline = runCli(['enable', 'cilum', '--output=json']);
  assert.equal(inline.code, 2);
  assert.equal(JSON.parse(inline.stdout.split('\n')[0]!).type, 'error');
  assert.equal(inline.stderr, '');
});

test('--help, --version, list and --dry-run do not load the Kubernetes client, listr2 or handlebars', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mk8s-imports-'));
  try {
    for (const args of [['--version'], ['--help'], ['list'], ['enable', 'cilium:v1.8', 'hubble', '--dry-run']]) {
      const file = path.join(dir, `${args[0]}.txt`);
      const r = runCli(args, { env: { MK8S_RECORD_IMPORTS: file }, nodeArgs: ['--import', path.join(ROOT, 'test', 'support', 'record-imports.mjs')] });
      assert.equal(r.code, 0, r.stderr);
      const loaded = readFileSync(file, 'utf8');
      assert.match(loaded, /dist\/src\/cli\.js/, 'the recorder saw the program');
      for (const heavy of ['@kubernetes/client-node', 'listr2', 'handlebars']) {
        assert.ok(!loaded.includes(`node_modules/${heavy}/`), `${args.join(' ')} loaded ${heavy}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
