/**
 * The real Cilium agent on a sandbox node (issue 19): the agent built from Cilium's module (v1.20.2, by
 * scripts/build-cilium.sh) runs for node-0 under the sandbox's kubelet, configured from the release's
 * own pod spec and ConfigMap; its CNI plugin networks pods; its eBPF programs are read back by the
 * datapath check. Everything is read from the real things: the agent's API (through the CLI copied out
 * of its pod), the kernel (bpftool, tc, BPF_PROG_QUERY), the links of the node's namespace, the API.
 *
 * One 1.20-era sandbox (the field notes' MicroK8s) with --agent real; the tests share it and run in order.
 * Needs root and BPF (as the sandbox does); without them each test is skipped, saying so.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../src/adapters/process.js';
import { SANDBOX_ROOT, useSandbox, type TestSandbox } from '../support/sandbox.js';
import { netnsFor } from '../../src/sandbox/sandbox.js';
import { activeCniConfigs, links, serviceStates, settle } from '../support/cilium-node.js';
import { locateCiliumBuild } from '../../src/sandbox/cilium-binaries.js';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root: the sandbox and the agent use network namespaces, bpffs and cgroups';
const BUILD = locateCiliumBuild();

/**
 * What a sandbox could change on the host: kernel sysctls, the links of the host's namespace, mounts (the
 * host's own under /sys and any under this test process's sandbox folder), cgroups and network namespaces
 * (the host's own, and any of this sandbox's), /run. Other test runs' sandboxes are left out.
 */
function hostFacts(netns: string): Record<string, string[]> {
  const sysctl = (k: string) => `${k}=${readFileSync(`/proc/sys/${k.replaceAll('.', '/')}`, 'utf8').trim()}`;
  const mine = `${SANDBOX_ROOT}/${process.pid}-`;
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter(Boolean);
  const cgroupRoot = mounts.map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
  const ours = (n: string) => !n.startsWith('mk8s-sb-') || n === netns || n.startsWith(`${netns}-`);
  const hostLinks = JSON.parse(spawnSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' }).stdout || '[]') as { ifname: string }[];
  return {
    sysctls: ['kernel.unprivileged_bpf_disabled', 'kernel.timer_migration', 'net.core.bpf_jit_enable', 'net.ipv4.conf.all.rp_filter', 'net.ipv4.fib_multipath_use_neigh'].map(sysctl),
    links: hostLinks.map((l) => l.ifname).sort(),
    mounts: mounts.filter((l) => (l.split(' ')[1] ?? '').startsWith('/sys/') || l.includes(mine)).sort(),
    cgroups: cgroupRoot ? readdirSync(cgroupRoot).filter(ours).sort() : [],
    netns: spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '' && ours(n)).sort(),
    run: readdirSync('/run').filter((n) => /cilium|xtables/.test(n)).sort(),
  };
}

interface Report {
  complete: boolean;
  problems: { interface: string | null; hook: string | null; message: string }[];
  interfaces: { name: string; attachments: { interface: string; kind: string; hook: string; function: string | null }[] }[];
}

describe('the real Cilium agent on a 1.20 sandbox node', { skip, concurrency: false }, () => {
  const node = useSandbox('1.20', { name: 'cilium-real', agent: 'real' });
  let sb: TestSandbox;
  let hostBefore: Record<string, string[]>;
  const ns = () => sb.info.netns;
  const datapath = (extra: string[] = []) => sb.cli(['datapath', '--netns', ns(), '--output', 'json', ...extra]);
  const report = (r: { stdout: string }) => JSON.parse(r.stdout.trim().split('\n')[0] ?? '{}') as Report;
  const attached = (r: Report) => r.interfaces.flatMap((i) => i.attachments.map((a) => `${a.interface.startsWith('lxc') ? 'lxc*' : a.interface} ${a.kind}/${a.hook} ${a.function}`)).sort();
  const problems = (r: Report) => r.problems.map((p) => `${p.interface} ${p.hook}: ${p.message}`);

  before(() => {
    assert.ok(!('missing' in BUILD), `the real agent's tests need the Cilium build: ${'missing' in BUILD ? BUILD.missing : ''}`);
    // The sandbox's folder (and so its namespace's name) is made on first use: the facts before it are the host's alone.
    hostBefore = hostFacts('mk8s-sb-none');
    sb = node();
  });

  test('sandbox status says that node-0 runs the real agent, and which', () => {
    const st = sb.cli(['sandbox', 'status', '--dir', sb.dir]);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, /^ {2}cilium agent: real v1\.20\.2 \(built from Cilium's module\), run by the sandbox kubelet \(pid \d+\); other nodes: kwok$/m);
  });

  test("the field notes, replayed: enable dns and cilium, the agent's CLI, its programs, its CNI plugin and config", async () => {
    const dns = sb.cli(['enable', 'dns:1.1.1.1']);
    assert.equal(dns.code, 0, dns.stderr);
    // The rollout wait is on the real agent: its pod is Ready only when the agent's /healthz says so.
    const enable = sb.cli(['enable', 'cilium', '--timeout', '3m']);
    assert.equal(enable.code, 0, `${enable.stdout}\n${enable.stderr}`);
    const kubelet = JSON.parse(readFileSync(path.join(sb.dir, 'node', 'kubelet.json'), 'utf8')) as { pods: Record<string, string>; agents: { pod: string; version: string }[] };
    assert.deepEqual(kubelet.agents.map((a) => a.version), ['1.20.2']);
    assert.equal(kubelet.pods[kubelet.agents[0]!.pod], 'real cilium-agent (ready)');

    // $SNAP_DATA/bin/cilium runs the CLI copied out of the agent's pod, against the agent's socket.
    const bin = path.join(sb.info.snapData, 'bin');
    assert.deepEqual(readdirSync(bin).sort(), ['cilium', 'cilium-1.20.0', 'helm3']);
    const status = await run([path.join(bin, 'cilium'), ['status']]);
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, /^Cilium:\s+Ok\s+1\.20\.2 /m);
    assert.match(status.stdout, /^IPAM:\s+IPv4: \d+\/254 allocated from 10\.1\.0\.0\/24/m);
    assert.match(status.stdout, /^Routing:\s+Network: Tunnel \[vxlan\]/m);
    const brief = sb.cli(['cilium', '--', 'status', '--brief']);
    assert.deepEqual([brief.code, brief.stdout.trim()], [0, 'OK']);

    // The plugin the agent pod installed answers with its version; the config we installed is the one active.
    const cni = await run([path.join(sb.info.snapData, 'opt', 'cni', 'bin', 'cilium-cni'), ['--version']]);
    assert.match(cni.stdout + cni.stderr, /^Cilium CNI plugin 1\.20\.2 /);
    assert.deepEqual(activeCniConfigs(sb), ['05-cilium-cni.conf']);

    // CoreDNS, restarted off the old CNI, got its address from cilium-cni, and the agent its endpoint.
    const pod = await settle(async () => {
      const r = await sb.kubectlAny(['-n', 'kube-system', 'get', 'pods', '-l', 'k8s-app=kube-dns', '-o', 'jsonpath={.items[*].status.podIP} {.items[*].status.conditions[?(@.type=="Ready")].status}']);
      return /^10\.1\.0\.\d+ True$/.test(r.stdout.trim());
    }, true);
    assert.equal(pod, true, 'coredns runs with an address from 10.1.0.0/24');
    const ep = await sb.kubectl(['-n', 'kube-system', 'get', 'ciliumendpoints', '-o', 'jsonpath={.items[*].status.state}']);
    assert.equal(ep.stdout.trim(), 'ready');

    // The programs on cilium_host / cilium_net / cilium_vxlan / lxc*, read from the kernel (tcx).
    assert.deepEqual((await links(sb)).filter((l) => /^(cilium_|lxc)/.test(l)).map((l) => l.replace(/^lxc[0-9a-f]{12}$/, 'lxc*')).sort(), ['cilium_host', 'cilium_net', 'cilium_vxlan', 'lxc*']);
    const dp = datapath();
    const r = report(dp);
    assert.deepEqual(attached(r), [
      'cilium_host tcx/egress cil_from_host',
      'cilium_host tcx/ingress cil_to_host',
      'cilium_net tcx/ingress cil_to_host',
      'cilium_vxlan tcx/egress cil_to_overlay',
      'cilium_vxlan tcx/ingress cil_from_overlay',
      'eth0 tcx/ingress cil_from_netdev',
      'lxc* tcx/ingress cil_from_container',
    ]);
    assert.equal(dp.code, 0, `datapath: ${dp.stdout}`);
    assert.equal(r.complete, true);
  });

  test("a pod's traffic to the node's gateway; a CiliumNetworkPolicy blocks it; deleting the policy restores it", async () => {
    await sb.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'client', namespace: 'default', labels: { app: 'client' } }, spec: { nodeName: 'node-0', containers: [{ name: 'c', image: 'busybox' }] } }) });
    const ready = await settle(async () => (await sb.kubectlAny(['get', 'pod', 'client', '-o', 'jsonpath={.status.phase}/{.status.podIP}'])).stdout.trim().startsWith('Running/10.1.0.'), true);
    assert.equal(ready, true);
    const uid = (await sb.kubectl(['get', 'pod', 'client', '-o', 'jsonpath={.metadata.uid}'])).stdout.trim();
    const podNs = `${ns()}-p${uid.slice(0, 8)}`;
    const gateway = /inet (\d+\.\d+\.\d+\.\d+)\//.exec((await run(['ip', ['-n', ns(), '-4', 'addr', 'show', 'cilium_host']])).stdout)?.[1];
    assert.ok(gateway, 'cilium_host has the router address');
    // A TCP server in the node's namespace; the client in the pod's namespace (its eth0 is cilium-cni's veth peer).
    const server = spawn('ip', ['netns', 'exec', ns(), process.execPath, '-e', "require('net').createServer((s) => s.end('hello\\n')).listen(8080)"], { stdio: 'ignore' });
    after(() => server.kill());
    const connect = () =>
      new Promise<string>((resolve) => {
        const c = spawn('ip', ['netns', 'exec', podNs, process.execPath, '-e', `const s = require('net').connect(8080, '${gateway}'); s.setTimeout(2000, () => { console.log('timeout'); process.exit(1); }); s.on('data', (d) => { console.log(String(d).trim()); process.exit(0); }); s.on('error', (e) => { console.log(e.code); process.exit(1); });`], { stdio: ['ignore', 'pipe', 'ignore'] });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.on('exit', () => resolve(out.trim()));
      });
    assert.equal(await settle(connect, 'hello', { attempts: 20 }), 'hello');
    const policy = { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'deny-egress', namespace: 'default' }, spec: { endpointSelector: { matchLabels: { app: 'client' } }, egressDeny: [{ toEntities: ['all'] }] } };
    await sb.kubectl(['apply', '-f', '-'], { input: JSON.stringify(policy) });
    assert.equal(await settle(connect, 'timeout', { attempts: 20 }), 'timeout');
    await sb.kubectl(['delete', 'ciliumnetworkpolicy', 'deny-egress', '-n', 'default']);
    assert.equal(await settle(connect, 'hello', { attempts: 20 }), 'hello');
    const cep = await sb.kubectl(['get', 'ciliumendpoint', 'client', '-n', 'default', '-o', 'jsonpath={.status.networking.addressing[0].ipv4}']);
    assert.match(cep.stdout.trim(), /^10\.1\.0\.\d+$/);
    await sb.kubectl(['delete', 'pod', 'client', '--wait=true']);
    assert.equal(existsSync(`/run/netns/${podNs}`), false, "the pod's namespace went with it (CNI DEL)");
  });

  test('an upgrade that changes the agent pod replaces it: the old agent stops, the new one starts and the datapath is complete again', async () => {
    const before = JSON.parse(readFileSync(path.join(sb.dir, 'node', 'kubelet.json'), 'utf8')) as { agents: { pid: number; pod: string }[] };
    assert.equal(before.agents.length, 1);
    const upgrade = sb.cli(['enable', 'cilium', '--set', 'podAnnotations.mk8s-test=upgrade', '--timeout', '3m']);
    assert.equal(upgrade.code, 0, `${upgrade.stdout}\n${upgrade.stderr}`);
    const after = JSON.parse(readFileSync(path.join(sb.dir, 'node', 'kubelet.json'), 'utf8')) as { agents: { pid: number; pod: string }[]; pods: Record<string, string> };
    assert.equal(after.agents.length, 1, 'one agent runs');
    assert.notEqual(after.agents[0]!.pod, before.agents[0]!.pod, 'the DaemonSet replaced the pod');
    assert.notEqual(after.agents[0]!.pid, before.agents[0]!.pid);
    assert.equal(existsSync(`/proc/${before.agents[0]!.pid}`), false, 'the old agent stopped');
    assert.equal(after.pods[after.agents[0]!.pod], 'real cilium-agent (ready)');
    assert.equal(await settle(async () => datapath().code, 0), 0, 'the new agent took over the datapath');
  });

  test('a detached tcx program is reported broken, naming the interface and the hook', async () => {
    const kernel = JSON.parse((await run(['ip', ['netns', 'exec', ns(), 'python3', path.join(process.cwd(), 'scripts', 'tcx-query.py')]])).stdout) as { attachments: { ifname: string; hook: string; link_id: number }[] };
    const link = kernel.attachments.find((a) => a.ifname === 'cilium_vxlan' && a.hook === 'ingress');
    assert.ok(link, 'cilium_vxlan has a tcx link at ingress');
    const detach = await run(['ip', ['netns', 'exec', ns(), 'bpftool', 'link', 'detach', 'id', String(link.link_id)]]);
    assert.equal(detach.exitCode, 0, detach.stderr);
    const dp = datapath();
    assert.equal(dp.code, 1);
    assert.deepEqual(report(dp).problems.filter((p) => p.interface === 'cilium_vxlan').map((p) => p.hook), ['ingress']);
    assert.match(problems(report(dp)).join('\n'), /^cilium_vxlan ingress: .*from-overlay/m);
  });

  test('disable leaves no Cilium behind: no agent, links, programs or pins, flannel back, the node as it was', async () => {
    const disable = sb.cli(['disable', 'cilium']);
    assert.equal(disable.code, 0, `${disable.stdout}\n${disable.stderr}`);
    const kubelet = JSON.parse(readFileSync(path.join(sb.dir, 'node', 'kubelet.json'), 'utf8')) as { agents: unknown[] };
    assert.deepEqual(kubelet.agents, []);
    assert.deepEqual((await links(sb)).filter((l) => /^(cilium_|lxc)/.test(l)), []);
    assert.ok((await links(sb)).includes('flannel.1'));
    assert.equal(serviceStates(sb).flanneld, 'active');
    assert.deepEqual(readdirSync(path.join(sb.dir, 'node', 'bpffs')).sort(), ['maps.debug', 'progs.debug'], 'no pins left (only the bpffs\'s own iterators)');
    const r = report(datapath());
    assert.deepEqual(attached(r), []);
    assert.equal(existsSync(path.join(sb.info.snapData, 'var', 'run')), false);
    assert.equal(existsSync(path.join(sb.info.snapData, 'opt', 'cni', 'bin', 'cilium-cni')), false);
  });

  test('classic tc mode (--set bpf.enableTCX=false): complete, and a detached filter is named', async () => {
    const enable = sb.cli(['enable', 'cilium', '--set', 'bpf.enableTCX=false', '--timeout', '3m']);
    assert.equal(enable.code, 0, `${enable.stdout}\n${enable.stderr}`);
    // CoreDNS is restarted onto the new agent: its endpoint gets its program once the agent has built it.
    await settle(async () => attached(report(datapath())).includes('lxc* clsact/ingress cil_from_container'), true);
    const r = report(datapath());
    const kinds = r.interfaces.flatMap((i) => i.attachments.map((a) => a.kind));
    assert.ok(kinds.length > 0 && kinds.every((k) => k === 'clsact'), attached(r).join(', '));
    assert.equal(r.complete, true, problems(r).join('\n'));
    const show = await run(['ip', ['netns', 'exec', ns(), 'tc', 'filter', 'show', 'dev', 'cilium_host', 'egress']]);
    const m = /pref (\d+) bpf chain 0 handle (0x[0-9a-f]+) cil_from_host/.exec(show.stdout);
    assert.ok(m, show.stdout);
    await run(['ip', ['netns', 'exec', ns(), 'tc', 'filter', 'delete', 'dev', 'cilium_host', 'egress', 'pref', m[1]!, 'handle', m[2]!, 'bpf']]);
    const broken = datapath();
    assert.equal(broken.code, 1);
    assert.match(problems(report(broken)).join('\n'), /^cilium_host egress: .*from-host/m);
    const off = sb.cli(['disable', 'cilium', 'helm3', 'dns']);
    assert.equal(off.code, 0, off.stderr);
  });

  test('the host is untouched: sysctls, links, mounts, cgroups, namespaces and /run as before the sandbox', () => {
    const netns = netnsFor(sb.dir);
    assert.notDeepEqual(hostFacts(netns), hostBefore, 'the sandbox itself is seen (its mounts, cgroup and namespaces)');
    sb.down();
    assert.deepEqual(hostFacts(netns), hostBefore);
  });
});
