/**
 * A Helm-chart addon with zero lines of TypeScript (issue 15 item 1): lbdemo
 * (test/fixtures/chart-addons/lbdemo, its own chart packaged by the set-up, test/support/chart-addon.ts)
 * joins the catalogue through MK8S_ADDONS_EXTRA_ADDONS and is enabled, upgraded, reported by `status`
 * (with drift: values changed outside mk8s-addons, an object of the release deleted) and disabled on a
 * 1.35 sandbox node, through the built CLI, with a real apiserver and the real helm. The tests run in
 * order, each from the state the previous one left.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { runChecked } from '../../src/adapters/process.js';
import { treeDigest } from '../support/node.js';
import { useSandbox, type TestSandbox } from '../support/sandbox.js';
import { HELM, prepareChartAddons, type ChartAddonFolder } from '../support/chart-addon.js';

const sandbox = useSandbox('1.35', { name: 'chart-addon' });
let node: TestSandbox;
let folder: ChartAddonFolder;
/** $SNAP_DATA before lbdemo was first enabled, without mk8s-addons's own journal. */
let dataBefore: Record<string, string>;
const dataNow = () => treeDigest(node.info.snapData, (rel) => rel.startsWith(path.join('var', 'mk8s-addons')));

before(async () => {
  folder = await prepareChartAddons();
  node = sandbox();
  dataBefore = dataNow();
});
after(() => folder?.remove());

const RANGE = '10.64.140.43-10.64.140.49';
const cli = (args: string[]) => node.cli(args, { MK8S_ADDONS_EXTRA_ADDONS: folder.addons });
const events = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
/** How each step ended (`phase status`); the rollout wait may find kwok's pod ready at once (skipped) or wait for it (done). */
const outcomes = (stdout: string) =>
  events(stdout)
    .filter((e) => e.type === 'step' && e.status !== 'started')
    .map((e) => `${e.phase as string} ${e.phase === 'enable/lbdemo/rollout' && e.status === 'done' ? 'skipped' : (e.status as string)}`);
const journal = () => JSON.parse(readFileSync(path.join(node.info.snapData, 'var', 'mk8s-addons', 'journal.json'), 'utf8')) as { addons: Record<string, { version: string; args: Record<string, unknown> }> };
const helm = async (args: string[]) => (await runChecked([HELM, [...args, '--kubeconfig', node.info.kubeconfig]], { env: { ...process.env, ...node.env } })).stdout;
const releases = async () => (JSON.parse(await helm(['ls', '-n', 'lbdemo-system', '-o', 'json'])) as { name: string; chart: string; status: string }[]).map((r) => `${r.name} ${r.chart} ${r.status}`);
const config = async () => (JSON.parse((await node.kubectl(['-n', 'lbdemo-system', 'get', 'configmap/lbdemo-config', '-o', 'json'])).stdout) as { data: Record<string, string> }).data;

test('a bad argument is a one-line error, exit 2, and nothing on the node changes', async () => {
  assert.deepEqual(cli(['enable', 'lbdemo:10.64.140.43']), {
    code: 2,
    stdout: '',
    stderr: `mk8s-addons: error: invalid lbdemo ADDRESSES "10.64.140.43": write it like lbdemo:${RANGE} or --addresses ${RANGE}; it must match (\\d{1,3}\\.){3}\\d{1,3}-(\\d{1,3}\\.){3}\\d{1,3}\n`,
  });
  assert.equal(cli(['enable', 'lbdemo', '--addresses', 'all']).code, 2);
  assert.deepEqual(dataNow(), dataBefore);
  assert.deepEqual(await releases(), []);
  assert.equal((await node.kubectlAny(['get', 'namespace', 'lbdemo-system'])).exitCode, 1);
});

test('--dry-run: the release would be installed, with the values and the helm command apply runs', () => {
  const r = cli(['enable', `lbdemo:${RANGE}:v0.1`, '--dry-run', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const release = events(r.stdout).find((e) => e.phase === 'enable/lbdemo/release' && e.status === 'would-change');
  assert.equal(release?.summary, 'install release lbdemo (chart 0.1.0) in lbdemo-system');
  assert.deepEqual(JSON.parse(String(release?.detail).slice('values:\n'.length)), {
    controller: { logLevel: 'info' },
    nodeDataDir: `${node.info.snapData}/var/lbdemo`,
    pool: { addresses: RANGE },
  });
  const chart = path.join(folder.addons, 'lbdemo', 'charts', 'lbdemo-0.1.0.tgz');
  const kubeconfig = path.join(node.info.snapData, 'credentials', 'client.config');
  assert.deepEqual(release?.commands, [`${HELM} upgrade lbdemo ${chart} --install --namespace lbdemo-system --values values.json --reset-values --wait=false --kubeconfig ${kubeconfig}`]);
  assert.deepEqual(dataNow(), dataBefore);
});

test('enable lbdemo at 0.1 with an address range: the 0.1 values template, the range as pool.addresses', async () => {
  const r = cli(['enable', `lbdemo:${RANGE}:v0.1`, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(outcomes(r.stdout), ['enable/lbdemo/namespace done', 'enable/lbdemo/release done', 'enable/lbdemo/rollout skipped']);
  assert.deepEqual(await releases(), ['lbdemo lbdemo-0.1.0 deployed']);
  assert.deepEqual(await config(), { addresses: RANGE, logLevel: 'info', nodeDataDir: `${node.info.snapData}/var/lbdemo` });
  assert.deepEqual(JSON.parse(await helm(['get', 'values', 'lbdemo', '-n', 'lbdemo-system', '-o', 'json'])), {
    controller: { logLevel: 'info' },
    nodeDataDir: `${node.info.snapData}/var/lbdemo`,
    pool: { addresses: RANGE },
  });
  assert.deepEqual(cli(['status', '-a', 'lbdemo']), { code: 0, stdout: 'enabled\n', stderr: '' });
  // Enabling it again changes nothing.
  const again = cli(['enable', `lbdemo:${RANGE}:v0.1`, '--output', 'json']);
  assert.deepEqual(outcomes(again.stdout), ['enable/lbdemo/namespace skipped', 'enable/lbdemo/release skipped', 'enable/lbdemo/rollout skipped']);
});

test('upgrade to 0.2: the chart and the values template of 0.2, the same range', async () => {
  const r = cli(['enable', `lbdemo:${RANGE}:v0.2`, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(outcomes(r.stdout), ['enable/lbdemo/namespace skipped', 'enable/lbdemo/release done', 'enable/lbdemo/rollout skipped']);
  assert.deepEqual(await releases(), ['lbdemo lbdemo-0.2.0 deployed']);
  assert.deepEqual(await config(), { addresses: RANGE, autoAssign: 'true', logLevel: 'info', nodeDataDir: `${node.info.snapData}/var/lbdemo` });
  assert.equal(journal().addons.lbdemo?.version, '0.2.0');
  assert.deepEqual(cli(['status', '-a', 'lbdemo']), { code: 0, stdout: 'enabled\n', stderr: '' });
});

test('status: values changed outside mk8s-addons are drift; enable puts them back', async () => {
  await helm(['upgrade', 'lbdemo', path.join(folder.addons, 'lbdemo', 'charts', 'lbdemo-0.2.0.tgz'), '-n', 'lbdemo-system', '--reuse-values', '--set', 'pool.addresses=10.0.0.1-10.0.0.9']);
  assert.deepEqual(cli(['status', '-a', 'lbdemo']), {
    code: 1,
    stdout: 'degraded\n',
    stderr: 'mk8s-addons: lbdemo is degraded: enable/lbdemo/release: release lbdemo in lbdemo-system has other values than the addon set (changed outside mk8s-addons)\n',
  });
  const r = cli(['enable', `lbdemo:${RANGE}:v0.2`, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await config()).addresses, RANGE);
  assert.deepEqual(cli(['status', '-a', 'lbdemo']), { code: 0, stdout: 'enabled\n', stderr: '' });
});

test('status: an object of the release deleted is drift; enable makes it again', async () => {
  await node.kubectl(['-n', 'lbdemo-system', 'delete', 'deployment/lbdemo-controller', '--wait=true']);
  assert.deepEqual(cli(['status', '-a', 'lbdemo']), {
    code: 1,
    stdout: 'degraded\n',
    stderr:
      'mk8s-addons: lbdemo is degraded: enable/lbdemo/release: release lbdemo in lbdemo-system: deployment/lbdemo-controller is gone (deleted outside mk8s-addons; enable makes it again); ' +
      'enable/lbdemo/rollout: deployment/lbdemo-controller in lbdemo-system is not ready: it does not exist\n',
  });
  const dry = cli(['enable', `lbdemo:${RANGE}:v0.2`, '--dry-run', '--output', 'json']);
  assert.equal(events(dry.stdout).find((e) => e.phase === 'enable/lbdemo/release' && e.status === 'would-change')?.summary, 'upgrade release lbdemo: deployment/lbdemo-controller is gone (deleted outside mk8s-addons)');
  const r = cli(['enable', `lbdemo:${RANGE}:v0.2`, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(outcomes(r.stdout), ['enable/lbdemo/namespace skipped', 'enable/lbdemo/release done', 'enable/lbdemo/rollout skipped']);
  assert.equal((await node.kubectlAny(['-n', 'lbdemo-system', 'get', 'deployment/lbdemo-controller'])).exitCode, 0);
  assert.deepEqual(cli(['status', '-a', 'lbdemo']), { code: 0, stdout: 'enabled\n', stderr: '' });
  await node.kubectl(['-n', 'lbdemo-system', 'delete', 'deployment/lbdemo-controller', '--wait=true']);
});

test('disable lbdemo: the release and its namespace go, the node is as before', async () => {
  const r = cli(['disable', 'lbdemo', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await releases(), []);
  // The namespace's deletion finishes once the namespace controller has emptied it.
  assert.equal((await node.kubectlAny(['wait', '--for=delete', 'namespace/lbdemo-system', '--timeout=120s'])).exitCode, 0);
  assert.equal(journal().addons.lbdemo, undefined);
  assert.deepEqual(cli(['status', '-a', 'lbdemo']), { code: 0, stdout: 'disabled\n', stderr: '' });
  assert.deepEqual(dataNow(), dataBefore);
});
