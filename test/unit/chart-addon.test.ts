/**
 * A Helm-chart addon as data (issue 15 item 1), without a cluster: `name:ARG` arguments checked by the
 * manifest's pattern (planner, pure) and mapped to chart values; the values template chosen by version
 * range with its placeholders filled; the chart placeholders the steps use; scripts/fetch-charts.mjs
 * downloading pinned charts from the repository each manifest names (a local HTTP server here).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { loadCatalogue } from '../../src/adapters/catalogue-files.js';
import { plan } from '../../src/planner.js';
import { parseAddonSpecs, defaultGlobals } from '../../src/grammar.js';
import { UsageError } from '../../src/errors.js';
import { chartScope, setValuePath } from '../../src/addons/chart-addon.js';
import { run } from '../../src/adapters/process.js';
import { ROOT } from '../support/cli.js';

const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'chart-addons');
const SHA = 'a'.repeat(64);
/** The fixture's addons folder with the pins the set-up would write (any valid sha256: no chart is read here). */
function fixtureFolder(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mk8s-chart-unit-'));
  mkdirSync(path.join(dir, 'lbdemo', 'values'), { recursive: true });
  writeFileSync(path.join(dir, 'lbdemo', 'manifest.yaml'), readFileSync(path.join(FIXTURE, 'lbdemo', 'manifest.yaml'), 'utf8').replaceAll('PACKAGED-BY-TEST-SETUP', SHA));
  for (const f of ['0.1.yaml', '0.2.yaml']) writeFileSync(path.join(dir, 'lbdemo', 'values', f), readFileSync(path.join(FIXTURE, 'lbdemo', 'values', f)));
  return dir;
}

async function withFixture(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = fixtureFolder();
  const saved = process.env.MK8S_ADDONS_EXTRA_ADDONS;
  process.env.MK8S_ADDONS_EXTRA_ADDONS = dir;
  try {
    await fn(dir);
  } finally {
    if (saved === undefined) delete process.env.MK8S_ADDONS_EXTRA_ADDONS;
    else process.env.MK8S_ADDONS_EXTRA_ADDONS = saved;
    rmSync(dir, { recursive: true, force: true });
  }
}

const paths = { snap: '/snap/microk8s/current', snapData: '/var/snap/microk8s/current', snapCommon: '/var/snap/microk8s/common' };

test('setValuePath makes the objects on the way and replaces what is not one', () => {
  const v: Record<string, unknown> = { pool: 'x', other: { keep: 1 } };
  setValuePath(v, 'pool.addresses', '10.0.0.1-10.0.0.9');
  setValuePath(v, 'other.deep.er', true);
  assert.deepEqual(v, { pool: { addresses: '10.0.0.1-10.0.0.9' }, other: { keep: 1, deep: { er: true } } });
});

test('name:ARG: the manifest pattern refuses a bad argument (exit 2) before any I/O; a good one is bound', async () => {
  await withFixture(async () => {
    const catalogue = await loadCatalogue();
    const planFor = (line: string) => plan({ command: 'enable', specs: parseAddonSpecs('enable', [line], defaultGlobals(), catalogue), catalogue });
    const table: [string, string][] = [
      ['lbdemo:10.64.140.43', 'invalid lbdemo ADDRESSES "10.64.140.43": write it like lbdemo:10.64.140.43-10.64.140.49 or --addresses 10.64.140.43-10.64.140.49; it must match (\\d{1,3}\\.){3}\\d{1,3}-(\\d{1,3}\\.){3}\\d{1,3}'],
      // Anchored: a valid range inside more text is not enough.
      ['lbdemo:x10.64.140.43-10.64.140.49', 'invalid lbdemo ADDRESSES "x10.64.140.43-10.64.140.49": write it like lbdemo:10.64.140.43-10.64.140.49 or --addresses 10.64.140.43-10.64.140.49; it must match (\\d{1,3}\\.){3}\\d{1,3}-(\\d{1,3}\\.){3}\\d{1,3}'],
      ['lbdemo:10.64.140.43-10.64.140.49:v0.3', 'lbdemo 0.3.x is not bundled with mk8s-addons; available: 0.1.0, 0.2.0'],
    ];
    for (const [line, message] of table) assert.throws(() => planFor(line), (e: unknown) => e instanceof UsageError && e.message === message, line);
    const p = planFor('lbdemo:10.64.140.43-10.64.140.49:v0.1');
    assert.deepEqual([p.addons[0]?.version, p.addons[0]?.args], ['0.1.0', { addresses: '10.64.140.43-10.64.140.49', version: 'v0.1' }]);
  });
});

test('${values}: the template of the version range, placeholders filled, the argument at its value path', async () => {
  await withFixture(async (dir) => {
    const catalogue = await loadCatalogue();
    const planFor = (line: string) => plan({ command: 'enable', specs: parseAddonSpecs('enable', [line], defaultGlobals(), catalogue), catalogue }).addons[0]!;
    const scope = (line: string) => chartScope({ addon: planFor(line), manifest: catalogue.get('lbdemo')!, folder: catalogue.folder('lbdemo'), paths }, { files: false });
    assert.deepEqual(await scope('lbdemo:10.64.140.43-10.64.140.49:v0.1'), {
      release: { name: 'lbdemo', namespace: 'lbdemo-system' },
      version: '0.1.0',
      values: { controller: { logLevel: 'info' }, nodeDataDir: '/var/snap/microk8s/current/var/lbdemo', pool: { addresses: '10.64.140.43-10.64.140.49' } },
    });
    assert.deepEqual((await scope('lbdemo')).values, { controller: { log: { level: 'info' } }, nodeDataDir: '/var/snap/microk8s/current/var/lbdemo' });
    // With files: the pinned chart must be in the addon's charts/ folder, and the error says how to get it.
    await assert.rejects(chartScope({ addon: planFor('lbdemo'), manifest: catalogue.get('lbdemo')!, folder: catalogue.folder('lbdemo'), paths }), {
      message: `the pinned chart ${path.join(dir, 'lbdemo', 'charts', 'lbdemo-0.2.0.tgz')} is missing; run "node scripts/fetch-charts.mjs --addons ${dir}"`,
    });
  });
});

test('fetch-charts.mjs downloads a pin from the repository its manifest names, and checks its sha256', async () => {
  const chart = Buffer.from('not really a chart, but bytes with a sha256');
  const served: string[] = [];
  const server = createServer((req, res) => {
    served.push(req.url ?? '');
    if (req.url === '/charts/lbdemo-0.1.0.tgz') res.end(chart);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mk8s-fetch-charts-'));
  try {
    const repository = `http://127.0.0.1:${(server.address() as AddressInfo).port}/charts`;
    const sha = createHash('sha256').update(chart).digest('hex');
    const manifest = (pin: string) => `name: lbdemo
description: d
arguments: [{ name: version, placeholder: VERSION, flag: --version, type: version, description: v }]
versions:
  chart: lbdemo
  repository: ${repository}
  default: 0.1.0
  pins: [{ version: 0.1.0, sha256: ${pin} }]
steps: [{ name: l, kind: lock, description: l, params: { lock: x } }]
`;
    mkdirSync(path.join(dir, 'lbdemo'));
    const fetch = () => run([process.execPath, [path.join(ROOT, 'scripts', 'fetch-charts.mjs'), '--addons', dir]], { env: { ...process.env, MK8S_ADDONS_CHART_MIRROR: path.join(dir, 'no-mirror') } });
    writeFileSync(path.join(dir, 'lbdemo', 'manifest.yaml'), manifest(SHA));
    const bad = await fetch();
    assert.deepEqual([bad.exitCode, bad.stderr], [1, `fetch-charts: error: lbdemo 0.1.0: sha256 of ${repository}/lbdemo-0.1.0.tgz is ${sha}, but ${path.join(dir, 'lbdemo', 'manifest.yaml')} pins ${SHA}; the chart was changed or corrupted\n`]);
    writeFileSync(path.join(dir, 'lbdemo', 'manifest.yaml'), manifest(sha));
    const good = await fetch();
    assert.deepEqual([good.exitCode, good.stderr], [0, 'fetch-charts: 1 chart(s) copied, 0 already present, all sha256 checked\n']);
    assert.deepEqual(readFileSync(path.join(dir, 'lbdemo', 'charts', 'lbdemo-0.1.0.tgz')), chart);
    assert.equal(readFileSync(path.join(dir, 'lbdemo', 'charts', 'SHA256SUMS'), 'utf8'), `${sha}  lbdemo-0.1.0.tgz\n`);
    assert.deepEqual(served, ['/charts/lbdemo-0.1.0.tgz', '/charts/lbdemo-0.1.0.tgz']);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
