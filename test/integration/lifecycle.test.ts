/**
 * The lifecycle commands (issue 8) on one 1.35 sandbox node, through the built CLI: status (shapes, drift,
 * --wait-ready), apply (three starting states, --dry-run, --prune), reset (byte-identical args, after a
 * killed enable, refused on a multi-node cluster). A real apiserver holds the objects; the node's files
 * are real files. The tests run in order, each from the state the previous one left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { loadCatalogue } from '../../src/adapters/catalogue-files.js';
import { makeNode, TEST_ADDONS, treeDigest } from '../support/node.js';
import { NO_PROXY_ENV, useSandbox, type TestSandbox } from '../support/sandbox.js';
import { CLI, runCli } from '../support/cli.js';

const sandbox = useSandbox('1.35', { name: 'lifecycle' });
const catalogue = await loadCatalogue();
const files = mkdtempSync(path.join(os.tmpdir(), 'mk8s-lifecycle-'));
test.after(() => rmSync(files, { recursive: true, force: true }));

let node: TestSandbox;
/** args/ before anything was enabled. */
let argsBefore: Record<string, string>;

const events = (stdout: string) => stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
const resultOf = (stdout: string) => events(stdout).at(-1);
const notes = (stdout: string, phase: string) => events(stdout).filter((e) => e.type === 'note' && e.phase === phase).map((e) => e.message);
const argsDigest = () => treeDigest(path.join(node.info.snapData, 'args'));
const journal = () => JSON.parse(readFileSync(path.join(node.info.snapData, 'var', 'mk8s-addons', 'journal.json'), 'utf8')) as { addons: Record<string, { args: Record<string, unknown> }>; operation: unknown; snapshot: Record<string, unknown> };
const corefile = async () => (JSON.parse((await node.kubectl(['-n', 'kube-system', 'get', 'configmap/coredns', '-o', 'json'])).stdout) as { data: { Corefile: string } }).data.Corefile;
const forwardLine = async () => (await corefile()).split('\n').find((l) => l.trim().startsWith('forward .'))?.trim();
const exists = async (what: string) => (await node.kubectlAny(['-n', 'kube-system', 'get', what])).exitCode === 0;
const helm3 = () => path.join(node.info.snapData, 'bin', 'helm3');
/** Objects deleted in the foreground stay, being deleted, until their dependants are gone. */
const gone = async (what: string) => (await node.kubectlAny(['-n', 'kube-system', 'wait', '--for=delete', what, '--timeout=120s'])).exitCode === 0;

/** A YAML file for apply, in the test's temporary folder. */
function applyFile(name: string, text: string): string {
  const file = path.join(files, name);
  writeFileSync(file, text);
  return file;
}

/** The status YAML every catalogue addon in `states` has (the rest disabled), as the command prints it. */
function expectedAddons(states: Record<string, 'enabled' | { degraded: string }> = {}) {
  return catalogue.addons.map((a) => {
    const s = states[a.name];
    return {
      name: a.name,
      description: a.description,
      version: a.versions?.default ?? a.version ?? null,
      ...(s === undefined ? { status: 'disabled' } : s === 'enabled' ? { status: 'enabled' } : { status: 'degraded', reason: s.degraded }),
    };
  });
}

test('status checks every node step kind from the journal (netdemo on a node without a cluster)', () => {
  const n = makeNode('1.20');
  try {
    const cli = (args: string[]) => runCli([...args, ...n.flags], { env: { MK8S_ADDONS_ADDONS_DIR: TEST_ADDONS } });
    // MicroK8s before 1.20's fix, so that the containerd step has something to edit.
    const template = path.join(n.snapData, 'args', 'containerd-template.toml');
    writeFileSync(template, readFileSync(template, 'utf8').replace('bin_dir = "${SNAP_DATA}/opt', 'bin_dir = "${SNAP}/opt'));
    const enable = cli(['enable', 'netdemo']);
    assert.equal(enable.code, 0, enable.stdout + enable.stderr);
    assert.deepEqual(cli(['status', '-a', 'netdemo']), { code: 0, stdout: 'enabled\n', stderr: '' });

    const at = (rel: string) => path.join(n.snapData, rel);
    writeFileSync(at('args/kube-apiserver'), readFileSync(at('args/kube-apiserver'), 'utf8').replace('--demo-flag=on', '--demo-flag=off'));
    rmSync(at('var/lock/no-flanneld'));
    writeFileSync(at('args/cni-network/05-demo.conf'), '{}\n');
    renameSync(at('args/cni-network/flannel.conflist.mk8s-addons-aside'), at('args/cni-network/flannel.conflist'));
    writeFileSync(template, readFileSync(template, 'utf8').replace('bin_dir = "${SNAP_DATA}/opt', 'bin_dir = "${SNAP}/opt'));
    rmSync(at('netdemo.marker'));
    const problems = [
      'enable/netdemo/apiserver-flag: args/kube-apiserver has --demo-flag=off, not --demo-flag=on',
      'enable/netdemo/flannel-lock: var/lock/no-flanneld is missing',
      'enable/netdemo/cni-config: args/cni-network/05-demo.conf differs from what the addon installed',
      'enable/netdemo/cni-set-aside: args/cni-network/flannel.conflist is active again (the addon set it aside as flannel.conflist.mk8s-addons-aside)',
      "enable/netdemo/containerd-bin-dir: args/containerd-template.toml no longer has the addon's edit",
      'enable/netdemo/marker: netdemo.marker is missing',
    ];
    assert.deepEqual(cli(['status', '-a', 'netdemo']), { code: 1, stdout: 'degraded\n', stderr: `mk8s-addons: netdemo is degraded: ${problems.join('; ')}\n` });
    // No API server here: MicroK8s is not running, and only the node's files were checked.
    const y = cli(['status', '--format', 'yaml']);
    assert.equal(y.code, 1);
    const report = yaml.load(y.stdout) as { microk8s: { running: boolean; reason: string }; addons: { name: string; status: string }[] };
    assert.equal(report.microk8s.running, false);
    assert.match(report.microk8s.reason, /^the API server does not answer \(cannot read the kubeconfig /);
    assert.deepEqual(report.addons.map((a) => [a.name, a.status]), [['bindemo', 'disabled'], ['faildemo', 'disabled'], ['netdemo', 'degraded'], ['slowdemo', 'disabled']]);
  } finally {
    n.cleanup();
  }
});

test('status on a fresh node: the MicroK8s YAML shape with real booleans, the same as JSON, one addon with -a', () => {
  node = sandbox();
  argsBefore = argsDigest();

  const y = node.cli(['status', '--format', 'yaml']);
  assert.equal(y.code, 0, y.stderr);
  assert.equal(y.stderr, '');
  assert.match(y.stdout, /^microk8s:\n {2}running: true\nhigh-availability:\n {2}enabled: true\naddons:\n {2}- name: cilium\n/);
  // The 1.35 sandbox is an HA (dqlite) node: var/lock/ha-cluster exists.
  assert.deepEqual(yaml.load(y.stdout), { microk8s: { running: true }, 'high-availability': { enabled: true }, addons: expectedAddons() });

  const j = node.cli(['status', '--output', 'json']);
  assert.equal(j.code, 0, j.stderr);
  assert.equal(j.stdout.trim().split('\n').length, 1);
  assert.deepEqual(JSON.parse(j.stdout), { type: 'status', ...(yaml.load(y.stdout) as object) });
  assert.deepEqual(JSON.parse(node.cli(['status', '--format', 'json']).stdout), JSON.parse(j.stdout));

  const p = node.cli(['status']);
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(p.stdout.split('\n').slice(0, 5), ['microk8s is running', 'high-availability: yes', 'addons:', '  enabled:', '    (none)']);
  assert.match(p.stdout, /\n {2}disabled:\n {4}cilium +1\.20\.0 +Cilium/);

  assert.deepEqual(node.cli(['status', '-a', 'dns']), { code: 0, stdout: 'disabled\n', stderr: '' });
  assert.deepEqual(node.cli(['status', '--addon', 'dns', '--output', 'json']), { code: 0, stdout: '{"type":"addon-status","name":"dns","status":"disabled"}\n', stderr: '' });
  assert.deepEqual(node.cli(['status', '-a', 'helm']), {
    code: 2,
    stdout: '',
    stderr: 'mk8s-addons: error: unknown addon "helm" (did you mean "helm3"?); available: cilium, dns, helm3, hubble (see "mk8s-addons list")\n',
  });
  assert.deepEqual(node.cli(['status', '--format', 'short']), { code: 2, stdout: '', stderr: 'mk8s-addons: error: invalid --format "short": use pretty, yaml or json\n' });
  assert.deepEqual(node.cli(['status', 'dns']), { code: 2, stdout: '', stderr: 'mk8s-addons: error: status takes no arguments; got "dns" (for one addon: mk8s-addons status -a NAME)\n' });
});

test('status --wait-ready on a ready node waits for nothing; --datapath says why it did not check', () => {
  const r = node.cli(['status', '--wait-ready', '--timeout', '30s', '--datapath', '--format', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(s.microk8s, { running: true });
  assert.deepEqual(s.datapath, { checked: false, reason: 'cilium is not enabled' });
});

test('apply --dry-run on an empty node prints the plan and changes nothing', async () => {
  const file = applyFile('cluster.yaml', 'addons:\n  - name: dns\n    args: { servers: "1.1.1.1" }\n  - name: helm3\n');
  const before = treeDigest(node.info.snapData);
  const r = node.cli(['apply', '-f', file, '--dry-run', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const plan = events(r.stdout).find((e) => e.type === 'plan') as { addons: { name: string }[] } | undefined;
  assert.deepEqual(plan?.addons.map((a) => a.name), ['dns', 'helm3']);
  assert.deepEqual(notes(r.stdout, 'apply'), ['enable dns 1.12.1', 'enable helm3 3.17.2', `dry run: ${file} was compared with the node; nothing was changed`]);
  assert.ok(events(r.stdout).some((e) => e.type === 'step' && e.status === 'would-change' && e.phase === 'enable/helm3/binary'));
  assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 0, restarts: {}, dryRun: true });
  assert.deepEqual(treeDigest(node.info.snapData), before);
  assert.equal(await exists('deployment/coredns'), false);
});

test('apply from an empty node enables the listed addons; the same file again changes nothing', async () => {
  const file = path.join(files, 'cluster.yaml');
  const r = node.cli(['apply', '-f', file, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(notes(r.stdout, 'apply'), ['enable dns 1.12.1', 'enable helm3 3.17.2', '2 addon change(s): dns enabled, helm3 enabled']);
  const result = resultOf(r.stdout) as { changed: number; restarts: Record<string, number> };
  assert.ok(result.changed >= 6, JSON.stringify(result));
  assert.deepEqual(result.restarts, { kubelite: 1 });
  assert.equal(await forwardLine(), 'forward . 1.1.1.1');
  assert.equal(existsSync(helm3()), true);
  assert.deepEqual(node.cli(['status', '-a', 'dns']).stdout, 'enabled\n');
  assert.deepEqual(node.cli(['status', '-a', 'helm3']).stdout, 'enabled\n');

  const again = node.cli(['apply', '-f', file, '--output', 'json']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(notes(again.stdout, 'apply'), [
    'dns 1.12.1 is enabled as wanted; its steps are checked against the node',
    'helm3 3.17.2 is enabled as wanted; its steps are checked against the node',
    `the node already matches ${file}`,
  ]);
  assert.deepEqual(resultOf(again.stdout), { type: 'result', ok: true, changed: 0, restarts: {} });

  const plain = node.cli(['apply', '-f', file]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /\n0 step\(s\) changed the node; service restarts: none\n$/);
});

test('apply from dns with other servers changes only the forwarders', async () => {
  const enable = node.cli(['enable', 'dns:8.8.8.8', '--output', 'json']);
  assert.equal(enable.code, 0, enable.stderr);
  assert.equal(await forwardLine(), 'forward . 8.8.8.8');
  const file = path.join(files, 'cluster.yaml');
  const r = node.cli(['apply', '-f', file, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(notes(r.stdout, 'apply'), [
    'reconfigure dns: servers 8.8.8.8 -> 1.1.1.1',
    'helm3 3.17.2 is enabled as wanted; its steps are checked against the node',
    '1 addon change(s): dns reconfigured',
  ]);
  assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 1, restarts: {} });
  assert.equal(await forwardLine(), 'forward . 1.1.1.1');
  assert.deepEqual(journal().addons.dns?.args, { servers: '1.1.1.1' });
});

test('apply --prune from dns + helm3 disables helm3, which the file does not list', async () => {
  const file = applyFile('dns-only.yaml', '# only CoreDNS\naddons:\n  - name: dns\n    arguments: ["1.1.1.1"]\n');
  const without = node.cli(['apply', '-f', file, '--output', 'json']);
  assert.equal(without.code, 0, without.stderr);
  assert.deepEqual(notes(without.stdout, 'apply').slice(1), [`left as they are (not in ${file}; --prune disables them): helm3`, `the node already matches ${file}`]);
  assert.equal(existsSync(helm3()), true);

  const r = node.cli(['apply', '-f', file, '--prune', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(notes(r.stdout, 'apply'), [
    'dns 1.12.1 is enabled as wanted; its steps are checked against the node',
    'disable helm3 (not in the file; --prune)',
    '1 addon change(s): helm3 disabled',
  ]);
  assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 1, restarts: {} });
  assert.equal(existsSync(helm3()), false);
  assert.deepEqual(Object.keys(journal().addons), ['dns']);
});

test('apply with an invalid file fails before touching the node, pointing at the line', () => {
  const file = applyFile('bad.yaml', 'addons:\n  - name: dns\n  - name: cilium\n    version: 1.9\n');
  const before = treeDigest(node.info.snapData);
  const r = node.cli(['apply', '-f', file]);
  assert.deepEqual(r, { code: 2, stdout: '', stderr: `mk8s-addons: error: ${file}:4: addons[1].version: must be a string such as "1.9"\n` });
  const bad = applyFile('bad-version.yaml', 'addons:\n  - name: cilium\n    version: "1.7"\n');
  const v = node.cli(['apply', '-f', bad, '--output', 'json']);
  assert.equal(v.code, 2);
  assert.match((events(v.stdout)[0] as { message: string }).message, new RegExp(`^${bad.replace(/[.]/g, '\\.')}:2: addons\\[0\\]: cilium 1\\.7\\.x is not bundled with mk8s-addons; available: 1\\.8\\.0, `));
  assert.deepEqual(node.cli(['apply']), { code: 2, stdout: '', stderr: 'mk8s-addons: error: apply needs a file: mk8s-addons apply -f FILE (see "mk8s-addons apply --help")\n' });
  assert.deepEqual(treeDigest(node.info.snapData), before);
});

test('drift: the journal says dns, Deployment coredns is gone: degraded with the reason, exit 1; apply repairs it', async () => {
  await node.kubectl(['-n', 'kube-system', 'delete', 'deployment', 'coredns', '--wait=true']);
  const reason = 'enable/dns/coredns-objects: deployment/coredns in kube-system does not exist';
  assert.deepEqual(node.cli(['status', '-a', 'dns']), { code: 1, stdout: 'degraded\n', stderr: `mk8s-addons: dns is degraded: ${reason}\n` });
  assert.deepEqual(node.cli(['status', '-a', 'dns', '--output', 'json']), { code: 1, stdout: `${JSON.stringify({ type: 'addon-status', name: 'dns', status: 'degraded', reason })}\n`, stderr: '' });
  const y = node.cli(['status', '--format', 'yaml']);
  assert.equal(y.code, 1);
  assert.deepEqual((yaml.load(y.stdout) as { addons: unknown }).addons, expectedAddons({ dns: { degraded: reason } }));
  const p = node.cli(['status']);
  assert.match(p.stdout, new RegExp(`\\n {2}degraded:\\n {4}dns +1\\.12\\.1 +CoreDNS[^\\n]*\\n {6}${reason.replace(/[./]/g, '\\$&')}\\n`));

  // A node file too: the kubelet flag the addon set, removed by hand.
  const kubelet = path.join(node.info.snapData, 'args', 'kubelet');
  const text = readFileSync(kubelet, 'utf8');
  writeFileSync(kubelet, text.replace('--cluster-dns=10.152.183.10\n', ''));
  assert.deepEqual(node.cli(['status', '-a', 'dns']).stderr, `mk8s-addons: dns is degraded: ${reason}; enable/dns/kubelet-cluster-dns: args/kubelet has no --cluster-dns line\n`);

  const r = node.cli(['apply', '-f', path.join(files, 'dns-only.yaml'), '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(notes(r.stdout, 'apply').at(-1), '1 addon change(s): dns repaired');
  assert.equal(readFileSync(kubelet, 'utf8'), text);
  assert.deepEqual(node.cli(['status', '-a', 'dns']), { code: 0, stdout: 'enabled\n', stderr: '' });
});

test('status works for a user who is not root when the files are readable', () => {
  const asNobody = (args: string[]) => {
    const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, CLI, ...args], {
      encoding: 'utf8',
      env: { ...process.env, ...NO_PROXY_ENV, ...node.env, HOME: os.tmpdir(), NO_COLOR: '1' },
      cwd: os.tmpdir(),
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const journalFile = path.join(node.info.snapData, 'var', 'mk8s-addons', 'journal.json');
  const base = path.dirname(node.dir);
  const baseMode = statSync(base).mode & 0o7777;
  try {
    assert.deepEqual(asNobody(['status', '-a', 'dns']), { code: 3, stdout: '', stderr: `mk8s-addons: error: no permission to read ${node.info.snapData}; run mk8s-addons status with sudo\n` });
    chmodSync(base, 0o755);
    assert.deepEqual(asNobody(['status', '-a', 'dns']), {
      code: 3,
      stdout: '',
      stderr: `mk8s-addons: error: no permission to read the journal ${journalFile}; run mk8s-addons status with sudo (mk8s-addons writes its journal readable by root only)\n`,
    });
    chmodSync(journalFile, 0o644);
    chmodSync(node.info.kubeconfig, 0o644);
    assert.deepEqual(asNobody(['status', '-a', 'dns']), { code: 0, stdout: 'enabled\n', stderr: '' });
    const y = asNobody(['status', '--format', 'yaml']);
    assert.equal(y.code, 0, y.stderr);
    assert.deepEqual(yaml.load(y.stdout), { microk8s: { running: true }, 'high-availability': { enabled: true }, addons: expectedAddons({ dns: 'enabled' }) });
  } finally {
    chmodSync(base, baseMode);
    chmodSync(journalFile, 0o600);
    chmodSync(node.info.kubeconfig, 0o600);
  }
});

test('reset disables every addon and restores the node files byte-identical, saying which; a second reset has nothing to do', async () => {
  assert.equal(node.cli(['enable', 'helm3']).code, 0);
  // An edit after mk8s-addons changed the file: reset puts back the file as it was before mk8s-addons.
  const kubelet = path.join(node.info.snapData, 'args', 'kubelet');
  writeFileSync(kubelet, `${readFileSync(kubelet, 'utf8')}--v=4\n`);
  assert.notDeepEqual(argsDigest(), argsBefore);

  const r = node.cli(['reset', '--destroy-storage', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(notes(r.stdout, 'reset'), [
    '--destroy-storage: no addon in the catalogue keeps storage, so there is no storage to destroy; addons are disabled as usual',
    'done: disabled dns, helm3; 1 node file(s) restored from the snapshot',
  ]);
  assert.deepEqual(notes(r.stdout, 'reset/restore'), ['restored args/kubelet (content as before mk8s-addons)']);
  assert.deepEqual(notes(r.stdout, 'reset/restarts'), ['restarted kubelite (args/kubelet restored)']);
  // Dependants first: nothing here depends on another, so the order is the journal's.
  const undone = events(r.stdout).filter((e) => e.type === 'step' && e.status === 'undone').map((e) => String(e.phase));
  assert.deepEqual([...new Set(undone.filter((p) => p.startsWith('disable/')).map((p) => p.split('/')[1]))].sort(), ['dns', 'helm3']);
  // The restore is an undo step of the engine, after the disables.
  assert.deepEqual(undone.filter((p) => !p.startsWith('disable/')), ['reset/restore/args/kubelet']);
  assert.deepEqual(argsDigest(), argsBefore);
  assert.equal(existsSync(helm3()), false);
  // The sandbox has no $SNAP_DATA/bin: the folder helm3's enable made goes with it.
  assert.equal(existsSync(path.dirname(helm3())), false);
  assert.equal(await gone('deployment/coredns'), true);
  assert.equal(await gone('configmap/coredns'), true);
  assert.deepEqual({ ...journal(), format: undefined }, { format: undefined, addons: {}, operation: null, snapshot: {} });
  assert.deepEqual((yaml.load(node.cli(['status', '--format', 'yaml']).stdout) as { addons: unknown }).addons, expectedAddons());

  const again = node.cli(['reset', '--output', 'json']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(notes(again.stdout, 'reset'), ['nothing to do: no addon is enabled and every node file mk8s-addons changed is as it was before']);
  assert.deepEqual(resultOf(again.stdout), { type: 'result', ok: true, changed: 0, restarts: {} });
  assert.deepEqual(argsDigest(), argsBefore);
});

test('reset after an enable killed half-way rolls the interrupted run back', async () => {
  const killed = node.cli(['enable', 'dns', '--output', 'json'], { MK8S_ADDONS_CRASH_AT: 'enable/dns/kubelet-cluster-dns:after' });
  assert.equal(killed.code, null);
  assert.notDeepEqual(argsDigest(), argsBefore);
  assert.equal(await exists('deployment/coredns'), true);
  const status = node.cli(['status', '-a', 'dns']);
  assert.equal(status.code, 1);
  assert.equal(status.stdout, 'degraded\n');
  assert.match(status.stderr, /^mk8s-addons: dns is degraded: enable\/dns: an interrupted run \(pid \d+: mk8s-addons enable dns, started [^)]+\) left 4 step\(s\) applied; the next enable, disable or reset rolls them back\n$/);

  const r = node.cli(['reset', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(String(notes(r.stdout, 'recover')[0]), /^an earlier run \(pid \d+: mk8s-addons enable dns, started .+\) was interrupted; rolling back its 4 step\(s\)$/);
  assert.deepEqual(
    events(r.stdout).filter((e) => e.type === 'step' && e.status === 'undone').map((e) => e.phase),
    ['enable/dns/kubelet-cluster-dns', 'enable/dns/kubelet-cluster-domain', 'enable/dns/coredns-objects', 'enable/dns/corefile'],
  );
  assert.deepEqual(argsDigest(), argsBefore);
  assert.equal(await gone('deployment/coredns'), true);
  assert.deepEqual({ ...journal(), format: undefined }, { format: undefined, addons: {}, operation: null, snapshot: {} });
  assert.deepEqual(node.cli(['status', '-a', 'dns']), { code: 0, stdout: 'disabled\n', stderr: '' });
});

test('reset killed half-way through its restores is finished by the next run', async () => {
  assert.equal(node.cli(['enable', 'dns']).code, 0);
  const kubelet = path.join(node.info.snapData, 'args', 'kubelet');
  writeFileSync(kubelet, `${readFileSync(kubelet, 'utf8')}--v=4\n`);

  const killed = node.cli(['reset', '--output', 'json'], { MK8S_ADDONS_CRASH_AT: 'reset/restore/args/kubelet:before' });
  assert.equal(killed.code, null);
  assert.notDeepEqual(argsDigest(), argsBefore);
  const left = journal() as unknown as { addons: object; operation: { type: string; steps: { phase: string; kind: string }[] } };
  assert.deepEqual(left.addons, {});
  assert.deepEqual([left.operation.type, left.operation.steps.map((s) => `${s.kind} ${s.phase}`)], ['reset', ['file reset/restore/args/kubelet']]);

  const r = node.cli(['reset', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(String(notes(r.stdout, 'recover')[0]), /^an earlier run \(pid \d+: mk8s-addons reset, started .+\) was interrupted; finishing its 1 step\(s\)$/);
  assert.deepEqual(
    events(r.stdout).filter((e) => e.type === 'step' && e.status === 'undone').map((e) => e.phase),
    ['reset/restore/args/kubelet'],
  );
  assert.deepEqual(notes(r.stdout, 'reset/restarts'), ['restarted kubelite (args/kubelet restored)']);
  assert.deepEqual(argsDigest(), argsBefore);
  assert.deepEqual({ ...journal(), format: undefined }, { format: undefined, addons: {}, operation: null, snapshot: {} });
  assert.deepEqual(node.cli(['status', '-a', 'dns']), { code: 0, stdout: 'disabled\n', stderr: '' });
});

test('reset is refused while the cluster has another Node and this node has no callback token to reach it', async () => {
  assert.equal(node.cli(['enable', 'helm3']).code, 0);
  const extra = JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'lifecycle-extra', labels: { 'microk8s.io/cluster': 'true' } } });
  await node.kubectl(['create', '-f', '-'], { input: extra });
  try {
    const r = node.cli(['reset']);
    assert.deepEqual(r, {
      code: 3,
      stdout: '',
      stderr:
        `mk8s-addons: error: ${path.join(node.info.snapData, 'credentials', 'callback-token.txt')} is missing or empty: the cluster agents cannot be called without it; run mk8s-addons on a node that joined the cluster\n`,
    });
    assert.equal(existsSync(helm3()), true);
  } finally {
    await node.kubectl(['delete', 'node', 'lifecycle-extra']);
  }
});

test('a stopped node: --wait-ready times out with the reason, status shows the journal unchecked, reset refuses', () => {
  const stop = node.cli(['stop']);
  assert.equal(stop.code, 0, stop.stderr);
  const w = node.cli(['status', '--wait-ready', '--timeout', '2s']);
  assert.deepEqual(w, {
    code: 3,
    stdout: '',
    stderr: 'mk8s-addons: error: MicroK8s is not ready after 2 s: MicroK8s is stopped (var/lock/stopped.lock exists); start it with mk8s-addons start (or microk8s start), or raise --timeout\n',
  });
  const y = node.cli(['status', '--format', 'yaml']);
  assert.equal(y.code, 0, y.stderr);
  assert.deepEqual(yaml.load(y.stdout), {
    microk8s: { running: false, reason: 'MicroK8s is stopped (var/lock/stopped.lock exists)' },
    'high-availability': { enabled: true },
    addons: expectedAddons({ helm3: 'enabled' }),
  });
  assert.match(node.cli(['status']).stdout, /^microk8s is not running: MicroK8s is stopped \(var\/lock\/stopped\.lock exists\)\nhigh-availability: yes\naddons \(as the journal records them; not checked against the cluster while MicroK8s is not running\):\n/);
  assert.deepEqual(node.cli(['status', '-a', 'helm3']), { code: 0, stdout: 'enabled\n', stderr: '' });
  assert.deepEqual(node.cli(['reset']), {
    code: 3,
    stdout: '',
    stderr: 'mk8s-addons: error: MicroK8s is stopped (var/lock/stopped.lock exists); start it first: mk8s-addons start (or microk8s start)\n',
  });
});
