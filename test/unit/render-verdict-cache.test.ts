/**
 * The render check's kept verdicts (renderCheckCached, src/cilium/render-check.ts; the per-user folder in
 * src/adapters/derived-cache.ts): a passing render is kept under the sha256 of every input, the same check
 * again runs no `helm template`, any other input renders again, a failing render is never kept, and only
 * this user's own, private files count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/cli.js';
import type { HelmContext } from '../../src/adapters/helm.js';
import { cacheRoot, checkCacheDir, readVerdict, writeVerdict } from '../../src/adapters/derived-cache.js';
import { mergeUserValues } from '../../src/cilium/helm-values.js';
import { ciliumHostPathRewrites } from '../../src/cilium/post-render.js';
import { renderCheckCached, renderVerdictKey, type RenderCheckParams } from '../../src/cilium/render-check.js';
import { ciliumValues } from '../../src/cilium/values.js';

const SNAP_DATA = '/var/snap/microk8s/current';
const work = mkdtempSync(path.join(os.tmpdir(), 'render-verdict-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const REAL_HELM = path.join(ROOT, 'vendor', 'bin', 'helm');
const LOG = path.join(work, 'helm-calls.log');

/** A helm that logs each call, then runs the real one: the test sees whether `helm template` ran. */
function loggingHelm(name: string): string {
  const file = path.join(work, name);
  writeFileSync(file, `#!/bin/sh\necho "$1" >> '${LOG}'\nexec '${REAL_HELM}' "$@"\n`, { mode: 0o755 });
  return file;
}
const helmCalls = (): string[] => readFileSync(LOG, 'utf8').split('\n').filter(Boolean);
const home = path.join(work, 'home');
mkdirSync(home);
const ctxFor = (helm: string, extraEnv: NodeJS.ProcessEnv = {}): HelmContext => ({
  helm,
  env: { PATH: process.env.PATH, HOME: home, HELM_CACHE_HOME: home, HELM_CONFIG_HOME: home, HELM_DATA_HOME: home, ...extraEnv },
});

async function params(version: string, opts: { set?: string[]; kubeVersion?: string; snapData?: string } = {}): Promise<RenderCheckParams> {
  const snapData = opts.snapData ?? SNAP_DATA;
  const ours = await ciliumValues({ version, snapData, snapCommon: '/var/snap/microk8s/common', podCidr: '10.1.0.0/16' });
  return {
    chart: path.join(ROOT, 'charts', 'cilium', `cilium-${version}.tgz`),
    values: mergeUserValues([ours], { set: opts.set ?? [] }),
    rewrites: ciliumHostPathRewrites(version, snapData),
    expect: { snapData, podCidr: '10.1.0.0/16' },
    kubeVersion: opts.kubeVersion ?? '1.20.15',
  };
}

test('verdict cache folder: MK8S_ADDONS_CHECK_CACHE, else <MK8S_ADDONS_CACHE, XDG_CACHE_HOME/mk8s-addons or ~/.cache/mk8s-addons>/checks', () => {
  assert.equal(checkCacheDir({ MK8S_ADDONS_CHECK_CACHE: '/v', MK8S_ADDONS_CACHE: '/c' }), '/v');
  assert.equal(checkCacheDir({ MK8S_ADDONS_CACHE: '/c', XDG_CACHE_HOME: '/x' }), '/c/checks');
  assert.equal(checkCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/mk8s-addons/checks');
  assert.equal(cacheRoot({}), path.join(os.homedir(), '.cache', 'mk8s-addons'));
});

test('render verdict: a pass is kept; the same check again runs no helm template; every other input renders again', async () => {
  const cache = path.join(work, 'cache-1');
  writeFileSync(LOG, '');
  const helm = loggingHelm('helm');
  const ctx = ctxFor(helm);
  const p = await params('1.8.13');
  assert.deepEqual(await renderCheckCached(ctx, p, cache), { problems: [], cached: false });
  assert.deepEqual(helmCalls(), ['template']);
  assert.deepEqual(await renderCheckCached(ctx, p, cache), { problems: [], cached: true });
  assert.deepEqual(helmCalls(), ['template'], 'the same inputs again: no helm');
  const files = readdirSync(cache);
  assert.equal(files.length, 1);
  assert.deepEqual(JSON.parse(readFileSync(path.join(cache, files[0] as string), 'utf8')).value, { problems: [], chart: 'cilium-1.8.13.tgz', kubeVersion: '1.20.15' });

  // Each input the verdict depends on, changed alone, is a miss: helm template runs again.
  const key = await renderVerdictKey(ctx, p);
  const other = helm.replace(/helm$/, 'helm-copy');
  copyFileSync(helm, other);
  const variants: [string, HelmContext, RenderCheckParams][] = [
    ['another value', ctx, await params('1.8.13', { set: ['hubble.enabled=true'] })],
    ['another Kubernetes version', ctx, { ...p, kubeVersion: '1.21.0' }],
    ['another $SNAP_DATA (values, rewrites, expectations)', ctx, await params('1.8.13', { snapData: '/var/snap/other/current' })],
    ['another expectation only', ctx, { ...p, expect: { ...p.expect, podCidr: '10.2.0.0/16' } }],
    ['no rewrites', ctx, { ...p, rewrites: [] }],
    ['another chart', ctx, await params('1.9.18')],
    ['another helm binary', ctxFor(other), p],
    ['a HELM_ setting in the environment', ctxFor(helm, { HELM_KUBEAPISERVER: 'https://example.invalid' }), p],
  ];
  for (const [what, c, q] of variants) {
    const k = await renderVerdictKey(c, q);
    assert.ok(k !== undefined && k !== key, `${what}: another key`);
    writeFileSync(LOG, '');
    const r = await renderCheckCached(c, q, cache);
    assert.equal(r.cached, false, what);
    assert.deepEqual(helmCalls(), ['template'], `${what}: helm template ran`);
  }
  // Not a HELM_ variable: the same key.
  assert.equal(await renderVerdictKey(ctxFor(helm, { UNRELATED: 'x' }), p), key);

  // The same helm file rewritten (new mtime and ctime, same bytes) is another binary as far as the key knows.
  utimesSync(helm, new Date(), new Date(Date.now() - 60_000));
  assert.notEqual(await renderVerdictKey(ctx, p), key);
  // A helm given by name (not a path) cannot be identified: checked, never kept.
  assert.equal(await renderVerdictKey({ ...ctx, helm: 'helm' }, p), undefined);
});

test('render verdict: a render with problems is never kept; it is rendered and reported in full every time', async () => {
  const cache = path.join(work, 'cache-2');
  writeFileSync(LOG, '');
  const ctx = ctxFor(loggingHelm('helm-2'));
  const bad = await params('1.8.13', { set: ['global.cni.binPath=/opt/cni/bin'] });
  for (let i = 0; i < 2; i++) {
    const r = await renderCheckCached(ctx, bad, cache);
    assert.equal(r.cached, false);
    assert.deepEqual(
      r.problems.map((x) => x.message),
      [`hostPath /opt/cni/bin (volume cni-path) is the stock path; on MicroK8s it is ${SNAP_DATA}/opt/cni/bin`, `no hostPath ${SNAP_DATA}/opt/cni/bin (the CNI bin dir, cni.binPath)`],
    );
  }
  assert.deepEqual(helmCalls(), ['template', 'template']);
  assert.equal(existsSync(cache), false, 'nothing kept');
});

test('verdict files: only this user\'s own private regular file counts; an unwritable folder just keeps nothing; at most 64 are kept', () => {
  const dir = path.join(work, 'cache-3');
  const key = 'a'.repeat(64);
  writeVerdict(dir, key, { problems: [] });
  assert.deepEqual(readVerdict(dir, key), { problems: [] });
  assert.equal(readVerdict(dir, 'b'.repeat(64)), undefined);
  const file = path.join(dir, `${key}.json`);
  // Writable by the group or others: someone else could have planted it.
  chmodSync(file, 0o620);
  assert.equal(readVerdict(dir, key), undefined);
  chmodSync(file, 0o600);
  // A symlink is not followed.
  const link = 'c'.repeat(64);
  symlinkSync(file, path.join(dir, `${link}.json`));
  assert.equal(readVerdict(dir, link), undefined);
  // A file whose key is another is a miss; so is a damaged one.
  writeFileSync(path.join(dir, `${'d'.repeat(64)}.json`), JSON.stringify({ key: 'e'.repeat(64), value: { problems: [] } }), { mode: 0o600 });
  assert.equal(readVerdict(dir, 'd'.repeat(64)), undefined);
  writeFileSync(file, '{"key":', { mode: 0o600 });
  assert.equal(readVerdict(dir, key), undefined);
  // Not owned by this user.
  if (process.geteuid?.() === 0) {
    const theirs = 'f'.repeat(64);
    writeVerdict(dir, theirs, { problems: [] });
    assert.deepEqual(readVerdict(dir, theirs), { problems: [] });
    chownSync(path.join(dir, `${theirs}.json`), 65534, 65534);
    assert.equal(readVerdict(dir, theirs), undefined);
  }
  // A folder that cannot be made: nothing kept, no error.
  const blocked = path.join(work, 'not-a-folder');
  writeFileSync(blocked, '');
  writeVerdict(path.join(blocked, 'checks'), key, { problems: [] });
  assert.equal(readVerdict(path.join(blocked, 'checks'), key), undefined);
  // The oldest go past 64.
  const many = path.join(work, 'cache-4');
  for (let i = 0; i < 70; i++) writeVerdict(many, i.toString(16).padStart(64, '0'), { problems: [] });
  assert.equal(readdirSync(many).length, 64);
});
