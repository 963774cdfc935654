/**
 * The derived cache (src/adapters/derived-cache.ts) and what is kept in it: a pinned chart's lint table
 * and rendered values templates. An entry answers only for exactly the inputs it was made from, and
 * what it answers is what deriving again gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../support/cli.js';
import { digestOf, readDerived, writeDerived } from '../../src/adapters/derived-cache.js';
import { loadChartFiles } from '../../src/cilium/chart-archive.js';
import { chartKeysFromFiles, chartKeysFromJson, chartKeysToJson, isKnownPath, loadChartKeys } from '../../src/cilium/lint.js';
import { ciliumValues, renderValuesTemplate } from '../../src/cilium/values.js';

const CACHE = path.join(ROOT, 'dist', 'derived-cache');

test('derived cache: an entry answers only for its exact key; the parts of a key cannot run together', () => {
  const name = `test-entry-${process.pid}`;
  const key = digestOf(['chart bytes', 'code']);
  writeDerived(name, key, { answer: 42 });
  assert.deepEqual(readDerived(name, key), { answer: 42 });
  assert.equal(readDerived(name, digestOf(['chart bytes!', 'code'])), undefined);
  assert.equal(readDerived(`test-missing-${process.pid}`, key), undefined);
  assert.notEqual(digestOf(['ab', 'c']), digestOf(['a', 'bc']));
  assert.equal(digestOf(['x', Buffer.from('y')]), digestOf(['x', 'y']));
  // A damaged file is a miss, not an error.
  writeFileSync(path.join(CACHE, `${name}.json`), '{"key":');
  assert.equal(readDerived(name, key), undefined);
  rmSync(path.join(CACHE, `${name}.json`));
});

test('derived cache: a chart lint table read back from the cache is the one derived from the chart', async () => {
  for (const version of ['1.8.13', '1.20.0']) {
    const chart = path.join(ROOT, 'charts', 'cilium', `cilium-${version}.tgz`);
    const fresh = chartKeysFromFiles(await loadChartFiles(chart));
    assert.deepEqual(chartKeysFromJson(chartKeysToJson(fresh)), fresh);
    // loadChartKeys has written (or read) the entry under the digest of this chart's bytes.
    assert.deepEqual(await loadChartKeys(chart), fresh);
    const entry = JSON.parse(readFileSync(path.join(CACHE, `chart-keys-cilium-${version}.tgz.json`), 'utf8')) as { key: string; value: Parameters<typeof chartKeysFromJson>[0] };
    assert.deepEqual(chartKeysFromJson(entry.value), fresh);
    assert.equal(isKnownPath(chartKeysFromJson(entry.value), version === '1.8.13' ? ['global', 'hubble', 'enabled'] : ['hubble', 'enabled']), true);
  }
});

test('derived cache: a rendered values template is cached per exact data; other data renders afresh', async () => {
  const base = { version: '1.8.13', snapData: '/var/snap/microk8s/current', snapCommon: '/var/snap/microk8s/common', podCidr: '10.1.0.0/16' };
  const first = await ciliumValues(base);
  assert.deepEqual(await ciliumValues(base), first);
  const other = await ciliumValues({ ...base, snapData: '/var/snap/other/current' });
  assert.notDeepEqual(other, first);
  assert.match(JSON.stringify(other), /\/var\/snap\/other\/current\/var\/run\/cilium/);
  // The entry for the version holds the last data's text, and is what rendering that data gives.
  const text = await renderValuesTemplate('values-1.8.yaml.hbs', '1.8.13', { snapData: '/x', snapCommon: '/y', podCidr: '10.1.0.0/16', hubble: { enabled: false, relay: false, ui: false } });
  const entry = JSON.parse(readFileSync(path.join(CACHE, 'cilium-values-values-1.8.yaml.hbs-1.8.13.json'), 'utf8')) as { value: string };
  assert.equal(entry.value, text);
  assert.match(text, /"\/x\/var\/run\/cilium"/);
});
