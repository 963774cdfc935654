/**
 * The npm package as a new user gets it (issue 16, part 1): `npm run package`, then the tarball installed
 * into a temporary prefix with `npm install -g --offline`, no network and an empty npm cache, and with
 * nothing but that installed command (no checkout on PATH, a fresh HOME and tool cache): `list`, a sandbox
 * node, `enable dns`, `enable cilium`, `enable hubble`, `status`, `disable`, `reset`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { brotliCompressSync } from 'node:zlib';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { ROOT } from '../support/cli.js';
import { buildPackage, installPackage, sha256File, type Installed } from '../support/package.js';
import { cli as checkoutCli, sandboxBase } from '../support/sandbox.js';
import { controlPlaneCacheBinDir } from '../../src/sandbox/binaries.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else out.push(path.relative(dir, path.join(d, e.name)));
    }
  };
  walk(dir);
  return out;
}

const du = (dir: string) => filesUnder(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);

describe('the npm package, installed offline', () => {
  let tarball: string;
  let inst: Installed;
  let home: string;
  let cache: string;
  let sandboxDir: string | undefined;

  /** The installed command only: PATH has node and the system tools, never the checkout's vendor/bin. */
  const mk8s = (args: string[], extra: NodeJS.ProcessEnv = {}): Run => {
    const r = spawnSync(inst.bin, args, {
      cwd: home,
      encoding: 'utf8',
      timeout: 400_000,
      env: {
        PATH: `${path.dirname(process.execPath)}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
        HOME: home,
        NO_COLOR: '1',
        MK8S_ADDONS_CACHE: cache,
        // The sandbox's control plane binaries (built by scripts/build-control-plane.sh): test-only.
        KUBEBUILDER_ASSETS: controlPlaneCacheBinDir(process.env),
        ...extra,
      },
    });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = (args: string[], extra: NodeJS.ProcessEnv = {}): Run => {
    const r = mk8s(args, extra);
    assert.equal(r.code, 0, `mk8s-addons ${args.join(' ')} exited with ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  };
  const onSandbox = (args: string[]) => ok([...args, '--snap', path.join(sandboxDir as string, 'snap'), '--snap-data', path.join(sandboxDir as string, 'data'), '--snap-common', path.join(sandboxDir as string, 'common')]);
  const statusOf = (): Record<string, string> => {
    const doc = yaml.load(onSandbox(['status', '--format', 'yaml']).stdout) as { addons: { name: string; status: string }[] };
    return Object.fromEntries(doc.addons.map((a) => [a.name, a.status]));
  };

  before(() => {
    tarball = buildPackage();
    inst = installPackage(tarball);
    home = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-home-'));
    cache = path.join(home, 'cache');
  });
  after(() => {
    if (sandboxDir && existsSync(path.join(sandboxDir, 'sandbox.json'))) {
      if (mk8s(['sandbox', 'down', '--dir', sandboxDir]).code !== 0) checkoutCli(['sandbox', 'down', '--dir', sandboxDir]);
    }
    if (sandboxDir) rmSync(path.dirname(sandboxDir), { recursive: true, force: true });
    for (const d of [inst?.prefix, home]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('the tarball is in the project root, and a plain npm pack in the checkout is refused', () => {
    assert.equal(path.dirname(tarball), ROOT);
    assert.match(path.basename(tarball), /^mk8s-addons-\d+\.\d+\.\d+\.tgz$/);
    const r = spawnSync('npm', ['pack', '--dry-run'], { cwd: ROOT, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /mk8s-addons: a plain "npm pack" here would bundle the development node_modules; run "npm run package" \(writes mk8s-addons-\d+\.\d+\.\d+\.tgz here\)/);
  });

  test('installed: what the commands need, and nothing for development', () => {
    const files = filesUnder(inst.dir);
    // The CLI (package.json's bin: the bundle, with the dist/src it was built from), no tests, no caches.
    assert.deepEqual(files.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/src/') && !f.startsWith('dist/bundle/src/') && f !== 'dist/bundle/inputs.json'), [], 'only dist/src and the bundle are shipped (no tests)');
    assert.ok(files.includes('dist/bundle/src/cli.js') && files.includes('dist/src/cli.js'));
    assert.deepEqual(files.filter((f) => /\.(map|d\.[cm]?ts)$/.test(f) || (f.endsWith('.ts') && !f.startsWith('node_modules/'))), [], 'no source maps, sources or declarations');
    assert.equal(files.some((f) => f.startsWith('vendor/bin/')), false, 'binaries come compressed, unpacked on first use');
    const pkg = JSON.parse(readFileSync(path.join(inst.dir, 'package.json'), 'utf8')) as { scripts?: unknown; bundleDependencies: string[]; dependencies: Record<string, string> };
    assert.equal(pkg.scripts, undefined, 'no install script (nor any other)');
    assert.deepEqual(pkg.bundleDependencies, Object.keys(pkg.dependencies));
    for (const dep of pkg.bundleDependencies) assert.ok(existsSync(path.join(inst.dir, 'node_modules', dep, 'package.json')), `${dep} is bundled`);
    // The charts, each with the sha256 the catalogue pins, listed in SHA256SUMS.
    const manifest = yaml.load(readFileSync(path.join(inst.dir, 'addons', 'cilium', 'manifest.yaml'), 'utf8')) as { versions: { pins: { version: string; sha256: string }[] } };
    const sums = readFileSync(path.join(inst.dir, 'charts', 'cilium', 'SHA256SUMS'), 'utf8');
    assert.equal(sums, manifest.versions.pins.map((p) => `${p.sha256}  cilium-${p.version}.tgz\n`).join(''));
    for (const p of manifest.versions.pins) assert.equal(sha256File(path.join(inst.dir, 'charts', 'cilium', `cilium-${p.version}.tgz`)), p.sha256);
    // helm and kubectl: the checkout's binaries, compressed, with their sums.
    assert.equal(readFileSync(path.join(inst.dir, 'vendor', 'tools', 'SHA256SUMS'), 'utf8'), `${sha256File(path.join(ROOT, 'vendor', 'bin', 'helm'))}  helm\n${sha256File(path.join(ROOT, 'vendor', 'bin', 'kubectl'))}  kubectl\n`);
    // The sizes the README reports (rounded to the MB there).
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const m = /tarball is (\d+) MB and it takes (\d+) MB installed/.exec(readme);
    assert.ok(m, 'the README reports the sizes');
    assert.equal(Number(m[1]), Math.round(statSync(tarball).size / 1e6), 'tarball size in the README');
    assert.equal(Number(m[2]), Math.round(du(inst.dir) / 1e6), 'installed size in the README');
  });

  test('list works from the installed command', () => {
    const r = ok(['list']);
    assert.match(r.stdout, /^cilium +1\.20\.0 /m);
    assert.match(r.stdout, /versions: 1\.8\.0, 1\.8\.13, /);
    assert.equal(ok(['--version']).stdout, `${JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version}\n`);
  });

  test('on a sandbox: enable dns, cilium, hubble; status; disable; reset', () => {
    sandboxDir = path.join(sandboxBase(), 'pkg');
    ok(['sandbox', 'up', '--dir', sandboxDir, '--layout', '1.20']);
    const helmSum = readFileSync(path.join(inst.dir, 'vendor', 'tools', 'SHA256SUMS'), 'utf8').split('\n')[0]?.split(' ')[0] as string;
    const unpacked = path.join(cache, 'tools', helmSum, 'helm');
    assert.equal(existsSync(unpacked), false);

    onSandbox(['enable', 'dns:1.1.1.1']);
    const cilium = onSandbox(['enable', 'cilium']);
    // The sandbox's snap has no helm: the bundled one is unpacked on first use, checked, and the output says so.
    assert.match(cilium.stdout + cilium.stderr, new RegExp(`helm: the one bundled with mk8s-addons, unpacked now in ${unpacked.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(sha256 ${helmSum.slice(0, 12)}… checked\\)`));
    assert.equal(sha256File(unpacked), sha256File(path.join(ROOT, 'vendor', 'bin', 'helm')));
    onSandbox(['enable', 'hubble']);
    assert.deepEqual(statusOf(), { cilium: 'enabled', dns: 'enabled', helm3: 'enabled', hubble: 'enabled' });

    onSandbox(['disable', 'hubble']);
    onSandbox(['disable', 'cilium']);
    assert.deepEqual(statusOf(), { cilium: 'disabled', dns: 'enabled', helm3: 'enabled', hubble: 'disabled' });
    onSandbox(['reset']);
    assert.deepEqual(statusOf(), { cilium: 'disabled', dns: 'disabled', helm3: 'disabled', hubble: 'disabled' });
  });

  test("MicroK8s's own helm is used when its snap has one, and the output says so", () => {
    const snap = path.join(sandboxDir as string, 'snap');
    const own = path.join(snap, 'bin', 'helm3');
    spawnSync('mkdir', ['-p', path.dirname(own)]);
    writeFileSync(own, readFileSync(path.join(ROOT, 'vendor', 'bin', 'helm')), { mode: 0o755 });
    try {
      const r = onSandbox(['enable', 'helm3']);
      assert.match(r.stdout + r.stderr, new RegExp(`helm: MicroK8s's own ${own.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      onSandbox(['disable', 'helm3']);
    } finally {
      rmSync(path.dirname(own), { recursive: true, force: true });
    }
  });

  test('a damaged bundled helm is refused (exit 3, one line) and never lands in the cache', () => {
    const archive = path.join(inst.dir, 'vendor', 'tools', 'helm.br');
    writeFileSync(archive, brotliCompressSync(Buffer.from('#!/bin/sh\necho not helm\n')));
    const fresh = path.join(home, 'fresh-cache');
    const r = mk8s(['enable', 'helm3', '--dry-run', '--snap', path.join(sandboxDir as string, 'snap'), '--snap-data', path.join(sandboxDir as string, 'data'), '--snap-common', path.join(sandboxDir as string, 'common')], { MK8S_ADDONS_CACHE: fresh });
    assert.equal(r.code, 3, r.stderr);
    const helmSum = readFileSync(path.join(inst.dir, 'vendor', 'tools', 'SHA256SUMS'), 'utf8').split(' ')[0] as string;
    assert.match(r.stderr, new RegExp(`^mk8s-addons: error: the bundled helm unpacked from ${archive.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} has sha256 [0-9a-f]{64}, not ${helmSum} as vendor/tools/SHA256SUMS says; the package is damaged: reinstall mk8s-addons\n$`));
    assert.deepEqual(filesUnder(fresh), [], 'nothing left in the cache');
  });
});
