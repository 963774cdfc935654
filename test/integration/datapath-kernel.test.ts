/**
 * The datapath check against real kernel objects: a network namespace per test, laid out like a Cilium
 * node (lxc veths, lxc_health, the cilium_host/cilium_net pair, cilium_vxlan), with tiny BPF programs
 * compiled by clang from test/fixtures/datapath/bpf/ and attached by tc as Cilium's iproute2 loader did
 * (`tc filter add dev X ingress bpf da obj bpf_lxc.o sec from-container`). Needs root; the packages come
 * from scripts/setup-datapath-deps.sh, which this file runs first (a no-op when they are installed).
 */
import { test, before, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ROOT, CLI } from '../support/cli.js';
import { defaultGlobals } from '../../src/grammar.js';
import { PreconditionError, UsageError } from '../../src/errors.js';
import { bpftoolNetList, findTool, findTools, tcFilterShow, type ToolContext } from '../../src/adapters/datapath-tools.js';
import { checkDatapath, runDatapath } from '../../src/commands/datapath.js';
import type { Attachment, DatapathReport } from '../../src/datapath/model.js';

const SETUP = path.join(ROOT, 'scripts', 'setup-datapath-deps.sh');
const BPF_SOURCES = path.join(ROOT, 'test', 'fixtures', 'datapath', 'bpf');

const IPROUTE2 = 'the iproute2-loader naming of Cilium 1.11 and older';
const POD = "packets from this pod bypass Cilium's policy and routing: restart the pod, or the cilium agent to regenerate its endpoint";

interface Tools {
  ip: string;
  tc: string;
  bpftool: string;
  clang: string;
}

let tools: Tools | undefined;
let work = '';
/** Set when the packages could not be installed or the programs not compiled: the tests fail with it. */
let brokenSetup: string | undefined;
/** Set when the kernel or our privileges refuse one precise capability: the tests skip with it. */
let missingCapability: string | undefined;
let missingVxlan: string | undefined;
const namespaces = new Set<string>();
let sequence = 0;

function sh(file: string, args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync(file, args, { encoding: 'utf8', cwd: work || undefined, timeout: 60_000 });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim() || String(r.error ?? '') };
}

function must(file: string, args: string[]): string {
  const r = sh(file, args);
  if (!r.ok) throw new Error(`${file} ${args.join(' ')} failed: ${r.err}`);
  return r.out;
}

const refused = (err: string) => /Operation not permitted|Permission denied/.test(err);

function newNamespace(): string {
  const name = `mk8s-dp-${process.pid}-${++sequence}`;
  const t = tools as Tools;
  const r = sh(t.ip, ['netns', 'add', name]);
  if (!r.ok) throw new Error(`ip netns add ${name} failed: ${r.err}`);
  namespaces.add(name);
  return name;
}

function deleteNamespace(name: string): void {
  if (!namespaces.has(name)) return;
  sh((tools as Tools).ip, ['netns', 'del', name]);
  namespaces.delete(name);
}

before(() => {
  const setup = spawnSync('bash', [SETUP], { encoding: 'utf8' });
  const found = { ip: findTool('ip'), tc: findTool('tc'), bpftool: findTool('bpftool'), clang: findTool('clang') };
  const absent = Object.entries(found)
    .filter(([, file]) => file === null)
    .map(([name]) => name);
  if (absent.length > 0) {
    brokenSetup = `${absent.join(', ')} missing after scripts/setup-datapath-deps.sh (exit ${setup.status}): ${(setup.stderr || setup.stdout).trim()}`;
    return;
  }
  tools = found as Tools;
  work = mkdtempSync(path.join(tmpdir(), 'mk8s-datapath-'));
  // The objects are named like Cilium's, because tc names each filter after its object file.
  const builds: [string, string][] = [
    ['bpf_lxc.c', 'bpf_lxc.o'],
    ['bpf_host.c', 'bpf_host.o'],
    ['bpf_host.c', 'bpf_host_cilium_net.o'],
    ['bpf_overlay.c', 'bpf_overlay.o'],
    ['foreign.c', 'foreign.o'],
  ];
  for (const [source, object] of builds) {
    const r = sh(tools.clang, ['-O2', '-Wall', '-Werror', '-target', 'bpf', '-c', path.join(BPF_SOURCES, source), '-o', path.join(work, object)]);
    if (!r.ok) {
      brokenSetup = `clang could not compile ${source}: ${r.err}`;
      return;
    }
  }
  // Probe each capability once, so that a refusal skips with its precise reason.
  const probe = `mk8s-dp-${process.pid}-probe`;
  const add = sh(tools.ip, ['netns', 'add', probe]);
  if (!add.ok) {
    missingCapability = `cannot create network namespaces here (${add.err}): the kernel tests need root with CAP_SYS_ADMIN`;
    return;
  }
  namespaces.add(probe);
  const steps: [string[], string][] = [
    [[tools.ip, '-n', probe, 'link', 'add', 'lxcprobe', 'type', 'veth', 'peer', 'name', 'podprobe'], 'cannot create veth pairs'],
    [[tools.ip, 'netns', 'exec', probe, tools.tc, 'qdisc', 'add', 'dev', 'lxcprobe', 'clsact'], 'the kernel has no clsact qdisc (CONFIG_NET_SCH_INGRESS)'],
    [
      [tools.ip, 'netns', 'exec', probe, tools.tc, 'filter', 'add', 'dev', 'lxcprobe', 'ingress', 'bpf', 'da', 'obj', 'bpf_lxc.o', 'sec', 'from-container'],
      'the kernel refuses to load BPF programs (needs CAP_BPF and CAP_NET_ADMIN, and CONFIG_NET_CLS_BPF)',
    ],
  ];
  for (const [[file, ...args], reason] of steps) {
    const r = sh(file as string, args);
    if (!r.ok && (refused(r.err) || /not supported|Unknown (qdisc|filter|device type)|No such file/i.test(r.err))) {
      missingCapability = `${reason}: ${r.err}`;
      break;
    }
    if (!r.ok) {
      brokenSetup = `${file} ${args.join(' ')} failed: ${r.err}`;
      break;
    }
  }
  const vxlan = sh(tools.ip, ['-n', probe, 'link', 'add', 'cilium_vxlan', 'type', 'vxlan', 'id', '2', 'dstport', '8472']);
  if (!vxlan.ok) missingVxlan = `the kernel cannot create vxlan devices (CONFIG_VXLAN): ${vxlan.err}`;
  deleteNamespace(probe);
});

after(() => {
  for (const name of [...namespaces]) deleteNamespace(name);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Fails on a broken setup, skips on a refused capability; true when the test can run. */
function ready(t: TestContext, needs: { vxlan?: boolean } = {}): boolean {
  if (brokenSetup !== undefined) assert.fail(brokenSetup);
  if (missingCapability !== undefined) {
    t.skip(missingCapability);
    return false;
  }
  if (needs.vxlan && missingVxlan !== undefined) {
    t.skip(missingVxlan);
    return false;
  }
  return true;
}

interface Layout {
  endpoints?: string[];
  tunnel?: boolean;
  /** `DEV HOOK` attachments of the healthy layout to leave out. */
  without?: string[];
  /** Devices that get no clsact qdisc at all. */
  bare?: string[];
}

/** Builds a node-like namespace; returns its name. Deleted after the test. */
function buildNode(t: TestContext, layout: Layout = {}): string {
  const { ip, tc } = tools as Tools;
  const ns = newNamespace();
  t.after(() => deleteNamespace(ns));
  const endpoints = layout.endpoints ?? ['lxc0a1b2c3d4e5f', 'lxcffeeddccbbaa'];
  must(ip, ['-n', ns, 'link', 'add', 'cilium_host', 'type', 'veth', 'peer', 'name', 'cilium_net']);
  if (layout.tunnel) must(ip, ['-n', ns, 'link', 'add', 'cilium_vxlan', 'type', 'vxlan', 'id', '2', 'dstport', '8472']);
  must(ip, ['-n', ns, 'link', 'add', 'lxc_health', 'type', 'veth', 'peer', 'name', 'podhealth']);
  endpoints.forEach((dev, i) => must(ip, ['-n', ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `pod${i}`]));
  const programs: [string, string, string, string][] = [
    ['cilium_host', 'ingress', 'bpf_host.o', 'to-host'],
    ['cilium_host', 'egress', 'bpf_host.o', 'from-host'],
    ['cilium_net', 'ingress', 'bpf_host_cilium_net.o', 'to-host'],
    ...(layout.tunnel
      ? ([
          ['cilium_vxlan', 'ingress', 'bpf_overlay.o', 'from-overlay'],
          ['cilium_vxlan', 'egress', 'bpf_overlay.o', 'to-overlay'],
        ] as [string, string, string, string][])
      : []),
    ['lxc_health', 'ingress', 'bpf_lxc.o', 'from-container'],
    ...endpoints.map((dev): [string, string, string, string] => [dev, 'ingress', 'bpf_lxc.o', 'from-container']),
  ];
  const withQdisc = new Set<string>();
  for (const [dev, hook, object, section] of programs) {
    if (layout.bare?.includes(dev)) continue;
    if (!withQdisc.has(dev)) {
      must(ip, ['netns', 'exec', ns, tc, 'qdisc', 'add', 'dev', dev, 'clsact']);
      withQdisc.add(dev);
    }
    if (layout.without?.includes(`${dev} ${hook}`)) continue;
    attach(ns, dev, hook, object, section);
  }
  return ns;
}

function attach(ns: string, dev: string, hook: string, object: string, section: string): void {
  const { ip, tc } = tools as Tools;
  must(ip, ['netns', 'exec', ns, tc, 'filter', 'add', 'dev', dev, hook, 'bpf', 'da', 'obj', object, 'sec', section]);
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs `mk8s-addons datapath WORDS --output json` in-process; the exit code and the parsed report line. */
async function datapathJson(words: string[]): Promise<{ code: number; report: DatapathReport }> {
  const globals = defaultGlobals();
  const stdout = new Collect();
  const code = await runDatapath([...words, '--output', 'json'], globals, () => globals.output ?? 'plain', { stdout, stderr: new Collect() });
  return { code, report: JSON.parse(stdout.text) as DatapathReport };
}

const attachmentKey = (a: Attachment) => `${a.interface} ${a.kind}/${a.hook} ${a.name ?? a.function} ${a.programId} ${a.role} ${a.era}`;
const allKeys = (r: DatapathReport) => r.interfaces.flatMap((i) => i.attachments.map(attachmentKey)).sort();

test('a complete datapath in the iproute2 loader naming: exit 0', async (t) => {
  if (!ready(t, { vxlan: true })) return;
  const ns = buildNode(t, { tunnel: true });
  const { code, report } = await datapathJson(['--netns', ns]);
  assert.deepEqual(report.problems, []);
  assert.equal(code, 0);
  assert.equal(report.complete, true);
  assert.equal(report.era, 'iproute2');
  assert.equal(report.source, 'bpftool-json');
  assert.deepEqual(
    report.interfaces.map((i) => [i.name, i.type, i.attachments.map((a) => `${a.kind}/${a.hook} ${a.name}`)]),
    [
      ['cilium_net', 'cilium_net', ['clsact/ingress bpf_host_cilium_net.o:[to-host]']],
      ['cilium_host', 'cilium_host', ['clsact/ingress bpf_host.o:[to-host]', 'clsact/egress bpf_host.o:[from-host]']],
      ['cilium_vxlan', 'overlay', ['clsact/ingress bpf_overlay.o:[from-overlay]', 'clsact/egress bpf_overlay.o:[to-overlay]']],
      ['lxc_health', 'endpoint', ['clsact/ingress bpf_lxc.o:[from-container]']],
      ['lxc0a1b2c3d4e5f', 'endpoint', ['clsact/ingress bpf_lxc.o:[from-container]']],
      ['lxcffeeddccbbaa', 'endpoint', ['clsact/ingress bpf_lxc.o:[from-container]']],
    ],
  );
  for (const a of report.interfaces.flatMap((i) => i.attachments)) assert.equal(typeof a.programId, 'number', attachmentKey(a));
  const against18 = await checkDatapath({ netns: ns, ciliumVersion: '1.8.13' });
  assert.deepEqual(against18.problems, []);
  assert.equal(against18.ciliumVersion, '1.8.13');
});

test('without bpftool, tc filter show over the interfaces of ip link finds the same programs', async (t) => {
  if (!ready(t, { vxlan: true })) return;
  const ns = buildNode(t, { tunnel: true });
  const viaBpftool = await checkDatapath({ netns: ns });
  const viaTc = await checkDatapath({ netns: ns, tools: { bpftool: null } });
  assert.equal(viaTc.source, 'tc');
  assert.deepEqual(viaTc.problems, []);
  assert.equal(viaTc.complete, true);
  assert.deepEqual(allKeys(viaTc), allKeys(viaBpftool));
  assert.equal(allKeys(viaTc).length, 8);
  assert.equal(viaTc.notes[0], 'bpftool is not installed, so tc filters were read instead: apt-get install bpftool');
});

test('saved output (bpftool JSON, bpftool text, a tc transcript) judged with --from matches the live check', async (t) => {
  if (!ready(t)) return;
  const ns = buildNode(t);
  const ctx: ToolContext = { paths: findTools(), netns: ns };
  const live = await checkDatapath({ netns: ns });
  const json = await bpftoolNetList(ctx, 'json');
  const text = await bpftoolNetList(ctx, 'text');
  assert.ok('stdout' in json && 'stdout' in text);
  let transcript = '';
  for (const dev of ['cilium_host', 'cilium_net', 'lxc_health', 'lxc0a1b2c3d4e5f', 'lxcffeeddccbbaa']) {
    for (const hook of ['ingress', 'egress'] as const) transcript += `# tc filter show dev ${dev} ${hook}\n${await tcFilterShow(ctx, dev, hook)}`;
  }
  const files: [string, string, string][] = [
    ['saved.json', json.stdout, 'bpftool-json'],
    ['saved.txt', text.stdout, 'bpftool-text'],
    ['saved-tc.txt', transcript, 'tc'],
  ];
  for (const [name, content, source] of files) {
    const file = path.join(work, `${ns}-${name}`);
    writeFileSync(file, content);
    const { code, report } = await datapathJson(['--from', file]);
    assert.equal(code, 0, name);
    assert.equal(report.source, source, name);
    assert.deepEqual(report.problems, [], name);
    // A tc transcript has no interface indexes; everything else is the same.
    assert.deepEqual(allKeys(report), allKeys(live), name);
  }
});

test('missing from-container programs (a filter left out, an lxc with no qdisc at all): exit 1', async (t) => {
  if (!ready(t)) return;
  const ns = buildNode(t, { without: ['lxc0a1b2c3d4e5f ingress'], bare: ['lxcffeeddccbbaa'] });
  const { code, report } = await datapathJson(['--netns', ns]);
  assert.equal(code, 1);
  assert.equal(report.complete, false);
  const expected = [
    {
      interface: 'lxc0a1b2c3d4e5f',
      hook: 'ingress',
      message: `lxc0a1b2c3d4e5f: no from-container program at ingress (expected bpf_lxc.o:[from-container] on clsact/ingress, in ${IPROUTE2}); ${POD}`,
    },
    {
      interface: 'lxcffeeddccbbaa',
      hook: 'ingress',
      message: `lxcffeeddccbbaa: no from-container program at ingress (expected bpf_lxc.o:[from-container] on clsact/ingress, in ${IPROUTE2}); ${POD}`,
    },
  ];
  assert.deepEqual(report.problems, expected);
  assert.deepEqual((await checkDatapath({ netns: ns, tools: { bpftool: null } })).problems, expected, 'the tc fallback judges alike');
});

test('a missing cilium_host program: exit 1', async (t) => {
  if (!ready(t)) return;
  const ns = buildNode(t, { without: ['cilium_host ingress'] });
  const { code, report } = await datapathJson(['--netns', ns, '--cilium-version', '1.8.13']);
  assert.equal(code, 1);
  assert.deepEqual(report.problems, [
    {
      interface: 'cilium_host',
      hook: 'ingress',
      message: `cilium_host: no to-host program at ingress (expected bpf_host.o:[to-host] on clsact/ingress, in ${IPROUTE2}); traffic between the host and the pods is not handled by Cilium: restart the cilium agent`,
    },
  ]);
});

test('unexpected attachments: a foreign filter, a second from-container, XDP on lxc_health', async (t) => {
  if (!ready(t)) return;
  const ns = buildNode(t);
  attach(ns, 'cilium_net', 'ingress', 'foreign.o', 'classifier');
  attach(ns, 'lxc0a1b2c3d4e5f', 'ingress', 'bpf_lxc.o', 'from-container');
  must((tools as Tools).ip, ['-n', ns, 'link', 'set', 'dev', 'lxc_health', 'xdpgeneric', 'obj', 'foreign.o', 'sec', 'xdp']);
  const { code, report } = await datapathJson(['--netns', ns]);
  assert.equal(code, 1);
  const of = (dev: string) => report.interfaces.find((i) => i.name === dev)?.attachments ?? [];
  const duplicateIds = of('lxc0a1b2c3d4e5f').map((a) => a.programId);
  const xdpId = of('lxc_health').find((a) => a.kind === 'xdp')?.programId;
  assert.equal(duplicateIds.length, 2);
  assert.equal(typeof xdpId, 'number');
  const expected = [
    {
      interface: 'cilium_net',
      hook: 'ingress',
      message:
        'cilium_net: foreign.o:[classifier] on clsact/ingress is not a Cilium program; another tool attached it to an interface that Cilium owns: unless you put it there on purpose, remove it with tc filter del dev cilium_net ingress pref N, N being its pref in tc filter show dev cilium_net ingress',
    },
    {
      interface: 'lxc_health',
      hook: 'xdp',
      message: `lxc_health: an XDP program (id ${xdpId}, generic mode) is attached, but Cilium attaches XDP programs only to physical devices: unless you put it there on purpose, remove it with ip link set dev lxc_health xdpgeneric off`,
    },
    {
      interface: 'lxc0a1b2c3d4e5f',
      hook: 'ingress',
      message: `lxc0a1b2c3d4e5f: from-container is attached 2 times at ingress (program ids ${duplicateIds.join(', ')}); only the first decides and the others are stale copies: restart the cilium agent`,
    },
  ];
  assert.deepEqual(report.problems, expected);
  // Without bpftool, XDP comes from ip link; the verdict is the same.
  assert.deepEqual((await checkDatapath({ netns: ns, tools: { bpftool: null } })).problems, expected);
});

test('tunnel mode: cilium_vxlan without its to-overlay program', async (t) => {
  if (!ready(t, { vxlan: true })) return;
  const ns = buildNode(t, { tunnel: true, without: ['cilium_vxlan egress'] });
  const report = await checkDatapath({ netns: ns });
  assert.deepEqual(
    report.problems.map((p) => p.message),
    [
      `cilium_vxlan: no to-overlay program at egress (expected bpf_overlay.o:[to-overlay] on clsact/egress, in ${IPROUTE2}); traffic to and from pods on other nodes (tunnel mode) is not handled: restart the cilium agent`,
    ],
  );
});

test('--cilium-version 1.16.3 against programs in the iproute2 naming: exit 1 with the mismatch', async (t) => {
  if (!ready(t)) return;
  const ns = buildNode(t);
  const { code, report } = await datapathJson(['--netns', ns, '--cilium-version', '1.16.3']);
  assert.equal(code, 1);
  assert.deepEqual(
    report.problems.map((p) => p.message),
    [
      `the programs are in ${IPROUTE2}, but Cilium 1.16.3 uses the tcx naming of Cilium 1.16 and newer on kernel 6.6+ or the cilium/ebpf-loader naming of Cilium 1.12 and newer on tc: this node runs another Cilium version than expected; check the agent's image with microk8s kubectl -n kube-system get ds cilium -o jsonpath='{.spec.template.spec.containers[0].image}'`,
    ],
  );
});

test('a namespace that does not exist is a usage error; missing tools are a precondition', async (t) => {
  if (!ready(t)) return;
  const ghost = `mk8s-dp-${process.pid}-ghost`;
  await assert.rejects(
    datapathJson(['--netns', ghost]),
    new UsageError(`network namespace "${ghost}" does not exist (Cannot open network namespace "${ghost}": No such file or directory); list them with ip netns list`),
  );
  const ns = buildNode(t);
  await assert.rejects(
    checkDatapath({ netns: ns, tools: { bpftool: null, tc: null } }),
    new PreconditionError(
      'neither bpftool nor tc is installed, so the attachments cannot be read: apt-get install bpftool iproute2 (on Ubuntu: apt-get install iproute2 linux-tools-common linux-tools-$(uname -r))',
    ),
  );
});

test('without root: exit 3, saying to run as root', (t) => {
  if (!ready(t)) return;
  if (process.getuid?.() !== 0) return t.skip('needs root to run the check as the unprivileged user nobody');
  const setpriv = findTool('setpriv');
  if (setpriv === null) return t.skip('setpriv (util-linux) is not installed, so the check cannot be run as nobody');
  const ns = buildNode(t);
  const asNobody = (args: string[]) =>
    spawnSync(setpriv, ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, CLI, 'datapath', ...args], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      cwd: tmpdir(),
      timeout: 60_000,
    });
  const inNs = asNobody(['--netns', ns]);
  assert.equal(inNs.status, 3, inNs.stderr);
  assert.equal(
    inNs.stderr,
    `mk8s-addons: error: entering network namespace "${ns}" was refused (setting the network namespace "${ns}" failed: Operation not permitted): ip netns exec needs root; run as root, e.g. sudo mk8s-addons datapath --netns ${ns}\n`,
  );
  const here = asNobody(['--output', 'json']);
  assert.equal(here.status, 3, here.stderr);
  assert.deepEqual(JSON.parse(here.stdout), {
    type: 'error',
    code: 'precondition',
    phase: null,
    message: `${(tools as Tools).bpftool} -j net list was refused (can't query prog: Operation not permitted): reading BPF attachments needs root (CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN before kernel 5.8); run as root, e.g. sudo mk8s-addons datapath`,
  });
});
