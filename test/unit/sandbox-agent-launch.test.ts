/**
 * The sandbox's reading of a real agent pod (src/sandbox/pod.ts, src/sandbox/cilium-agent.ts): the
 * DaemonSet cilium rendered by the real `helm template` from the pinned 1.20.0 chart with mk8s-addons's
 * values, turned into a pod as the DaemonSet controller would, then into the agent's launch. Also the
 * CNI config choice (src/sandbox/cni.ts) on real MicroK8s folders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, cpSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../support/cli.js';
import { renderCheck } from '../../src/cilium/render-check.js';
import { ciliumValues } from '../../src/cilium/values.js';
import { AGENT_OVERRIDES, agentLaunch, type AgentNode } from '../../src/sandbox/cilium-agent.js';
import { ciliumAgentContainer, containerEnv, hostPathFor, imageVersion, type Pod } from '../../src/sandbox/pod.js';
import { activeCniNetwork, parseEnvFile } from '../../src/sandbox/cni.js';
import type { CiliumBuild } from '../../src/sandbox/cilium-binaries.js';
import { parseTcFilters } from '../../src/engine/kinds/leftovers.js';

const SNAP_DATA = '/var/snap/microk8s/current';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'agent-launch-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

async function renderedAgentPod(): Promise<{ pod: Pod; configMap: Record<string, string> }> {
  const values = await ciliumValues({ version: '1.20.0', snapData: SNAP_DATA, snapCommon: '/var/snap/microk8s/common', podCidr: '10.1.0.0/16' });
  const { manifests } = await renderCheck(
    { helm: path.join(ROOT, 'vendor', 'bin', 'helm'), env: { PATH: process.env.PATH, HOME: tmp, HELM_CACHE_HOME: tmp, HELM_CONFIG_HOME: tmp, HELM_DATA_HOME: tmp } },
    { chart: path.join(ROOT, 'charts', 'cilium', 'cilium-1.20.0.tgz'), values, expect: { snapData: SNAP_DATA } },
  );
  const { default: yaml } = await import('js-yaml');
  const docs = yaml.loadAll(manifests) as { kind?: string; metadata?: { name?: string }; spec?: { template?: { spec: Pod['spec'] } }; data?: Record<string, string> }[];
  const ds = docs.find((d) => d?.kind === 'DaemonSet' && d.metadata?.name === 'cilium');
  const cm = docs.find((d) => d?.kind === 'ConfigMap' && d.metadata?.name === 'cilium-config');
  assert.ok(ds?.spec?.template && cm?.data, 'the chart renders DaemonSet cilium and ConfigMap cilium-config');
  return {
    pod: {
      metadata: { name: 'cilium-abcde', namespace: 'kube-system', uid: '0123', ownerReferences: [{ kind: 'DaemonSet', name: 'cilium' }] },
      spec: { ...ds.spec.template.spec, nodeName: 'node-0' },
    },
    configMap: cm.data,
  };
}

const node: AgentNode = {
  netns: 'mk8s-sb-0123456789',
  bpffs: '/sb/node/bpffs',
  cgroupRoot: '/sys/fs/cgroup/unified/mk8s-sb-0123456789',
  procfs: '/sb/node/procfs',
  kubeconfig: '/sb/node/agent.kubeconfig',
  runView: '/sb/node/run-view',
  path: '/usr/lib/llvm-19/bin:/usr/bin',
  snapData: SNAP_DATA,
};
const build: CiliumBuild = { root: '/cache/cilium/v1.20.2', version: '1.20.2', agent: '/cache/cilium/v1.20.2/bin/cilium-agent', cli: '/cache/cilium/v1.20.2/bin/cilium-dbg', cni: '/cache/cilium/v1.20.2/bin/cilium-cni', libDir: '/cache/cilium/v1.20.2', crds: '/cache/cilium/v1.20.2/crds' };

test('the agent pod of the pinned 1.20.0 chart becomes the agent launch: its own args, config, hostPaths, and only the named overrides', async () => {
  const { pod, configMap } = await renderedAgentPod();
  const container = ciliumAgentContainer(pod);
  assert.ok(container);
  assert.equal(imageVersion(container.image), '1.20.0');
  assert.equal(hostPathFor(pod, container, '/var/run/cilium'), `${SNAP_DATA}/var/run/cilium`);
  assert.equal(hostPathFor(pod, container, '/var/run/cilium/netns'), '/var/run/netns');
  assert.equal(hostPathFor(pod, container, '/tmp/cilium/config-map'), undefined, 'the /tmp volume is an emptyDir');
  assert.deepEqual(containerEnv(pod, container), {
    K8S_NODE_NAME: 'node-0',
    CILIUM_K8S_NAMESPACE: 'kube-system',
    CILIUM_CLUSTERMESH_CONFIG: '/var/lib/cilium/clustermesh/',
    KUBE_CLIENT_BACKOFF_BASE: '1',
    KUBE_CLIENT_BACKOFF_DURATION: '120',
  });

  const launch = agentLaunch({ pod, container, configMap, build, node, configDir: '/sb/node/pods/0123/config-map' });
  assert.deepEqual(launch.command.slice(0, 1), ['ip']);
  const [, args] = launch.command;
  assert.deepEqual(args.slice(0, 5), ['netns', 'exec', node.netns, build.agent, '--config-dir=/sb/node/pods/0123/config-map']);
  assert.deepEqual(args.slice(5), AGENT_OVERRIDES.map((o) => `${o.flag}=${o.value(node, build)}`));
  assert.deepEqual(
    args.slice(5).map((a) => a.split('=')[0]),
    ['--k8s-kubeconfig-path', '--lib-dir', '--bpf-root', '--cgroup-root', '--procfs', '--ipam', '--enable-l7-proxy', '--install-iptables-rules', '--enable-ipv4-masquerade', '--enable-health-checking', '--enable-endpoint-health-checking', '--hubble-listen-address'],
  );
  // The ConfigMap goes in whole; a value that is a container path under a hostPath volume becomes the host path.
  assert.deepEqual(Object.keys(launch.configFiles).sort(), Object.keys(configMap).sort());
  assert.equal(launch.configFiles['datapath-plugins-state-dir'], `${SNAP_DATA}/var/run/cilium/plugins`);
  assert.equal(launch.configFiles['enable-tcx'], 'true');
  assert.equal(launch.configFiles.ipam, 'cluster-pool', 'the ConfigMap itself is not edited: --ipam overrides it');
  // The agent's /run: its hostPath volumes under /var/run, outermost first.
  assert.deepEqual(launch.binds, [
    { source: `${SNAP_DATA}/var/run/cilium`, target: 'cilium' },
    { source: '/var/run/netns', target: 'cilium/netns' },
    { source: `${SNAP_DATA}/var/run/cilium/envoy/sockets`, target: 'cilium/envoy/sockets' },
    { source: '/run/xtables.lock', target: 'xtables.lock' },
  ].sort((a, b) => a.target.length - b.target.length));
  assert.equal(launch.runDir, `${SNAP_DATA}/var/run/cilium`);
  assert.equal(launch.cniBinDir, `${SNAP_DATA}/opt/cni/bin`, 'install-cni-binaries copies cilium-cni to cni.binPath');
  assert.equal(launch.env.K8S_NODE_NAME, 'node-0');
  assert.equal(launch.env.PATH, node.path);
});

test('a pod that is not DaemonSet cilium is no agent; image versions with and without digest', () => {
  const pod: Pod = { metadata: { name: 'x', namespace: 'default', uid: '1', ownerReferences: [{ kind: 'ReplicaSet', name: 'cilium' }] }, spec: { containers: [{ name: 'cilium-agent' }] } };
  assert.equal(ciliumAgentContainer(pod), undefined);
  assert.equal(imageVersion('quay.io/cilium/cilium:v1.20.0@sha256:383968cd'), '1.20.0');
  assert.equal(imageVersion('localhost:5000/cilium/cilium:v1.19.6'), '1.19.6');
  assert.equal(imageVersion('localhost:5000/cilium/cilium'), undefined);
  assert.equal(imageVersion('quay.io/cilium/cilium:latest'), undefined);
});

test('the active CNI network is the first loadable config by file name, as libcni picks it', async () => {
  const dir = path.join(tmp, 'cni-network');
  cpSync(path.join(ROOT, 'templates', 'sandbox', '1.20', 'args', 'cni-network'), dir, { recursive: true });
  const flannel = await activeCniNetwork(dir);
  assert.equal(path.basename(flannel?.file ?? ''), 'flannel.conflist');
  assert.deepEqual(flannel?.plugins.map((p) => p.type), ['flannel', 'portmap']);
  writeFileSync(path.join(dir, '05-cilium-cni.conf'), '{"cniVersion":"0.3.1","name":"cilium","type":"cilium-cni","enable-debug":true}\n');
  writeFileSync(path.join(dir, '01-broken.conf'), '{ not json');
  const cilium = await activeCniNetwork(dir);
  assert.deepEqual({ file: path.basename(cilium?.file ?? ''), name: cilium?.name, cniVersion: cilium?.cniVersion, types: cilium?.plugins.map((p) => p.type) }, { file: '05-cilium-cni.conf', name: 'cilium', cniVersion: '0.3.1', types: ['cilium-cni'] });
  mkdirSync(path.join(tmp, 'empty'));
  assert.equal(await activeCniNetwork(path.join(tmp, 'empty')), undefined);
});

test("containerd's environment file: assignments only, quotes removed, comments and commands skipped", () => {
  const text = '# HTTPS_PROXY=http://squid.internal:3128\nulimit -n 65536 || true\nCILIUM_SOCK="/var/snap/microk8s/current/var/run/cilium/cilium.sock"\nexport NO_PROXY=10.1.0.0/16\n';
  assert.deepEqual(parseEnvFile(text), { CILIUM_SOCK: '/var/snap/microk8s/current/var/run/cilium/cilium.sock', NO_PROXY: '10.1.0.0/16' });
});

test('tc filter listings give the pref and handle that detach a program', () => {
  const text = [
    'filter protocol all pref 1 bpf chain 0 ',
    'filter protocol all pref 1 bpf chain 0 handle 0x1 cil_from_netdev-eth0 direct-action not_in_hw id 412 tag 9e5c4ae9ac3c4b38 jited ',
    'filter protocol all pref 49152 bpf chain 0 handle 0x1 bpf_lxc.o:[from-container] direct-action not_in_hw id 12110 tag ae4beb8ed518b348 jited',
  ].join('\n');
  assert.deepEqual(parseTcFilters(text, 'eth0', 'ingress'), [
    { dev: 'eth0', hook: 'ingress', pref: '1', handle: '0x1', name: 'cil_from_netdev-eth0' },
    { dev: 'eth0', hook: 'ingress', pref: '49152', handle: '0x1', name: 'bpf_lxc.o' },
  ]);
});

test('the Cilium version the sandbox runs is the one scripts/build-cilium.sh builds and scripts/cilium/go.mod pins', async () => {
  const { readFileSync } = await import('node:fs');
  const { SANDBOX_CILIUM_VERSION, ciliumCacheDir } = await import('../../src/sandbox/cilium-binaries.js');
  assert.match(readFileSync(path.join(ROOT, 'scripts', 'build-cilium.sh'), 'utf8'), new RegExp(`^CILIUM_VERSION="${SANDBOX_CILIUM_VERSION}"$`, 'm'));
  assert.match(readFileSync(path.join(ROOT, 'scripts', 'cilium', 'go.mod'), 'utf8'), new RegExp(`^require github.com/cilium/cilium ${SANDBOX_CILIUM_VERSION}$`, 'm'));
  assert.equal(ciliumCacheDir({ HOME: '/home/u' }), `/home/u/.cache/mk8s-addons/cilium/${SANDBOX_CILIUM_VERSION}`);
  assert.equal(ciliumCacheDir({ HOME: '/home/u', MK8S_ADDONS_CACHE: '/c' }), `/c/cilium/${SANDBOX_CILIUM_VERSION}`);
});
