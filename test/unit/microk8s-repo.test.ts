/**
 * `microk8s-repo install|remove|status` on a folder laid out like MicroK8s 1.24+'s $SNAP_COMMON (with its
 * core repository), no cluster: the repository's files against MicroK8s's contract, bad input (exit 2,
 * one line, nothing changed), and remove leaving $SNAP_COMMON as it was. The hooks run against a sandbox in
 * test/integration/microk8s-repo.test.ts.
 */
import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { CLI, ROOT, runCli } from '../support/cli.js';
import { treeDigest } from '../support/node.js';
import { hookWords, hookScript, checkRepositoryName } from '../../src/microk8s/repository.js';
import { launcherFor } from '../../src/commands/microk8s-repo.js';

/** What the hooks run: the shipped CLI (package.json's bin), not tsc's dist/src/cli.js. */
const SHIPPED_CLI = path.join(ROOT, 'dist', 'bundle', 'src', 'cli.js');

test('hook arguments: the positional ones joined back with ":", flag style passed as is', () => {
  const cases: [string, string[], string[]][] = [
    ['cilium', [], ['cilium']],
    ['cilium', ['v1.8'], ['cilium:v1.8']],
    ['dns', ['1.1.1.1,8.8.8.8', '10.152.183.20', 'cluster.local'], ['dns:1.1.1.1,8.8.8.8:10.152.183.20:cluster.local']],
    // microk8s enable dns:[2606:4700::1111]:53 splits at every ":"; joined, it is what the user wrote.
    ['dns', ['[2606', '4700', '', '1111]', '53'], ['dns:[2606:4700::1111]:53']],
    ['cilium', ['--version', '1.9', '--set', 'a=b'], ['cilium', '--version', '1.9', '--set', 'a=b']],
    ['hubble', ['--ui'], ['hubble', '--ui']],
  ];
  for (const [addon, args, want] of cases) assert.deepEqual(hookWords(addon, args), want, `${addon} ${args.join(' ')}`);
});

test('repository names: MicroK8s addresses REPOSITORY/ADDON, so no "/" or ":"', () => {
  for (const ok of ['mk8s-addons', 'my_repo.2']) assert.equal(checkRepositoryName(ok), ok);
  for (const bad of ['a/b', 'a:b', '.hidden', '', '../x']) {
    assert.throws(() => checkRepositoryName(bad), { message: `invalid repository name "${bad}": use letters, digits, ".", "_" and "-" only (MicroK8s addresses addons as REPOSITORY/ADDON), e.g. --name mk8s-addons` });
  }
});

test('the launcher: our snap runs through /snap/bin (any revision), else this node and CLI', () => {
  assert.deepEqual(launcherFor({ SNAP_NAME: 'mk8s-addons', SNAP: '/snap/mk8s-addons/x1' }, '/snap/mk8s-addons/x1/bin/node'), ['/snap/bin/mk8s-addons']);
  assert.deepEqual(launcherFor({}, '/usr/bin/node'), ['/usr/bin/node', SHIPPED_CLI]);
  // Addons of MK8S_ADDONS_EXTRA_ADDONS get hooks too: the hooks name the folders (MicroK8s passes no environment of ours).
  assert.deepEqual(launcherFor({ MK8S_ADDONS_EXTRA_ADDONS: '/srv/addons:/opt/more/' }, '/usr/bin/node'), ['/usr/bin/env', 'MK8S_ADDONS_EXTRA_ADDONS=/srv/addons:/opt/more', '/usr/bin/node', SHIPPED_CLI]);
  assert.equal(
    hookScript({ launcher: ['/usr/bin/node', "/o'dd/cli.js"], action: 'enable', addon: 'cilium', version: '0.1.0' }).split('\n').at(-2),
    `exec '/usr/bin/node' '/o'\\''dd/cli.js' --snap "\${SNAP:-/snap/microk8s/current}" --snap-data "\${SNAP_DATA:-/var/snap/microk8s/current}" --snap-common "\${SNAP_COMMON:-/var/snap/microk8s/common}" microk8s-repo hook enable cilium "$@"`,
  );
});

describe('microk8s-repo on a MicroK8s-shaped $SNAP_COMMON', () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-repo-'));
  const common = path.join(base, 'common');
  const data = path.join(base, 'data');
  const paths = ['--snap', path.join(base, 'snap'), '--snap-data', data, '--snap-common', common];
  const repo = path.join(common, 'addons', 'mk8s-addons');
  const repoCli = (args: string[]) => runCli(['microk8s-repo', ...args, ...paths]);
  after(() => rmSync(base, { recursive: true, force: true }));
  beforeEach(() => {
    rmSync(base, { recursive: true, force: true });
    // MicroK8s's core repository (its addons.yaml shape) and its state folders.
    mkdirSync(path.join(common, 'addons', 'core', 'addons', 'dns'), { recursive: true });
    writeFileSync(path.join(common, 'addons', 'core', 'addons.yaml'), 'microk8s-addons:\n  addons:\n    - {name: dns, description: CoreDNS, version: 1.10.1, check_status: pod/coredns, supported_architectures: [amd64, arm64]}\n');
    mkdirSync(path.join(common, 'run'), { recursive: true });
    mkdirSync(path.join(data, 'var', 'lock'), { recursive: true });
  });

  test('install writes a repository MicroK8s accepts: addons.yaml and executable hooks', () => {
    const r = repoCli(['install']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `repository mk8s-addons: installed in ${repo} (cilium, dns, helm3, hubble, mk8s-addons-node); microk8s enable cilium now runs ${process.execPath} ${SHIPPED_CLI}\n`);
    const doc = yaml.load(readFileSync(path.join(repo, 'addons.yaml'), 'utf8')) as { 'microk8s-addons': { addons: Record<string, unknown>[] } };
    const addons = doc['microk8s-addons'].addons;
    // mk8s-addons-node: what another node's fan-out runs through the cluster agent; its check file never exists.
    assert.deepEqual(addons.map((a) => a.name), ['cilium', 'dns', 'helm3', 'hubble', 'mk8s-addons-node']);
    for (const a of addons) {
      for (const key of ['name', 'description', 'version', 'check_status', 'supported_architectures']) assert.ok(a[key] !== undefined && a[key] !== '', `${String(a.name)} has ${key}`);
      assert.equal(typeof a.version, 'string');
      assert.deepEqual(a.supported_architectures, [{ x64: 'amd64', arm64: 'arm64' }[process.arch as 'x64' | 'arm64']]);
      assert.equal(a.confinement, 'classic');
      assert.equal(a.check_status, `\${SNAP_DATA}/var/mk8s-addons/enabled/${String(a.name)}${a.name === 'mk8s-addons-node' ? '-never' : ''}`);
      for (const action of ['enable', 'disable']) {
        const hook = path.join(repo, 'addons', String(a.name), action);
        assert.equal(statSync(hook).mode & 0o777, 0o755, `${hook} is executable`);
        assert.match(readFileSync(hook, 'utf8'), new RegExp(`microk8s-repo hook ${action} ${String(a.name)} "\\$@"\\n$`));
      }
    }
    assert.deepEqual(
      addons.map((a) => a.version),
      ['1.20.0', '1.12.1', '3.17.2', ...Array(2).fill(JSON.parse(readFileSync(path.join(path.dirname(CLI), '..', '..', 'package.json'), 'utf8')).version)],
    );
    // Installing again updates it in place; status reports it.
    assert.match(repoCli(['install']).stdout, /^repository mk8s-addons: updated in /);
    const s = repoCli(['status']);
    assert.equal(s.code, 0);
    assert.match(s.stdout, new RegExp(`^repository mk8s-addons: installed in ${repo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} by mk8s-addons [0-9.]+; hooks run `));
    assert.match(s.stdout, /\nenabled for MicroK8s \(its check_status files\): none; in the journal: none\n$/);
  });

  test('remove leaves $SNAP_COMMON exactly as before install', () => {
    const before = treeDigest(common);
    assert.equal(repoCli(['install', '--name', 'other']).code, 0);
    const r = repoCli(['remove', '--name', 'other']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `repository other: removed from ${path.join(common, 'addons')}; microk8s enable no longer reaches mk8s-addons\n`);
    assert.deepEqual(treeDigest(common), before);
    assert.equal(repoCli(['remove', '--name', 'other']).stdout, `repository other: not installed in ${path.join(common, 'addons')}; nothing to remove\n`);
  });

  test('bad input: exit 2, one line, nothing changed', () => {
    const before = treeDigest(base);
    const cases: [string[], string][] = [
      [['install', '--name', 'a/b'], 'invalid repository name "a/b": use letters, digits, ".", "_" and "-" only (MicroK8s addresses addons as REPOSITORY/ADDON), e.g. --name mk8s-addons'],
      [['install', '--name', 'core'], `${path.join(common, 'addons', 'core')} exists and was not written by mk8s-addons (no .mk8s-addons-repository.json); leave it alone and choose another name: --name NAME`],
      [['remove', '--name', 'core'], `${path.join(common, 'addons', 'core')} exists and was not written by mk8s-addons (no .mk8s-addons-repository.json); leave it alone and choose another name: --name NAME`],
      [['frobnicate'], 'microk8s-repo needs install, remove or status, not "frobnicate": mk8s-addons microk8s-repo install [--name NAME]'],
      [[], 'microk8s-repo needs install, remove or status: mk8s-addons microk8s-repo install [--name NAME]'],
      [['install', 'extra'], 'microk8s-repo install takes no arguments; got "extra" (the repository\'s name: --name NAME)'],
      [['install', '--nme', 'x'], 'unknown option --nme for microk8s-repo; run "mk8s-addons microk8s-repo --help"'],
      [['hook', 'frob', 'cilium'], 'microk8s-repo hook is what the repository\'s hooks run: mk8s-addons microk8s-repo hook enable|disable ADDON [ARG...]'],
      [['hook', 'enable', 'nosuch'], 'unknown addon "nosuch"; available: cilium, dns, helm3, hubble (see "mk8s-addons list")'],
    ];
    for (const [args, message] of cases) {
      const r = repoCli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `mk8s-addons: error: ${message}\n`, args.join(' '));
      assert.equal(r.stdout, '');
    }
    assert.deepEqual(treeDigest(base), before);
  });

  test('no $SNAP_COMMON/addons (MicroK8s before 1.24): exit 3, nothing written', () => {
    rmSync(path.join(common, 'addons'), { recursive: true });
    const before = treeDigest(base);
    const r = repoCli(['install']);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, `mk8s-addons: error: there is no ${path.join(common, 'addons')}: MicroK8s 1.24 and later keep addon repositories there (older MicroK8s cannot run them, or --snap-common is not MicroK8s's); use mk8s-addons enable directly\n`);
    assert.deepEqual(treeDigest(base), before);
  });

  test('--dry-run says what it would write and writes nothing', () => {
    const before = treeDigest(base);
    const r = repoCli(['install', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^would write .*mk8s-addons: \.mk8s-addons-repository\.json, addons\.yaml, addons\/cilium\/disable, addons\/cilium\/enable, /);
    assert.deepEqual(treeDigest(base), before);
  });
});
