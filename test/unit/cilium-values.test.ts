/** mk8s-addons' own Cilium values (src/cilium/values.ts, templates/cilium/): key layout by version. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ciliumValues,
  loadValuesTemplateIndex,
  podCidrFromCniEnv,
  renderValuesTemplate,
  valuesTemplateFor,
  DEFAULT_POD_CIDR,
  type CiliumValuesParams,
} from '../../src/cilium/values.js';
import { catalogue } from '../support/catalogue.js';

const SNAP_DATA = '/var/snap/microk8s/current';
const SNAP_COMMON = '/var/snap/microk8s/common';
const base = { snapData: SNAP_DATA, snapCommon: SNAP_COMMON, podCidr: '10.1.0.0/16' };
const values = (version: string, extra: Partial<CiliumValuesParams> = {}) => ciliumValues({ ...base, version, ...extra });

const CNI_FLAT = { confPath: `${SNAP_DATA}/args/cni-network`, binPath: `${SNAP_DATA}/opt/cni/bin`, customConf: true };
const HUBBLE_OFF = { enabled: false, relay: { enabled: false }, ui: { enabled: false } };

test('cilium values: 1.8 uses the umbrella layout under global.*, with Hubble keys from the field notes', async () => {
  assert.deepEqual(await values('1.8.13', { hubble: { relay: true, ui: true } }), {
    global: {
      cni: { confPath: `${SNAP_DATA}/args/cni-network`, binPath: `${SNAP_DATA}/opt/cni/bin`, customConf: true },
      daemon: { runPath: `${SNAP_DATA}/var/run/cilium` },
      containerRuntime: { integration: 'containerd' },
      kubeProxyReplacement: 'disabled',
      ipam: { operator: { clusterPoolIPv4PodCIDR: '10.1.0.0/16' } },
      hubble: { enabled: true, listenAddress: ':4244', relay: { enabled: true }, ui: { enabled: true } },
    },
    config: { ipam: 'cluster-pool' },
    operator: { numReplicas: 1 },
  });
});

test('cilium values: 1.8.0 has no operator.numReplicas (its operator is hard-coded to one replica)', async () => {
  const v = await values('1.8.0');
  assert.equal(v.operator, undefined);
  assert.deepEqual((v.global as Record<string, unknown>).hubble, HUBBLE_OFF);
});

test('cilium values: 1.9 is flat, kube-proxy replacement disabled (its default probe is wrong on MicroK8s), PodCIDR', async () => {
  assert.deepEqual(await values('1.9.18'), {
    cni: CNI_FLAT,
    daemon: { runPath: `${SNAP_DATA}/var/run/cilium` },
    containerRuntime: { integration: 'containerd' },
    kubeProxyReplacement: 'disabled',
    ipam: { mode: 'cluster-pool', operator: { clusterPoolIPv4PodCIDR: '10.1.0.0/16' } },
    operator: { replicas: 1 },
    hubble: HUBBLE_OFF,
  });
});

test('cilium values: 1.10 adds cni.exclusive false; 1.11 - 1.13 switch to PodCIDRList', async () => {
  const v110 = await values('1.10.20', { hubble: { relay: true, ui: false } });
  assert.deepEqual(v110.cni, { ...CNI_FLAT, exclusive: false });
  assert.deepEqual(v110.ipam, { mode: 'cluster-pool', operator: { clusterPoolIPv4PodCIDR: '10.1.0.0/16' } });
  assert.deepEqual(v110.hubble, { enabled: true, listenAddress: ':4244', relay: { enabled: true }, ui: { enabled: false } });
  for (const version of ['1.11.20', '1.12.19', '1.13.18']) {
    const v = await values(version);
    assert.deepEqual(v.ipam, { mode: 'cluster-pool', operator: { clusterPoolIPv4PodCIDRList: ['10.1.0.0/16'] } }, version);
    assert.equal(v.kubeProxyReplacement, 'disabled', version);
  }
});

test('cilium values: 1.14 - 1.15 take kubeProxyReplacement "false" (a string) and still name containerd', async () => {
  assert.deepEqual(await values('1.15.19'), {
    cni: { ...CNI_FLAT, exclusive: false },
    daemon: { runPath: `${SNAP_DATA}/var/run/cilium` },
    containerRuntime: { integration: 'containerd' },
    kubeProxyReplacement: 'false',
    ipam: { mode: 'cluster-pool', operator: { clusterPoolIPv4PodCIDRList: ['10.1.0.0/16'] } },
    operator: { replicas: 1 },
    hubble: HUBBLE_OFF,
  });
});

test('cilium values: from 1.16 kubeProxyReplacement is the boolean false and containerRuntime is gone', async () => {
  assert.deepEqual(await values('1.20.0', { podCidr: '10.3.0.0/16', hubble: { relay: false, ui: true } }), {
    cni: { ...CNI_FLAT, exclusive: false },
    daemon: { runPath: `${SNAP_DATA}/var/run/cilium` },
    kubeProxyReplacement: false,
    ipam: { mode: 'cluster-pool', operator: { clusterPoolIPv4PodCIDRList: ['10.3.0.0/16'] } },
    operator: { replicas: 1 },
    // The UI needs the relay: asking for the UI turns the relay on.
    hubble: { enabled: true, relay: { enabled: true }, ui: { enabled: true } },
  });
});

test('cilium values: every pinned version has a template, chosen by its range', async () => {
  const index = await loadValuesTemplateIndex();
  const expected: Record<string, string> = {
    '1.8.0': 'values-1.8.yaml.hbs',
    '1.8.13': 'values-1.8.yaml.hbs',
    '1.9.0': 'values-1.9-1.13.yaml.hbs',
    '1.13.18': 'values-1.9-1.13.yaml.hbs',
    '1.14.19': 'values-1.14-1.15.yaml.hbs',
    '1.15.19': 'values-1.14-1.15.yaml.hbs',
    '1.16.19': 'values-1.16.yaml.hbs',
    '1.20.0': 'values-1.16.yaml.hbs',
  };
  for (const [version, template] of Object.entries(expected)) assert.equal(valuesTemplateFor(index, version)?.template, template, version);
  const pins = catalogue().get('cilium')?.versions?.pins ?? [];
  assert.equal(pins.length, 15);
  for (const pin of pins) assert.ok(valuesTemplateFor(index, pin.version), `no template for ${pin.version}`);
  assert.equal(valuesTemplateFor(index, '1.7.16'), undefined);
});

test('cilium values: a path with quotes, newlines, "{{" or YAML syntax stays one string', async () => {
  const snapData = '/var/snap/it\'s "odd": {{x}}\n- [a, b] #c';
  for (const version of ['1.8.13', '1.12.19', '1.15.19', '1.18.12']) {
    const v = await values(version, { snapData });
    const cni = (version.startsWith('1.8.') ? (v.global as Record<string, Record<string, unknown>>).cni : v.cni) as Record<string, unknown>;
    assert.equal(cni.binPath, `${snapData}/opt/cni/bin`, version);
    assert.equal(cni.confPath, `${snapData}/args/cni-network`, version);
  }
});

test('cilium values: a trailing slash on SNAP_DATA is dropped', async () => {
  const v = await values('1.16.19', { snapData: `${SNAP_DATA}//` });
  assert.deepEqual(v.daemon, { runPath: `${SNAP_DATA}/var/run/cilium` });
});

test('cilium values: bad input is refused with what to do instead', async () => {
  await assert.rejects(values('v1.x'), { name: 'UsageError', message: '"v1.x" is not a Cilium version; give one such as 1.16.19' });
  await assert.rejects(values('1.7.16'), {
    name: 'UsageError',
    message: 'no values template for Cilium 1.7.16 in templates/cilium/index.yaml; choose a bundled version (>=1.8.0 <1.9.0, >=1.9.0 <1.14.0, >=1.14.0 <1.16.0, >=1.16.0)',
  });
  await assert.rejects(values('1.16.19', { snapData: 'var/snap/microk8s/current' }), {
    name: 'PreconditionError',
    message: 'SNAP_DATA is "var/snap/microk8s/current", not an absolute path: point it at the MicroK8s directory, e.g. /var/snap/microk8s/current',
  });
  await assert.rejects(values('1.16.19', { podCidr: '10.1.0.0/33' }), {
    name: 'PreconditionError',
    message: 'the pod CIDR "10.1.0.0/33" is not an IPv4 CIDR such as 10.1.0.0/16; fix it',
  });
});

test('cilium values: the pod CIDR comes from args/cni-env, default 10.1.0.0/16', () => {
  assert.equal(DEFAULT_POD_CIDR, '10.1.0.0/16');
  assert.equal(podCidrFromCniEnv(undefined), '10.1.0.0/16');
  assert.equal(podCidrFromCniEnv('IPv4_SUPPORT=true\nIPv6_SUPPORT=false\n'), '10.1.0.0/16');
  assert.equal(podCidrFromCniEnv('IPv4_SUPPORT=true\nIPv4_CLUSTER_CIDR=10.3.0.0/16\nIPv4_SERVICE_CIDR=10.152.183.0/24\n'), '10.3.0.0/16');
  assert.equal(podCidrFromCniEnv('export IPv4_CLUSTER_CIDR="172.16.0.0/12"\n'), '172.16.0.0/12');
  assert.equal(podCidrFromCniEnv('IPv4_CLUSTER_CIDR=\n'), '10.1.0.0/16');
  assert.throws(() => podCidrFromCniEnv('IPv4_CLUSTER_CIDR=10.1.0.300/16\n'), {
    name: 'PreconditionError',
    message: 'IPv4_CLUSTER_CIDR in args/cni-env "10.1.0.300/16" is not an IPv4 CIDR such as 10.1.0.0/16; fix it',
  });
});

test('cilium values: a template missing its data fails (strict mode) instead of printing empty values', async () => {
  await assert.rejects(renderValuesTemplate('values-1.16.yaml.hbs', '1.16.19', {}), {
    name: 'InternalError',
    message: 'templates/cilium/values-1.16.yaml.hbs: join of an undefined value',
  });
  await assert.rejects(renderValuesTemplate('values-1.16.yaml.hbs', '1.16.19', { snapData: '/s', podCidr: '10.1.0.0/16' }), /reading 'enabled'/);
});
