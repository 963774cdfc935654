import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, resolveVersion, pinnedVersions } from '../../src/planner.js';
import { defaultGlobals, parseAddonSpecs } from '../../src/grammar.js';
import { UsageError } from '../../src/errors.js';
import { catalogue, specs } from '../support/catalogue.js';

const cilium = () => catalogue().get('cilium')!;
const PINNED = ['1.8.0', '1.8.13', '1.9.0', '1.9.18', '1.10.20', '1.11.20', '1.12.19', '1.13.18', '1.14.19', '1.15.19', '1.16.19', '1.17.18', '1.18.12', '1.19.6', '1.20.0'];
const AVAILABLE = `available: ${PINNED.join(', ')}`;

test('the cilium pins are exactly the charts in the shared mirror', () => {
  assert.deepEqual(pinnedVersions(cilium()), PINNED);
});

test('every pinned version resolves to itself, with and without v', () => {
  for (const v of PINNED) {
    assert.equal(resolveVersion(cilium(), v), v);
    assert.equal(resolveVersion(cilium(), `v${v}`), v);
  }
});

test('version resolution table', () => {
  const table: [string | undefined, string][] = [
    [undefined, '1.20.0'],
    ['v1.8', '1.8.13'],
    ['1.8', '1.8.13'],
    ['v1.9', '1.9.18'],
    ['1.10', '1.10.20'],
    ['v1.8.0', '1.8.0'],
    ['1.9.18', '1.9.18'],
    ['1', '1.20.0'],
    ['v1.20', '1.20.0'],
  ];
  for (const [input, want] of table) assert.equal(resolveVersion(cilium(), input), want, `input ${input}`);
});

test('bad versions: exact messages', () => {
  const table: [string, string][] = [
    ['v1.7', `cilium 1.7.x is not bundled with mk8s-addons; ${AVAILABLE}`],
    ['1.8.5', `cilium 1.8.5 is not bundled with mk8s-addons; ${AVAILABLE}`],
    ['2', `cilium 2.x is not bundled with mk8s-addons; ${AVAILABLE}`],
    ['1.x', `invalid cilium version "1.x": write it as v1.8 (newest 1.8.x) or 1.9.18 (exactly); ${AVAILABLE}`],
    ['vv1.8', `invalid cilium version "vv1.8": write it as v1.8 (newest 1.8.x) or 1.9.18 (exactly); ${AVAILABLE}`],
    ['1.8.13.1', `invalid cilium version "1.8.13.1": write it as v1.8 (newest 1.8.x) or 1.9.18 (exactly); ${AVAILABLE}`],
    ['latest', `invalid cilium version "latest": write it as v1.8 (newest 1.8.x) or 1.9.18 (exactly); ${AVAILABLE}`],
    ['1.8-rc1', `invalid cilium version "1.8-rc1": write it as v1.8 (newest 1.8.x) or 1.9.18 (exactly); ${AVAILABLE}`],
  ];
  for (const [input, message] of table) {
    assert.throws(() => resolveVersion(cilium(), input), (e: unknown) => e instanceof UsageError && e.message === message, `input ${input}`);
  }
});

function phases(line: string, command: 'enable' | 'disable' = 'enable', installed: [string, string | null][] = []) {
  const globals = defaultGlobals();
  const s = parseAddonSpecs(command, line.split(' '), globals, catalogue());
  return plan({ command, specs: s, catalogue: catalogue(), installed: new Map(installed) });
}

test('dependencies come first, then the order given', () => {
  const table: [string, string[]][] = [
    ['cilium:v1.8', ['helm3', 'cilium']],
    ['hubble', ['helm3', 'cilium', 'hubble']],
    ['dns cilium', ['dns', 'helm3', 'cilium']],
    ['cilium dns', ['helm3', 'cilium', 'dns']],
    ['helm3 cilium', ['helm3', 'cilium']],
    ['hubble:ui dns helm3', ['helm3', 'cilium', 'hubble', 'dns']],
  ];
  for (const [line, want] of table) assert.deepEqual(phases(line).addons.map((a) => a.name), want, line);
});

test('implicit dependencies say why they are there', () => {
  const p = phases('hubble');
  assert.deepEqual(p.addons.map((a) => a.reason), ['required by cilium', 'required by hubble', 'requested']);
});

test('phase names are stable and hierarchical', () => {
  const p = phases('cilium:v1.8');
  const c = p.addons[1]!;
  assert.equal(c.version, '1.8.13');
  assert.equal(c.requested, 'v1.8');
  assert.deepEqual(c.steps.map((s) => s.phase), [
    'enable/cilium/allow-privileged',
    'enable/cilium/kubelet-cni-bin-dir',
    'enable/cilium/containerd-cni-bin-dir',
    'enable/cilium/containerd-cilium-sock',
    'enable/cilium/service-restarts',
    'enable/cilium/flanneld-stop',
    'enable/cilium/flannel-lock',
    'enable/cilium/vxlan-links',
    'enable/cilium/helm-release',
    'enable/cilium/rollout',
    'enable/cilium/cni-config',
    'enable/cilium/cni-set-aside',
    'enable/cilium/calico-remove',
    'enable/cilium/calico-manifest-aside',
    'enable/cilium/agent-cli-copy',
    'enable/cilium/agent-cli',
    'enable/cilium/restart-pods',
  ]);
  assert.deepEqual(p.addons[0]!.steps.map((s) => s.phase), ['enable/helm3/binary']);
});

test('layouts select steps: the 1.20 kubelet flag, Calico only on kubelite nodes', () => {
  const on = (layout: '1.20' | 'kubelite') =>
    plan({ command: 'enable', specs: parseAddonSpecs('enable', ['cilium'], defaultGlobals(), catalogue()), catalogue: catalogue(), layout }).addons[1]!.steps.map((s) => s.name);
  assert.ok(on('1.20').includes('kubelet-cni-bin-dir'));
  assert.ok(!on('1.20').includes('calico-remove'));
  assert.ok(!on('kubelite').includes('kubelet-cni-bin-dir'));
  assert.ok(on('kubelite').includes('calico-remove'));
});

test('an installed addon keeps its version unless one is asked for', () => {
  const installed: [string, string | null][] = [['cilium', '1.8.13'], ['helm3', '3.17.2']];
  assert.equal(phases('hubble', 'enable', installed).addons[1]!.version, '1.8.13', 'a dependency never changes version');
  assert.equal(phases('cilium', 'enable', installed).addons[1]!.version, '1.8.13', 'no version: stays');
  assert.equal(phases('cilium:v1.9', 'enable', installed).addons[1]!.version, '1.9.18', 'a version asked for: upgrade');
});

test('disable runs dependants first and undoes steps in reverse', () => {
  assert.deepEqual(phases('cilium hubble', 'disable').addons.map((a) => a.name), ['hubble', 'cilium']);
  assert.deepEqual(phases('cilium', 'disable', [['cilium', '1.8.13'], ['hubble', null]]).addons.map((a) => `${a.name}:${a.reason}`), ['hubble:requires cilium', 'cilium:requested']);
  const c = phases('cilium', 'disable', [['cilium', '1.8.13']]).addons[0]!;
  assert.equal(c.version, '1.8.13');
  assert.equal(c.steps[0]!.phase, 'disable/cilium/restart-pods');
  assert.equal(c.steps.at(-1)!.phase, 'disable/cilium/allow-privileged');
});

test('arguments bind by position or by flag', () => {
  const dns = phases('dns:1.1.1.1:10.152.183.20:cluster.local').addons[0]!;
  assert.deepEqual(dns.args, { servers: '1.1.1.1', 'dns-ip': '10.152.183.20', domain: 'cluster.local' });
  const dns2 = phases('dns --servers 1.1.1.1 --domain=example.org').addons[0]!;
  assert.deepEqual(dns2.args, { servers: '1.1.1.1', domain: 'example.org' });
  const flagStyle = phases('cilium --version 1.9 --set a=1 --set b=2 -f v.yaml').addons[1]!;
  assert.equal(flagStyle.version, '1.9.18');
  assert.deepEqual(flagStyle.options, { '--set': ['a=1', 'b=2'], '--values': ['v.yaml'] });
  assert.deepEqual(phases('hubble:ui').addons[2]!.args, { ui: true });
  // An empty positional argument takes the default.
  assert.deepEqual(phases('dns::10.152.183.20').addons[0]!.args, { 'dns-ip': '10.152.183.20' });
  assert.equal(phases('cilium:').addons[1]!.version, '1.20.0');
  assert.deepEqual(phases('hubble --ui').addons[2]!.args, { ui: true });
  // Flag-only options may follow a colon-style addon: they have no positional form.
  assert.deepEqual(phases('cilium:v1.8 --set a=1').addons[1]!.options, { '--set': ['a=1'] });
});

test('bad arguments: exact messages', () => {
  const table: [string, string][] = [
    ['cilium:v1.8 --version 1.9', 'cilium: give arguments either as cilium:VERSION or with --version, not both styles'],
    ['cilium:v1.8:extra', 'cilium takes at most 1 argument (cilium:VERSION); got 2: "v1.8", "extra"'],
    ['dns:a:b:c:d', 'dns takes at most 3 arguments (dns:SERVERS:DNS_IP:DOMAIN); got 4: "a", "b", "c", "d"'],
    ['helm3:x', 'helm3 takes no arguments; got 1: "x"'],
    ['hubble:foo', 'invalid hubble argument "foo": the only argument is "ui" (hubble:ui)'],
    ['cilium --version=', 'empty VERSION for cilium: Cilium version, e.g. v1.8 (newest bundled 1.8.x), 1.9.18 (exactly); default the newest bundled release'],
  ];
  for (const [line, message] of table) {
    assert.throws(() => phases(line), (e: unknown) => e instanceof UsageError && e.message === message, line);
  }
  assert.throws(() => phases('cilium:v1.8', 'disable'), { message: 'disable takes no arguments for cilium; write mk8s-addons disable cilium' });
});

test('specs helper parses like the CLI', () => {
  assert.deepEqual(specs('cilium:v1.8').specs.map((s) => s.positional), [['v1.8']]);
});
