/** The values lint (src/cilium/lint.ts) against the 15 pinned Cilium charts, and the chart reader. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/cli.js';
import { catalogue } from '../support/catalogue.js';
import { chartFilesFromTgz, loadChartFiles, readTar } from '../../src/cilium/chart-archive.js';
import { checkValues, isKnownPath, lintValues, loadChartKeys, templateReads, userValuesLayers, type ValuesLayer } from '../../src/cilium/lint.js';
import { ciliumValues } from '../../src/cilium/values.js';

const PINS = (catalogue().get('cilium')?.versions?.pins ?? []).map((p) => p.version);
const chartPath = (version: string) => path.join(ROOT, 'charts', 'cilium', `cilium-${version}.tgz`);
const keys = (version: string) => loadChartKeys(chartPath(version));
const known = async (version: string, dotted: string) => isKnownPath(await keys(version), dotted.split('.'));
const setLayer = (line: string): ValuesLayer[] => userValuesLayers({ set: [line] });

test('cilium lint: global.hubble.enabled is unknown to 1.9.18 (flat chart) and known to 1.8.13 (umbrella)', async () => {
  assert.deepEqual(lintValues(await keys('1.9.18'), setLayer('global.hubble.enabled=true')), [
    {
      path: 'global.hubble.enabled',
      source: '--set',
      message:
        'global.hubble.enabled (from --set) is not a value of chart cilium 1.9.18, so Helm would ignore it; this chart is flat (global.* is the 1.8 layout): use hubble.enabled',
    },
  ]);
  assert.deepEqual(lintValues(await keys('1.8.13'), setLayer('global.hubble.enabled=true')), []);
});

test('cilium lint: mk8s-addons values give no finding for any pinned version, Hubble off or on', async () => {
  assert.equal(PINS.length, 15);
  for (const version of PINS) {
    for (const hubble of [undefined, { relay: true, ui: false }, { relay: true, ui: true }]) {
      const values = await ciliumValues({ version, snapData: '/var/snap/microk8s/current', snapCommon: '/var/snap/microk8s/common', podCidr: '10.1.0.0/16', hubble });
      assert.deepEqual(lintValues(await keys(version), [{ source: 'template', values }]), [], `${version} hubble=${JSON.stringify(hubble)}`);
    }
  }
});

test('cilium lint: the seed notes\' 1.8 values are all known to 1.8.13 and all unknown to 1.9.18', async () => {
  const seed = [
    'global.cni.confPath=/x',
    'global.cni.binPath=/x',
    'global.cni.customConf=true',
    'global.containerRuntime.integration=containerd',
    'global.nodeinit.enabled=true',
    'global.kubeProxyReplacement=partial',
    'global.hostServices.enabled=false',
    'global.externalIPs.enabled=true',
    'global.nodePort.enabled=true',
    'global.hostPort.enabled=true',
    'global.pullPolicy=IfNotPresent',
    'config.ipam=kubernetes',
    'global.hubble.enabled=true',
    'global.hubble.listenAddress=:4244',
    'global.hubble.relay.enabled=true',
    'global.hubble.ui.enabled=true',
  ];
  const layers = userValuesLayers({ set: seed });
  assert.deepEqual(lintValues(await keys('1.8.13'), layers), []);
  assert.deepEqual(
    lintValues(await keys('1.9.18'), layers).map((f) => f.path),
    seed.map((s) => s.slice(0, s.indexOf('='))),
  );
});

test('cilium lint: free-form maps accept any sub-key; scalars and missing keys do not', async () => {
  const cases: [string, string, boolean][] = [
    ['1.20.0', 'podAnnotations.example\\.com/team', true], // {} default
    ['1.20.0', 'nodeSelector.disktype', true],
    ['1.20.0', 'extraConfig.enable-foo', true],
    ['1.20.0', 'operator.affinity.nodeAffinity.x', true], // non-empty default, handed to toYaml whole
    ['1.15.19', 'cni.resources.limits.cpu', true],
    ['1.20.0', 'hubble.relay.resources.limits.memory', true],
    ['1.8.13', 'hubble-relay.nodeSelector.disktype', true], // a subchart's {} default under its key
    ['1.8.13', 'agent.podAnnotations.x', true],
    ['1.8.13', 'operator.numReplicas', true], // subchart values.yaml
    ['1.8.13', 'config.ipam', true], // only read by the config subchart's template
    ['1.10.20', 'kubeProxyReplacement', true], // commented in values.yaml, read by templates
    ['1.9.0', 'hubble.listenAddress', true],
    ['1.20.0', 'cni.binPath.x', false], // below a scalar
    ['1.20.0', 'cni.binPathx', false],
    ['1.20.0', 'containerRuntime.integration', false], // removed in 1.16
    ['1.20.0', 'tunnel', false], // removed in 1.15; validate.yaml only reads it to fail
    ['1.14.19', 'ipam.operator.clusterPoolIPv4PodCIDR', false], // removed in 1.14
    ['1.10.20', 'ipam.operator.clusterPoolIPv4PodCIDRList', false], // added in 1.11
    ['1.13.18', 'containerRuntime.socketPath', false], // only in a comment; no template reads it
    ['1.8.13', 'global.containerRuntime.socketPath', false],
    ['1.8.0', 'operator.numReplicas', false], // 1.8.0 hard-codes one replica
  ];
  for (const [version, dotted, want] of cases) {
    const [first, ...rest] = dotted.split(/(?<!\\)\./);
    const pathKeys = [first ?? '', ...rest].map((k) => k.replaceAll('\\.', '.'));
    assert.equal(isKnownPath(await keys(version), pathKeys), want, `${version} ${dotted}`);
  }
  assert.equal(await known('1.20.0', 'hubble'), true);
});

test('cilium lint: findings name each source: -f file, --set, --set-string, template', async () => {
  const layers: ValuesLayer[] = [
    { source: 'template', values: { global: { cni: { binPath: '/x' } } } },
    ...userValuesLayers({
      files: [{ path: 'mine.yaml', text: 'hubble:\n  relay:\n    enabeld: true\n  ui: {enabled: true}\n' }],
      set: ['operator.replicas=1,tunnel=vxlan'],
      setString: ['cni.binPath=/opt/x,cni.exclusiv=false'],
    }),
  ];
  const findings = lintValues(await keys('1.20.0'), layers);
  assert.deepEqual(
    findings.map((f) => [f.path, f.source]),
    [
      ['global.cni.binPath', 'template'],
      ['hubble.relay.enabeld', '-f mine.yaml'],
      ['tunnel', '--set'],
      ['cni.exclusiv', '--set-string'],
    ],
  );
  assert.equal(
    findings[1]?.message,
    "hubble.relay.enabeld (from -f mine.yaml) is not a value of chart cilium 1.20.0, so Helm would ignore it; check the key against the chart's values (helm show values)",
  );
});

test('cilium lint: 1.8 keys without global. get the global hint', async () => {
  const [finding] = lintValues(await keys('1.8.13'), setLayer('hubble.enabled=true'));
  assert.equal(
    finding?.message,
    'hubble.enabled (from --set) is not a value of chart cilium 1.8.13, so Helm would ignore it; shared settings of this chart live under global: use global.hubble.enabled',
  );
});

test('cilium lint: checkValues warns by default and refuses with strict', async () => {
  const k = await keys('1.9.18');
  const layers = setLayer('global.hubble.enabled=true');
  assert.equal(checkValues(k, layers, { strict: false }).length, 1);
  assert.throws(() => checkValues(k, layers, { strict: true }), {
    name: 'UsageError',
    message: 'chart cilium 1.9.18 has no value global.hubble.enabled (--set), so Helm would ignore it; this chart is flat (global.* is the 1.8 layout): use hubble.enabled',
  });
  assert.throws(() => checkValues(k, setLayer('a=1,b.c=2'), { strict: true }), {
    name: 'UsageError',
    message: "chart cilium 1.9.18 has no values a (--set), b.c (--set), so Helm would ignore them; use the key layout of this chart version (helm show values)",
  });
  assert.deepEqual(checkValues(k, setLayer('hubble.enabled=true'), { strict: true }), []);
});

test('cilium lint: a bad --set line is the same usage error as when merging', () => {
  assert.throws(() => userValuesLayers({ set: ['a,b=1'] }), { name: 'UsageError', message: /^--set a,b=1: key "a" has no value \(cannot end with ,\); / });
});

test('cilium lint: what templates read and hand on whole', () => {
  const text = [
    '{{ .Values.a.b }} {{ $.Values.c }} {{ $root.Values.d.e }}',
    '{{ index .Values "hubble-relay" "x" }} {{ if hasKey .Values.hubble "listenAddress" }}',
    '{{ toYaml .Values.f.g | nindent 4 }} {{ .Values.h | toYaml }} {{ range $k, $v := .Values.i }}{{ end }}',
    '{{- with .Values.j }}\n  resources:\n    {{- toYaml . | nindent 4 }}\n{{- end }}',
    '{{- with .Values.k }}\n  name: {{ .name }}\n{{- end }}',
    '{{- if .Values.removed }}\n  {{ fail "removed was removed" }}\n{{- end }}',
    '{{- if hasKey .Values.ipam "old" }}\n  {{- /* a comment */ -}}\n  {{- fail "old is gone" }}\n{{- end }}',
  ].join('\n');
  const { reads, free } = templateReads(text);
  assert.deepEqual(
    reads.map((p) => p.join('.')),
    ['a.b', 'c', 'd.e', 'hubble', 'f.g', 'h', 'i', 'j', 'k', 'hubble-relay.x', 'hubble.listenAddress'],
  );
  assert.deepEqual(free.map((p) => p.join('.')).sort(), ['f.g', 'h', 'i', 'j']);
});

test('cilium lint: the chart reader reads ustar, pax and GNU long names the way tar writes them', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chart-archive-test-'));
  try {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/values-${'f'.repeat(90)}.yaml`;
    mkdirSync(path.join(dir, 'src', 'chart', path.dirname(long)), { recursive: true });
    writeFileSync(path.join(dir, 'src', 'chart', 'Chart.yaml'), 'name: chart\nversion: 1.0.0\n');
    writeFileSync(path.join(dir, 'src', 'chart', long), 'x: 1\n');
    writeFileSync(path.join(dir, 'src', 'chart', 'empty.txt'), '');
    for (const format of ['ustar', 'pax', 'gnu']) {
      const file = path.join(dir, `chart-${format}.tar`);
      const names = format === 'ustar' ? ['chart/Chart.yaml', 'chart/empty.txt'] : ['chart'];
      execFileSync('tar', ['--format', format, '-cf', file, '-C', path.join(dir, 'src'), ...names]);
      const files = readTar(readFileSync(file));
      assert.equal(files.get('chart/Chart.yaml')?.toString(), 'name: chart\nversion: 1.0.0\n', format);
      assert.equal(files.get('chart/empty.txt')?.length, 0, format);
      if (format !== 'ustar') assert.equal(files.get(`chart/${long}`)?.toString(), 'x: 1\n', format);
    }
    execFileSync('tar', ['-czf', path.join(dir, 'chart.tgz'), '-C', path.join(dir, 'src'), 'chart']);
    const files = chartFilesFromTgz(readFileSync(path.join(dir, 'chart.tgz')));
    assert.deepEqual([...files.keys()].sort(), ['Chart.yaml', long, 'empty.txt'].sort());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('cilium lint: a packaged Cilium chart reads as helm would list it', async () => {
  const files = await loadChartFiles(chartPath('1.8.13'));
  assert.ok(files.has('values.yaml'));
  assert.ok(files.has('charts/agent/values.yaml'));
  assert.ok(files.has('charts/hubble-relay/templates/deployment.yaml'));
  const listed = execFileSync('tar', ['-tzf', chartPath('1.8.13')], { encoding: 'utf8' })
    .split('\n')
    .filter((n) => n && !n.endsWith('/'))
    .map((n) => n.slice(n.indexOf('/') + 1));
  assert.deepEqual([...files.keys()].sort(), listed.sort());
  await assert.rejects(loadChartFiles(path.join(ROOT, 'charts', 'cilium', 'cilium-0.0.0.tgz')), {
    name: 'PreconditionError',
    message: `cannot read chart ${path.join(ROOT, 'charts', 'cilium', 'cilium-0.0.0.tgz')}: ENOENT; restore the bundled charts with node scripts/fetch-charts.mjs`,
  });
});
