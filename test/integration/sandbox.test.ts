/**
 * The sandbox node (issue 5 item 6), through the built CLI: `sandbox up|status|env|down`, `start|stop`.
 * Two sandboxes at most at a time: A (layout 1.20) and B (layout 1.35), both brought up on first use and
 * taken down by the last test (or by after()).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PROXY_VARIABLES, run, runChecked } from '../../src/adapters/process.js';
import { isRunning } from '../../src/sandbox/control-plane.js';
import { sandboxServiceManager, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { CLI, ROOT } from '../support/cli.js';
import { treeDigest } from '../support/node.js';
import { cli, useSandbox, VENDOR_BIN, type TestSandbox } from '../support/sandbox.js';
import type { SandboxStatus } from '../../src/sandbox/sandbox.js';

// A quote and a space in the folder name: `sandbox env` must quote what it prints.
const sandboxA = useSandbox('1.20', { name: "node a's dir" });
const sandboxB = useSandbox('1.35');

/** What `sandbox status --output json` prints: the sandbox's own status, tagged. */
type Status = SandboxStatus & { type: 'sandbox-status' };

function status(sb: TestSandbox): { code: number | null; status: Status } {
  const r = cli(['sandbox', 'status', '--dir', sb.dir, '--output', 'json']);
  return { code: r.code, status: JSON.parse(r.stdout) as Status };
}

/** Pids of the processes whose command line mentions `text` (other than ours). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return pids.sort((a, b) => a - b);
}

function environOf(pid: number): Record<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

const proxyVariablesOf = (pid: number) => Object.fromEntries(Object.entries(environOf(pid)).filter(([k]) => (PROXY_VARIABLES as readonly string[]).includes(k)));

async function netnsList(): Promise<string[]> {
  return (await runChecked(['ip', ['netns', 'list']])).stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[0] as string);
}

async function linksOf(netns: string): Promise<string[]> {
  const r = await runChecked(['ip', ['-n', netns, '-j', 'link', 'show']]);
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
}

const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const resultOf = (stdout: string) => events(stdout).at(-1);
/** 1 when the rollout step had to wait (the engine counts that as a change), else 0: kwok may be done before. */
const entriesOf = async (sb: TestSandbox, from: number) => (await sb.serviceLog()).slice(from).map(({ at: _at, ...rest }) => rest);
const marker = (sb: TestSandbox) => JSON.parse(readFileSync(path.join(sb.info.snapData, 'mk8s-addons-sandbox.json'), 'utf8')) as unknown;
/** Shell single quotes, as `sandbox env` writes a word that needs them. */
const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
const templateArgs = (era: string) => path.join(ROOT, 'templates', 'sandbox', era, 'args');
const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

test('sandbox up --layout 1.20: the node files of a 1.20 node, flanneld up with flannel.1, a running control plane', async () => {
  const a = sandboxA();
  const { snapData } = a.info;
  assert.equal(a.info.layout, '1.20');
  assert.match(a.info.netns, /^mk8s-sb-[0-9a-f]{10}$/);
  // args/ is the 1.20 template, byte for byte: separate daemons, flannel, no kubelite.
  assert.deepEqual(treeDigest(path.join(snapData, 'args')), treeDigest(templateArgs('1.20')));
  assert.equal(existsSync(path.join(snapData, 'args', 'kubelite')), false);
  assert.deepEqual(lines(path.join(snapData, 'args', 'kubelet')).filter((l) => /--(cni|network-plugin|cluster-d)/.test(l)), [
    '--network-plugin=cni',
    '--cni-conf-dir=${SNAP_DATA}/args/cni-network/',
    '--cni-bin-dir=${SNAP_DATA}/opt/cni/bin/',
  ]);
  assert.deepEqual(readdirSync(path.join(snapData, 'args', 'cni-network')), ['flannel.conflist']);
  const conflist = JSON.parse(readFileSync(path.join(snapData, 'args', 'cni-network', 'flannel.conflist'), 'utf8')) as { name: string; plugins: { type: string }[] };
  assert.deepEqual([conflist.name, conflist.plugins.map((p) => p.type)], ['microk8s-flannel-network', ['flannel', 'portmap']]);
  assert.ok(lines(path.join(snapData, 'args', 'kube-apiserver')).includes('--service-cluster-ip-range=10.152.183.0/24'));
  // No lock: flannel runs, the node is not HA, not stopped.
  assert.deepEqual(readdirSync(path.join(snapData, 'var', 'lock')), []);
  assert.deepEqual(readdirSync(path.join(snapData, 'opt', 'cni', 'bin')).sort(), ['bridge', 'flannel', 'host-local', 'loopback', 'portmap']);
  assert.deepEqual(marker(a), { sandbox: true, dir: a.dir, layout: '1.20', netns: a.info.netns, resolvConf: path.join(a.dir, 'resolv.conf') });
  assert.equal(readFileSync(path.join(a.dir, 'resolv.conf'), 'utf8'), '# sandbox host resolv.conf (systemd-resolved stub, as on Ubuntu)\nnameserver 127.0.0.53\noptions edns0 trust-ad\n');

  assert.deepEqual(await entriesOf(a, 0), [{ action: 'start', daemon: 'flanneld', result: 'ok' }]);
  assert.deepEqual(await linksOf(a.info.netns), ['flannel.1', 'lo']);
  const { code, status: st } = status(a);
  assert.equal(code, 0);
  assert.deepEqual(
    { ...st, controlPlane: st.controlPlane.map((c) => [c.name, c.alive]) },
    {
      type: 'sandbox-status',
      dir: a.dir,
      era: '1.20',
      netns: a.info.netns,
      running: true,
      controlPlane: ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'].map((n) => [n, true]),
      services: Object.fromEntries(['apiserver', 'controller-manager', 'scheduler', 'kubelet', 'proxy', 'containerd', 'flanneld', 'etcd', 'cluster-agent'].map((d) => [d, 'active'])),
      links: ['lo', 'flannel.1'],
      serviceLog: 1,
      agent: { mode: 'simulated', reason: 'asked for with --agent simulated' },
      clusterNodes: [],
    },
  );
  // The status names the processes control-plane.json records.
  assert.deepEqual(
    st.controlPlane.map((c) => c.pid),
    Object.values(a.controlPlane().components).map((c) => c.pid),
  );
  assert.equal((await a.kubectl(['get', 'nodes', '-o', 'name'])).stdout, 'node/node-0\n');
  // The plain form: one aligned column for processes and simulated daemons.
  const plain = cli(['sandbox', 'status', '--dir', a.dir]);
  assert.deepEqual(plain, {
    code: 0,
    stdout: [
      `sandbox 1.20 in ${a.dir}: running`,
      ...st.controlPlane.map((c) => `  ${c.name.padEnd(25)} running (pid ${c.pid})`),
      ...Object.keys(st.services).map((d) => `  ${`daemon-${d}`.padEnd(25)} active (simulated)`),
      `  links: lo, flannel.1 (network namespace ${a.info.netns})`,
      '  service log: 1 entries',
      '  cilium agent: simulated (asked for with --agent simulated)',
      '',
    ].join('\n'),
    stderr: '',
  });
});

test('sandbox up --layout 1.35: kubelite pointing at the args files, Calico, ha-cluster and no-flanneld locks, flanneld refused', async () => {
  const b = sandboxB();
  const { snapData } = b.info;
  assert.equal(b.info.layout, 'kubelite');
  // args/ is the 1.35 template plus cni.yaml, the Calico manifest a HA node keeps there.
  const args = treeDigest(path.join(snapData, 'args'));
  const cniYaml = path.join('cni-network', 'cni.yaml');
  assert.deepEqual(Object.keys(args).filter((k) => k !== cniYaml), Object.keys(treeDigest(templateArgs('1.35'))));
  assert.deepEqual({ ...args, [cniYaml]: undefined }, { ...treeDigest(templateArgs('1.35')), [cniYaml]: undefined });
  assert.equal(readFileSync(path.join(snapData, 'args', 'cni-network', 'cni.yaml'), 'utf8'), readFileSync(path.join(ROOT, 'templates', 'sandbox', 'calico.yaml'), 'utf8'));
  assert.deepEqual(lines(path.join(snapData, 'args', 'kubelite')), [
    '--scheduler-args-file=$SNAP_DATA/args/kube-scheduler',
    '--controller-manager-args-file=$SNAP_DATA/args/kube-controller-manager',
    '--proxy-args-file=$SNAP_DATA/args/kube-proxy',
    '--kubelet-args-file=$SNAP_DATA/args/kubelet',
    '--apiserver-args-file=$SNAP_DATA/args/kube-apiserver',
    '--kubeconfig-file=$SNAP_DATA/credentials/client.config',
    '--start-control-plane=true',
  ]);
  // 1.35's kubelet has no dockershim-era CNI flags.
  assert.deepEqual(lines(path.join(snapData, 'args', 'kubelet')).filter((l) => /--(cni|network-plugin|cluster-d)/.test(l)), []);
  assert.deepEqual(readdirSync(path.join(snapData, 'args', 'cni-network')).sort(), ['10-calico.conflist', 'cni.yaml']);
  const conflist = JSON.parse(readFileSync(path.join(snapData, 'args', 'cni-network', '10-calico.conflist'), 'utf8')) as { name: string; plugins: { type: string }[] };
  assert.deepEqual([conflist.name, conflist.plugins.map((p) => p.type)], ['k8s-pod-network', ['calico', 'portmap']]);
  assert.deepEqual(readdirSync(path.join(snapData, 'var', 'lock')).sort(), ['ha-cluster', 'no-flanneld']);
  assert.equal(readFileSync(path.join(snapData, 'var', 'lock', 'no-flanneld'), 'utf8'), '');
  assert.deepEqual(readdirSync(path.join(snapData, 'opt', 'cni', 'bin')).sort(), ['bridge', 'calico', 'calico-ipam', 'flannel', 'host-local', 'loopback', 'portmap']);
  assert.deepEqual(marker(b), { sandbox: true, dir: b.dir, layout: 'kubelite', netns: b.info.netns, resolvConf: path.join(b.dir, 'resolv.conf') });

  // The no-flanneld lock holds from the first start on: refused, logged, no flannel.1.
  assert.deepEqual(await entriesOf(b, 0), [{ action: 'start', daemon: 'flanneld', result: 'refused', detail: 'var/lock/no-flanneld exists: flanneld exits at once' }]);
  assert.deepEqual(await linksOf(b.info.netns), ['lo']);
  const { code, status: st } = status(b);
  assert.equal(code, 0);
  assert.deepEqual([st.era, st.running, st.links, st.serviceLog], ['1.35', true, ['lo'], 1]);
  assert.deepEqual(st.services, { kubelite: 'active', containerd: 'active', 'k8s-dqlite': 'active', 'cluster-agent': 'active', 'apiserver-kicker': 'active', flanneld: 'inactive' });
  assert.equal(
    (await b.kubectl(['-n', 'kube-system', 'get', 'daemonset,deployment', '-o', 'name'])).stdout,
    'daemonset.apps/calico-node\ndeployment.apps/calico-kube-controllers\n',
  );
});

test('sandbox env works in a real shell: eval its output, then kubectl reaches the sandbox', async () => {
  const a = sandboxA();
  const script = 'eval "$(node "$1" sandbox env --dir "$2")" && printf "%s\\n" "$SNAP_DATA" "$KUBECONFIG" && kubectl get nodes -o name';
  // No KUBECONFIG or SNAP variables from us: only the eval can point kubectl at the sandbox.
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${VENDOR_BIN}:${process.env.PATH ?? ''}` };
  for (const k of ['KUBECONFIG', 'SNAP', 'SNAP_DATA', 'SNAP_COMMON', 'MK8S_ADDONS_SANDBOX']) delete env[k];
  const r = spawnSync('bash', ['-c', script, 'bash', CLI, a.dir], { encoding: 'utf8', env, timeout: 60_000 });
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `${a.info.snapData}\n${a.info.kubeconfig}\nnode/node-0\n`);
  // What it prints, exactly (the folder name needs quoting).
  assert.equal(
    cli(['sandbox', 'env', '--dir', a.dir]).stdout,
    [
      `export SNAP=${q(a.info.snap)}`,
      `export SNAP_DATA=${q(a.info.snapData)}`,
      `export SNAP_COMMON=${q(a.info.snapCommon)}`,
      `export KUBECONFIG=${q(a.info.kubeconfig)}`,
      `export MK8S_ADDONS_SANDBOX=${q(a.dir)}`,
      '',
    ].join('\n'),
  );
});

// --kwok-nodes: a Node kwok alone plays (no folder, no cluster agent), so A stays a one-node MicroK8s for the
// tests below; more --nodes (MicroK8s nodes) is tested in cluster.test.ts and cluster-fanout.test.ts.
test('sandbox up again on a running sandbox: more --kwok-nodes adds Nodes and is recorded; another --layout is refused', async () => {
  const a = sandboxA();
  const apiserver = a.apiserver();
  assert.deepEqual(cli(['sandbox', 'up', '--dir', a.dir, '--layout', '1.20', '--kwok-nodes', '1', '--output', 'plain']).stdout, `sandbox 1.20 is up in ${a.dir} (2 nodes); target it with:\n  eval "$(mk8s-addons sandbox env --dir ${q(a.dir)})"\n`);
  assert.equal((await a.kubectl(['get', 'nodes', '-o', 'name'])).stdout, 'node/node-0\nnode/node-1\n');
  const recorded = JSON.parse(readFileSync(path.join(a.dir, 'sandbox.json'), 'utf8')) as SandboxInfo;
  assert.deepEqual([recorded.nodes, recorded.clusterNodes], [2, 1]);
  // The running control plane was left alone.
  assert.deepEqual(a.apiserver(), apiserver);
  const other = cli(['sandbox', 'up', '--dir', a.dir, '--layout', '1.35']);
  assert.deepEqual(other, { code: 2, stdout: '', stderr: `mk8s-addons: error: the sandbox in ${a.dir} has layout 1.20; give --layout 1.20, or run sandbox down first\n` });
});

test('flanneld (1.20): a no-flanneld lock makes its start refused and logged; without it flanneld starts and brings up flannel.1', async () => {
  const a = sandboxA();
  const services = sandboxServiceManager(a.info);
  const lock = path.join(a.info.snapData, 'var', 'lock', 'no-flanneld');
  const env = { PATH: process.env.PATH ?? '' };
  // As after a reboot: flanneld down, its link gone.
  await services.act('stop', 'flanneld', { env });
  await runChecked(['ip', ['-n', a.info.netns, 'link', 'delete', 'flannel.1']]);
  assert.deepEqual(await linksOf(a.info.netns), ['lo']);
  assert.equal(await services.isActive('flanneld'), false);
  const logged = (await a.serviceLog()).length;

  writeFileSync(lock, '');
  await services.act('start', 'flanneld', { env });
  const refused = { action: 'start', daemon: 'flanneld', result: 'refused', detail: 'var/lock/no-flanneld exists: flanneld exits at once' };
  assert.deepEqual(await entriesOf(a, logged), [refused]);
  assert.equal(await services.isActive('flanneld'), false);
  assert.deepEqual(await linksOf(a.info.netns), ['lo']);

  rmSync(lock);
  await services.act('start', 'flanneld', { env });
  assert.deepEqual(await entriesOf(a, logged), [refused, { action: 'start', daemon: 'flanneld', result: 'ok' }]);
  assert.equal(await services.isActive('flanneld'), true);
  assert.deepEqual(await linksOf(a.info.netns), ['flannel.1', 'lo']);
  const link = JSON.parse((await runChecked(['ip', ['-n', a.info.netns, '-d', '-j', 'link', 'show', 'flannel.1']])).stdout) as {
    operstate: string;
    flags: string[];
    linkinfo: { info_kind: string; info_data: { id: number; port: number } };
  }[];
  assert.deepEqual(
    [link[0]?.flags.includes('UP'), link[0]?.linkinfo.info_kind, link[0]?.linkinfo.info_data.id, link[0]?.linkinfo.info_data.port],
    [true, 'vxlan', 1, 8472],
  );
  // The host's own namespace never gets it.
  assert.equal((await run(['ip', ['link', 'show', 'flannel.1']])).exitCode, 1);
  assert.deepEqual(status(a).status.services.flanneld, 'active');
});

const CALLER_PROXIES = { HTTPS_PROXY: 'http://proxy.invalid:3128', http_proxy: 'http://proxy.invalid:3128', NO_PROXY: '10.0.0.0/8,.corp.invalid' };

test('stop then start with proxy variables in the caller\'s environment: none reaches the control plane, and the output names them', async () => {
  const a = sandboxA();
  const running = Object.values(a.controlPlane().components);
  const before = running.map((c) => c.pid);
  const stop = a.cli(['stop']);
  assert.deepEqual(stop, { code: 0, stdout: 'MicroK8s is stopped\n', stderr: '' });
  for (const c of running) assert.equal(isRunning(c), false, `pid ${c.pid}`);
  assert.equal(existsSync(path.join(a.info.snapData, 'var', 'lock', 'stopped.lock')), true);
  const stopped = status(a);
  assert.deepEqual([stopped.code, stopped.status.running, stopped.status.controlPlane.map((c) => c.alive)], [3, false, [false, false, false, false, false]]);

  const start = a.cli(['start'], CALLER_PROXIES);
  assert.deepEqual(start, {
    code: 0,
    stdout: 'starting with the proxy variables removed: http_proxy, HTTPS_PROXY, NO_PROXY (--keep-proxy keeps them)\nMicroK8s is running and the node is Ready\n',
    stderr: '',
  });
  assert.equal(existsSync(path.join(a.info.snapData, 'var', 'lock', 'stopped.lock')), false);
  const components = Object.values(a.controlPlane().components);
  assert.equal(components.every((c) => isRunning(c) && !before.includes(c.pid)), true);
  // Not vacuous: the caller's other variables do reach the daemons.
  assert.equal(environOf(a.apiserver().pid).MK8S_ADDONS_SANDBOX, a.dir);
  for (const c of components) assert.deepEqual(proxyVariablesOf(c.pid), {}, `pid ${c.pid}`);
  assert.equal(status(a).code, 0);
});

test('start --keep-proxy: the proxy variables do reach the control plane', async () => {
  const a = sandboxA();
  assert.equal(a.cli(['stop']).code, 0);
  const start = a.cli(['start', '--keep-proxy'], CALLER_PROXIES);
  assert.deepEqual(start, { code: 0, stdout: 'MicroK8s is running and the node is Ready\n', stderr: '' });
  assert.deepEqual(proxyVariablesOf(a.apiserver().pid), CALLER_PROXIES);
  // Back to a proxy-free control plane for the tests after this one.
  assert.equal(a.cli(['stop']).code, 0);
  assert.equal(a.cli(['start']).code, 0);
  assert.deepEqual(proxyVariablesOf(a.apiserver().pid), {});
});

test('two sandboxes side by side: enabling dns on one leaves the other\'s cluster, files, services and links alone', async () => {
  const a = sandboxA();
  const b = sandboxB();
  assert.notEqual(a.info.netns, b.info.netns);
  assert.deepEqual((await netnsList()).filter((n) => n === a.info.netns || n === b.info.netns).sort(), [a.info.netns, b.info.netns].sort());
  assert.notEqual(a.controlPlane().server, b.controlPlane().server);
  const bFiles = treeDigest(b.dir, (rel) => rel === 'cp');
  const bLog = await b.serviceLog();
  const bApiserver = b.apiserver();
  const bLinks = await linksOf(b.info.netns);
  const aLogged = (await a.serviceLog()).length;

  const r = a.cli(['enable', 'dns', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(resultOf(r.stdout), { type: 'result', ok: true, changed: 5, restarts: { kubelet: 1 } });
  // It did change A...
  assert.equal((await a.kubectl(['-n', 'kube-system', 'get', 'deployment', 'coredns', '-o', 'name'])).stdout, 'deployment.apps/coredns\n');
  assert.deepEqual(await entriesOf(a, aLogged), [{ action: 'restart', daemon: 'kubelet', result: 'ok' }]);
  assert.ok(lines(path.join(a.info.snapData, 'args', 'kubelet')).includes('--cluster-dns=10.152.183.10'));
  // ... and nothing of B.
  for (const what of ['configmap/coredns', 'deployment/coredns', 'service/kube-dns', 'serviceaccount/coredns']) {
    const got = await b.kubectlAny(['-n', 'kube-system', 'get', what, '-o', 'name']);
    assert.deepEqual([got.exitCode, got.stdout], [1, ''], what);
    assert.match(got.stderr, /\(NotFound\)/);
  }
  assert.equal((await b.kubectlAny(['get', 'clusterrole', 'coredns'])).exitCode, 1);
  assert.deepEqual(treeDigest(b.dir, (rel) => rel === 'cp'), bFiles);
  assert.deepEqual(await b.serviceLog(), bLog);
  assert.deepEqual(b.apiserver(), bApiserver);
  assert.equal(isRunning(bApiserver), true);
  assert.deepEqual(await linksOf(b.info.netns), bLinks);
  assert.deepEqual(await linksOf(a.info.netns), ['flannel.1', 'lo']);
});

async function assertDownLeavesNothing(sb: TestSandbox): Promise<void> {
  const info: SandboxInfo = sb.info;
  const st = status(sb).status;
  const recorded = Object.values(sb.controlPlane().components);
  assert.deepEqual(st.controlPlane.map((c) => c.pid), recorded.map((c) => c.pid));
  assert.equal(recorded.every(isRunning), true);
  // Not vacuous: the daemons' command lines name the folder while they run.
  assert.deepEqual(processesMentioning(path.join(sb.dir, 'cp')), recorded.map((c) => c.pid).sort((x, y) => x - y));
  assert.ok((await netnsList()).includes(info.netns));

  const r = cli(['sandbox', 'down', '--dir', sb.dir]);
  assert.deepEqual(r, { code: 0, stdout: `sandbox in ${sb.dir} is down and removed\n`, stderr: '' });
  sb.down(); // already down: a no-op for after()
  for (const c of recorded) assert.equal(isRunning(c), false, `pid ${c.pid} (${c.command[0]})`);
  assert.deepEqual(processesMentioning(sb.dir), []);
  assert.equal(existsSync(sb.dir), false);
  assert.equal((await netnsList()).includes(info.netns), false);
  const after = cli(['sandbox', 'status', '--dir', sb.dir]);
  assert.deepEqual(after, { code: 3, stdout: '', stderr: `mk8s-addons: error: no sandbox in ${sb.dir}; create one with: mk8s-addons sandbox up --dir ${sb.dir}\n` });
}

test('sandbox down (1.35): no process, no folder, no network namespace left', async () => {
  await assertDownLeavesNothing(sandboxB());
});

test('sandbox down (1.20, after an enable): no process, no folder, no network namespace left', async () => {
  await assertDownLeavesNothing(sandboxA());
});
