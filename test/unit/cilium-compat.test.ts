/** The Cilium / Kubernetes compatibility table (test/fixtures/cilium/compatibility.yaml) and its check. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import * as v from 'valibot';
import semverCompare from 'semver/functions/compare.js';
import { ROOT } from '../support/cli.js';
import { catalogue } from '../support/catalogue.js';
import { loadChartFiles } from '../../src/cilium/chart-archive.js';
import { checkCompatibility, type CompatibilityTable } from '../../src/compatibility.js';
import { compatibilityTableSchema } from '../../src/compatibility-schema.js';

const CILIUM = { name: 'Cilium', addon: 'cilium' };
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'cilium', 'compatibility.yaml');
const TABLE: CompatibilityTable = v.parse(compatibilityTableSchema, (yaml.load(readFileSync(FIXTURE, 'utf8')) as { compatibility: unknown }).compatibility);

// Where the chart has no kubeVersion, `requires` comes from elsewhere (see the fixture's comment).
const REQUIRES_WITHOUT_KUBEVERSION: Record<string, string> = { '1.8': '< 1.22.0-0' };

test('cilium compat: every pinned Cilium minor has an entry, and `requires` is its newest chart\'s kubeVersion', async () => {
  const pins = (catalogue().get('cilium')?.versions?.pins ?? []).map((p) => p.version).sort(semverCompare);
  const newestByMinor = new Map<string, string>();
  for (const version of pins) newestByMinor.set(version.split('.').slice(0, 2).join('.'), version);
  assert.deepEqual(TABLE.map((e) => e.minor), [...newestByMinor.keys()]);
  for (const [minor, version] of newestByMinor) {
    const files = await loadChartFiles(path.join(ROOT, 'charts', 'cilium', `cilium-${version}.tgz`));
    const chart = yaml.load(files.get('Chart.yaml')?.toString('utf8') ?? '') as { kubeVersion?: string };
    assert.equal(TABLE.find((e) => e.minor === minor)?.requires, chart.kubeVersion ?? REQUIRES_WITHOUT_KUBEVERSION[minor], `Cilium ${version}`);
  }
});

test('cilium compat: tested, untested and unsupported combinations', () => {
  const cases: [string, string, { ok: boolean; reason?: string }][] = [
    ['1.16.19', 'v1.30.4', { ok: true }],
    ['1.16.19', '1.27.0', { ok: true }],
    ['1.20.0', 'v1.34.4', { ok: true }],
    [
      '1.8.13',
      'v1.20.15-34+c5e47ad60ec3a0',
      {
        ok: true,
        reason: "Cilium 1.8 is tested with Kubernetes 1.12 - 1.18, and 1.20 is newer: it depends on Kubernetes' backward compatibility (untested); Cilium 1.14 is tested with Kubernetes 1.20",
      },
    ],
    [
      '1.13.18',
      '1.18.0',
      {
        ok: false,
        reason: 'Cilium 1.13 is tested with Kubernetes 1.19 - 1.26, and 1.18 is older, which its documentation does not support; Cilium 1.12 is tested with Kubernetes 1.18',
      },
    ],
    [
      '1.16.19',
      '1.25.3',
      {
        ok: true,
        reason: "Cilium 1.16 is tested with Kubernetes 1.27 - 1.30, and 1.25 is older: it depends on Kubernetes' compatibility (untested); Cilium 1.14 is tested with Kubernetes 1.25",
      },
    ],
    [
      '1.16.19',
      '1.20.15',
      {
        ok: false,
        reason: 'the Cilium 1.16 chart requires Kubernetes >= 1.21.0-0 and this cluster runs 1.20.15; Cilium 1.14 is tested with Kubernetes 1.20',
      },
    ],
    [
      '1.8.13',
      'v1.34.4',
      {
        ok: false,
        reason: 'the Cilium 1.8 chart requires Kubernetes < 1.22.0-0 and this cluster runs 1.34.4; Cilium 1.20 is tested with Kubernetes 1.34',
      },
    ],
    ['1.10.20', '1.15.0', { ok: false, reason: 'the Cilium 1.10 chart requires Kubernetes >= 1.16.0-0 and this cluster runs 1.15.0; Cilium 1.9 is tested with Kubernetes 1.15' }],
    [
      '1.20.0',
      '1.40.0',
      {
        ok: true,
        reason: "Cilium 1.20 is tested with Kubernetes 1.33 - 1.36, and 1.40 is newer: it depends on Kubernetes' backward compatibility (untested); no bundled Cilium is tested with Kubernetes 1.40",
      },
    ],
    ['1.7.16', '1.18.0', { ok: false, reason: 'Cilium 1.7 is not in the compatibility table; add it to addons/cilium/manifest.yaml' }],
    ['latest', '1.30.0', { ok: false, reason: '"latest" is not a Cilium version' }],
    ['1.16.19', 'banana', { ok: false, reason: '"banana" is not a Kubernetes version' }],
  ];
  for (const [cilium, k8s, want] of cases) assert.deepEqual(checkCompatibility(TABLE, CILIUM, cilium, k8s), want, `${cilium} on ${k8s}`);
});

test('cilium compat: the entry schema names what is wrong', () => {
  const r = v.safeParse(compatibilityTableSchema, [{ minor: '1.16.19', tested: '1.27-1.30', older: 'untested' }]);
  assert.equal(r.success, false);
  assert.equal(r.issues?.[0]?.message, 'must be a minor version such as "1.16"');
  const r2 = v.safeParse(compatibilityTableSchema, [{ minor: '1.16', tested: '1.27 to 1.30', older: 'untested' }]);
  assert.equal(r2.issues?.[0]?.message, 'must be a range of Kubernetes minors such as "1.27 - 1.30"');
  const r3 = v.safeParse(compatibilityTableSchema, [{ minor: '1.16', requires: '>= banana', tested: '1.27 - 1.30', older: 'untested' }]);
  assert.equal(r3.issues?.[0]?.message, 'must be a semver range such as ">= 1.21.0-0"');
});
