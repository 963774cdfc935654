/**
 * The snap (issue 16, part 2): `npm run snap` builds mk8s-addons_<version>_<arch>.snap; it is unpacked with
 * unsquashfs at a /snap/mk8s-addons/<rev>-shaped path and its app is run with the environment snapd gives a
 * classic snap (SNAP pointing into the unpacked tree, SNAP_NAME=mk8s-addons, its own SNAP_DATA and
 * SNAP_COMMON, HOME its SNAP_USER_DATA) and a PATH with neither node nor the checkout's tools: only the
 * snap's files. Those SNAP* variables are the mk8s-addons snap's, never MicroK8s's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { ROOT } from '../support/cli.js';
import { sha256File } from '../support/package.js';
import { treeDigest } from '../support/node.js';
import { useSandbox, type TestSandbox } from '../support/sandbox.js';
import { dataTree } from '../support/cilium-node.js';
import { controlPlaneCacheBinDir } from '../../src/sandbox/binaries.js';

const ARCH = { x64: 'amd64', arm64: 'arm64' }[process.arch as 'x64' | 'arm64'];
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

describe('the snap, unpacked and run as snapd runs a classic snap', () => {
  const sandbox = useSandbox('1.20');
  let snapFile: string;
  let base: string;
  let snap: string;
  let env: NodeJS.ProcessEnv;
  let snapTreeBefore: Record<string, string>;
  let sb: TestSandbox;

  const app = (args: string[]) => {
    const snapYaml = yaml.load(readFileSync(path.join(snap, 'meta', 'snap.yaml'), 'utf8')) as { apps: Record<string, { command: string }> };
    const r = spawnSync(path.join(snap, snapYaml.apps['mk8s-addons']?.command as string), args, { encoding: 'utf8', env, cwd: env.HOME, timeout: 400_000 });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const onSandbox = (args: string[]) => {
    const r = app([...args, '--snap', sb.info.snap, '--snap-data', sb.info.snapData, '--snap-common', sb.info.snapCommon]);
    assert.equal(r.code, 0, `${args.join(' ')} exited with ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  };
  const statusOf = () =>
    Object.fromEntries((yaml.load(onSandbox(['status', '--format', 'yaml']).stdout) as { addons: { name: string; status: string }[] }).addons.map((a) => [a.name, a.status]));

  before(() => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'snap.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 1_200_000 });
    assert.equal(r.status, 0, r.stderr);
    snapFile = r.stdout.trim().split('\n').at(-1) as string;
    base = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-snap-'));
    snap = path.join(base, 'snap', 'mk8s-addons', 'x1');
    mkdirSync(path.dirname(snap), { recursive: true });
    const u = spawnSync('unsquashfs', ['-q', '-n', '-d', snap, snapFile], { encoding: 'utf8' });
    assert.equal(u.status, 0, u.stderr);
    // What snapd sets for a classic snap's app (and the folders it makes).
    const snapData = path.join(base, 'var', 'snap', 'mk8s-addons', 'x1');
    const snapCommon = path.join(base, 'var', 'snap', 'mk8s-addons', 'common');
    const userData = path.join(base, 'root', 'snap', 'mk8s-addons', 'x1');
    for (const d of [snapData, snapCommon, userData, path.join(base, 'root', 'snap', 'mk8s-addons', 'common')]) mkdirSync(d, { recursive: true });
    env = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin',
      HOME: userData,
      SNAP: snap,
      SNAP_NAME: 'mk8s-addons',
      SNAP_INSTANCE_NAME: 'mk8s-addons',
      SNAP_REVISION: 'x1',
      SNAP_VERSION: pkg.version,
      SNAP_ARCH: ARCH,
      SNAP_LIBRARY_PATH: '/var/lib/snapd/lib/gl:/var/lib/snapd/lib/gl32:/var/lib/snapd/void',
      SNAP_DATA: snapData,
      SNAP_COMMON: snapCommon,
      SNAP_USER_DATA: userData,
      SNAP_USER_COMMON: path.join(base, 'root', 'snap', 'mk8s-addons', 'common'),
      SNAP_REAL_HOME: path.join(base, 'root'),
      NO_COLOR: '1',
      // The sandbox's control plane binaries: test-only, for `sandbox`, which this test does not run from the snap.
      KUBEBUILDER_ASSETS: controlPlaneCacheBinDir(process.env),
    };
    snapTreeBefore = treeDigest(snap);
  });
  after(() => {
    if (base) rmSync(base, { recursive: true, force: true });
  });

  test('the file: in the project root, named by version and architecture, ignored by git', () => {
    assert.equal(snapFile, path.join(ROOT, `mk8s-addons_${pkg.version}_${ARCH}.snap`));
    assert.equal(spawnSync('git', ['check-ignore', '-q', snapFile], { cwd: ROOT }).status, 0, 'git ignores it');
  });

  test('meta/snap.yaml is generated from snap/snapcraft.yaml; the tree holds node, the command and the package', () => {
    const craft = yaml.load(readFileSync(path.join(ROOT, 'snap', 'snapcraft.yaml'), 'utf8')) as Record<string, unknown> & { apps: Record<string, { command: string }> };
    const meta = yaml.load(readFileSync(path.join(snap, 'meta', 'snap.yaml'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(meta, {
      name: craft.name,
      version: pkg.version,
      summary: craft.summary,
      description: craft.description,
      architectures: [ARCH],
      base: craft.base,
      apps: { 'mk8s-addons': { command: craft.apps['mk8s-addons']?.command } },
      confinement: 'classic',
      grade: craft.grade,
    });
    assert.deepEqual(readdirSync(snap).sort(), ['bin', 'lib', 'meta']);
    assert.deepEqual(readdirSync(path.join(snap, 'bin')).sort(), ['mk8s-addons', 'node']);
    assert.equal(spawnSync(path.join(snap, 'bin', 'node'), ['--version'], { encoding: 'utf8' }).stdout, `${process.version}\n`);
    // helm and kubectl plain (the squashfs compresses them), the same binaries as the checkout's.
    for (const tool of ['helm', 'kubectl']) assert.equal(sha256File(path.join(snap, 'lib', 'mk8s-addons', 'vendor', 'bin', tool)), sha256File(path.join(ROOT, 'vendor', 'bin', tool)));
    assert.deepEqual(readdirSync(path.join(snap, 'lib', 'mk8s-addons', 'vendor')), ['bin']);
  });

  test("its own SNAP, SNAP_DATA and SNAP_COMMON are never taken for MicroK8s's", () => {
    assert.equal(app(['--version']).stdout, `${pkg.version}\n`);
    assert.match(app(['list']).stdout, /^cilium +1\.20\.0 /m);
    // No MicroK8s on this machine: it looks at MicroK8s's standard paths, not at the snap's SNAP_DATA.
    const r = app(['status']);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, 'mk8s-addons: error: MicroK8s not found: /var/snap/microk8s/current/args does not exist; install MicroK8s (sudo snap install microk8s --classic) or point --snap-data at a node\n');
    const dry = app(['enable', 'dns', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /\n\(no MicroK8s node at \/var\/snap\/microk8s\/current: showing the plan without checking the node\)\n$/);
    assert.deepEqual(treeDigest(env.SNAP_DATA as string), {});
    assert.deepEqual(treeDigest(env.SNAP_COMMON as string), {});
  });

  test('enable and disable cilium on a sandbox node with nothing but the snap', () => {
    sb = sandbox();
    const start = dataTree(sb);
    onSandbox(['enable', 'cilium']);
    // $SNAP_DATA/bin/helm3 runs the snap's helm (the sandbox's MicroK8s snap folder has none).
    assert.match(readFileSync(path.join(sb.info.snapData, 'bin', 'helm3'), 'utf8'), new RegExp(`\nexec '?${path.join(snap, 'lib', 'mk8s-addons', 'vendor', 'bin', 'helm').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'? --kubeconfig`));
    assert.equal(statusOf().cilium, 'enabled');
    // The agent CLI wrapper it installed names the snap's kubectl (the sandbox's snap has none).
    assert.match(readFileSync(path.join(sb.info.snapData, 'bin', 'cilium'), 'utf8'), new RegExp(`exec '?${path.join(snap, 'lib', 'mk8s-addons', 'vendor', 'bin', 'kubectl').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'? --kubeconfig`));
    onSandbox(['disable', 'cilium', 'helm3']);
    assert.deepEqual(statusOf(), { cilium: 'disabled', dns: 'disabled', helm3: 'disabled', hubble: 'disabled' });
    assert.deepEqual(dataTree(sb), start, 'the node is back as it was');
    assert.deepEqual(treeDigest(env.SNAP_DATA as string), {}, "nothing in the snap's own SNAP_DATA");
  });

  test('microk8s-repo install from the snap: hooks run /snap/bin/mk8s-addons, whatever the revision', () => {
    mkdirSync(path.join(sb.info.snapCommon, 'addons'), { recursive: true });
    onSandbox(['microk8s-repo', 'install']);
    const hook = readFileSync(path.join(sb.info.snapCommon, 'addons', 'mk8s-addons', 'addons', 'cilium', 'enable'), 'utf8');
    assert.match(hook, /\nexec '\/snap\/bin\/mk8s-addons' --snap "\$\{SNAP:-\/snap\/microk8s\/current\}" /);
    onSandbox(['microk8s-repo', 'remove']);
    rmSync(path.join(sb.info.snapCommon, 'addons'), { recursive: true });
  });

  test("nothing was written into the snap's tree but the caches in dist/ (a read-only squashfs refuses them, and they are skipped)", () => {
    const after = treeDigest(snap);
    const added = Object.keys(after).filter((f) => !(f in snapTreeBefore));
    const changed = Object.keys(snapTreeBefore).filter((f) => after[f] !== snapTreeBefore[f]);
    assert.deepEqual(changed, []);
    // The catalogue cache and the derived cache (src/adapters/derived-cache.ts): both written only where they can be.
    assert.deepEqual(added.filter((f) => !/^lib\/mk8s-addons\/dist\/(catalogue-cache\.json|derived-cache\/([^/]+\.json)?)$/.test(f)), []);
  });
});
