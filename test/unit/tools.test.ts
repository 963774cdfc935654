/**
 * Which helm and kubectl mk8s-addons runs (src/adapters/tools.ts), and which snap paths it takes for
 * MicroK8s's when it runs inside a snap (src/node/node.ts). The bundled, compressed tools are unpacked
 * by the installed npm package in test/integration/npm-package.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/cli.js';
import { parseSha256Sums, resolveTool, toolCacheDir } from '../../src/adapters/tools.js';
import { defaultGlobals } from '../../src/grammar.js';
import { resolveSnapPaths } from '../../src/node/node.js';

test("MicroK8s's own helm3/helm and kubectl first, else the one beside the package", async (t) => {
  const snap = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-tools-'));
  t.after(() => rmSync(snap, { recursive: true, force: true }));
  assert.deepEqual(await resolveTool('helm', snap), { path: path.join(ROOT, 'vendor', 'bin', 'helm'), source: 'package', describe: `helm: the one beside mk8s-addons, ${path.join(ROOT, 'vendor', 'bin', 'helm')}` });
  mkdirSync(path.join(snap, 'bin'));
  writeFileSync(path.join(snap, 'bin', 'helm'), '');
  assert.equal((await resolveTool('helm', snap)).path, path.join(snap, 'bin', 'helm'));
  writeFileSync(path.join(snap, 'bin', 'helm3'), '');
  assert.deepEqual(await resolveTool('helm', snap), { path: path.join(snap, 'bin', 'helm3'), source: 'microk8s', describe: `helm: MicroK8s's own ${path.join(snap, 'bin', 'helm3')}` });
  assert.equal((await resolveTool('kubectl', snap)).source, 'package');
  writeFileSync(path.join(snap, 'kubectl'), '');
  assert.equal((await resolveTool('kubectl', snap)).path, path.join(snap, 'kubectl'));
});

test('the tool cache: MK8S_ADDONS_CACHE, else XDG_CACHE_HOME, else ~/.cache', () => {
  assert.equal(toolCacheDir({ MK8S_ADDONS_CACHE: '/c', XDG_CACHE_HOME: '/x' }), '/c/tools');
  assert.equal(toolCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/mk8s-addons/tools');
  assert.equal(toolCacheDir({}), path.join(os.homedir(), '.cache', 'mk8s-addons', 'tools'));
});

test('SHA256SUMS as sha256sum writes it (text and binary mode)', () => {
  const a = 'a'.repeat(64);
  const b = 'b'.repeat(64);
  assert.deepEqual([...parseSha256Sums(`${a}  helm\n${b} *kubectl\nnot a line\n`)], [['helm', a], ['kubectl', b]]);
});

test("inside a snap that is not MicroK8s's, SNAP / SNAP_DATA / SNAP_COMMON are not MicroK8s's", () => {
  const ours = { SNAP_NAME: 'mk8s-addons', SNAP: '/snap/mk8s-addons/x1', SNAP_DATA: '/var/snap/mk8s-addons/x1', SNAP_COMMON: '/var/snap/mk8s-addons/common' };
  assert.deepEqual(resolveSnapPaths(defaultGlobals(), ours), { snap: '/snap/microk8s/current', snapData: '/var/snap/microk8s/current', snapCommon: '/var/snap/microk8s/common' });
  assert.deepEqual(resolveSnapPaths({ ...defaultGlobals(), snap: '/s', snapData: '/d', snapCommon: '/c' }, ours), { snap: '/s', snapData: '/d', snapCommon: '/c' });
  // MicroK8s's own environment (a hook it runs), and no snap at all (a sandbox's exported variables).
  const microk8s = { SNAP_NAME: 'microk8s', SNAP: '/snap/microk8s/123', SNAP_DATA: '/var/snap/microk8s/123', SNAP_COMMON: '/var/snap/microk8s/common' };
  assert.deepEqual(resolveSnapPaths(defaultGlobals(), microk8s), { snap: '/snap/microk8s/123', snapData: '/var/snap/microk8s/123', snapCommon: '/var/snap/microk8s/common' });
  assert.deepEqual(resolveSnapPaths(defaultGlobals(), { SNAP: '/sb/snap', SNAP_DATA: '/sb/data', SNAP_COMMON: '/sb/common' }), { snap: '/sb/snap', snapData: '/sb/data', snapCommon: '/sb/common' });
});
