import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../support/cli.js';
import type { Attachment, LinkInfo, Observation } from '../../src/datapath/model.js';
import { makeAttachment, type RawAttachment } from '../../src/datapath/naming.js';
import { parseSavedOutput, SAVED_NOTE } from '../../src/datapath/saved.js';
import { judgeDatapath, tcxBlindSpot } from '../../src/datapath/judge.js';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'datapath');
const saved = (name: string): Observation => parseSavedOutput(readFileSync(path.join(FIXTURES, name), 'utf8'), name);
const judge = (name: string, ciliumVersion?: string, ciliumConfig?: Record<string, string>) => judgeDatapath(saved(name), { ciliumVersion, ciliumConfig });

const AGENT = 'microk8s kubectl -n kube-system get pods -l k8s-app=cilium -o wide';
const IPROUTE2 = 'the iproute2-loader naming of Cilium 1.11 and older';
const CILIUM_EBPF = 'the cilium/ebpf-loader naming of Cilium 1.12 and newer on tc';
const TCX = 'the tcx naming of Cilium 1.16 and newer on kernel 6.6+';
const POD = "packets from this pod bypass Cilium's policy and routing: restart the pod, or the cilium agent to regenerate its endpoint";
const HOST = 'traffic between the host and the pods is not handled by Cilium: restart the cilium agent';

test('complete datapaths of every era and format', () => {
  const table: [string, string, number][] = [
    ['field-notes-1.8-bpftool.txt', 'iproute2', 10],
    ['kernel-iproute2-complete-bpftool.json', 'iproute2', 6],
    ['kernel-iproute2-complete-bpftool.txt', 'iproute2', 6],
    ['kernel-iproute2-complete-tc.txt', 'iproute2', 6],
    ['cilium-ebpf-1.14-bpftool.json', 'cilium-ebpf', 7],
    ['cilium-ebpf-1.14-bpftool.txt', 'cilium-ebpf', 7],
    ['cilium-ebpf-1.14-tc.txt', 'cilium-ebpf', 7],
    ['tcx-1.16-bpftool.json', 'tcx', 7],
    ['tcx-1.16-bpftool.txt', 'tcx', 7],
  ];
  for (const [file, era, interfaces] of table) {
    const r = judge(file);
    assert.deepEqual(r.problems, [], file);
    assert.equal(r.complete, true, file);
    assert.equal(r.era, era, file);
    assert.equal(r.interfaces.length, interfaces, file);
    assert.equal(r.ciliumVersion, null);
  }
});

test('the versions that fit each era judge it complete', () => {
  const table: [string, string][] = [
    ['field-notes-1.8-bpftool.txt', '1.8.13'],
    ['field-notes-1.8-bpftool.txt', '1.11'],
    ['field-notes-1.8-bpftool.txt', '1.12.19'],
    ['cilium-ebpf-1.14-bpftool.txt', '1.13.18'],
    ['cilium-ebpf-1.14-bpftool.txt', '1.14.19'],
    ['cilium-ebpf-1.14-bpftool.txt', '1.16.3'],
    ['tcx-1.16-bpftool.txt', '1.17.18'],
  ];
  for (const [file, version] of table) {
    const r = judge(file, version);
    assert.deepEqual(r.problems, [], `${file} against ${version}`);
    assert.equal(r.ciliumVersion, version);
  }
});

test('the field notes node types its interfaces', () => {
  const r = judge('field-notes-1.8-bpftool.txt');
  assert.deepEqual(
    r.interfaces.map((i) => [i.name, i.ifindex, i.type, i.attachments.length]),
    [
      ['eno1np0', 3, 'netdev', 2],
      ['cilium_net', 913, 'cilium_net', 1],
      ['cilium_host', 914, 'cilium_host', 2],
      ['cilium_vxlan', 930, 'overlay', 2],
      ['lxc_health', 954, 'endpoint', 1],
      ['lxcf221c8fd6baa', 956, 'endpoint', 1],
      ['lxcbe9057961e74', 958, 'endpoint', 1],
      ['lxc9e21f2e97a0b', 960, 'endpoint', 1],
      ['lxc82cff8197450', 962, 'endpoint', 1],
      ['lxca5c9a6d90e69', 964, 'endpoint', 1],
    ],
  );
  assert.deepEqual(r.notes, [SAVED_NOTE]);
});

test('a version the naming does not fit is one problem; the rest is still judged', () => {
  const r = judge('field-notes-1.8-bpftool.txt', '1.16.3');
  assert.equal(r.era, 'iproute2');
  assert.deepEqual(r.problems, [
    {
      interface: null,
      hook: null,
      message: `the programs are in ${IPROUTE2}, but Cilium 1.16.3 uses ${TCX} or ${CILIUM_EBPF}: this node runs another Cilium version than expected; check the agent's image with microk8s kubectl -n kube-system get ds cilium -o jsonpath='{.spec.template.spec.containers[0].image}'`,
    },
  ]);
  const tcx = judge('tcx-1.16-bpftool.json', '1.8');
  assert.equal(tcx.problems.length, 1);
  assert.equal(tcx.problems[0]?.message.startsWith(`the programs are in ${TCX}, but Cilium 1.8 uses ${IPROUTE2}:`), true);
});

test('a pasted tc listing of one lxc is judged for the hook it queried, and says what it did not', () => {
  const r = judge('field-notes-1.8-tc.txt', '1.8');
  assert.deepEqual(r.problems, []);
  assert.equal(r.complete, true);
  assert.ok(
    r.notes.includes(
      'this transcript queried only lxcf221c8fd6baa (ingress): nothing is judged about the interfaces and hooks it did not query (cilium_host and cilium_net among them)',
    ),
    JSON.stringify(r.notes),
  );
});

test('iproute2 era, real broken namespace: duplicate, foreign filter, missing to-host', () => {
  const r = judge('kernel-iproute2-broken-bpftool.json');
  assert.equal(r.complete, false);
  assert.deepEqual(r.problems, [
    {
      interface: 'lxcffeeddccbbaa',
      hook: 'ingress',
      message:
        'lxcffeeddccbbaa: from-container is attached 2 times at ingress (program ids 203, 199); only the first decides and the others are stale copies: restart the cilium agent',
    },
    {
      interface: 'cilium_net',
      hook: 'ingress',
      message:
        'cilium_net: foreign.o:[classifier] on clsact/ingress is not a Cilium program; another tool attached it to an interface that Cilium owns: unless you put it there on purpose, remove it with tc filter del dev cilium_net ingress pref N, N being its pref in tc filter show dev cilium_net ingress',
    },
    {
      interface: 'cilium_host',
      hook: 'ingress',
      message: `cilium_host: no to-host program at ingress (expected bpf_host.o:[to-host] on clsact/ingress, in ${IPROUTE2}); ${HOST}`,
    },
  ]);
  assert.deepEqual(judge('kernel-iproute2-broken-bpftool.txt').problems, r.problems);
});

test('cilium/ebpf era, broken: half-managed device, swapped hooks, no to-overlay, wrong and foreign programs', () => {
  // kube-proxy replacement on: Cilium attaches to-netdev at egress of its devices.
  const r = judge('cilium-ebpf-1.14-broken-bpftool.txt', '1.14.19', { 'kube-proxy-replacement': 'true' });
  assert.deepEqual(
    r.problems.map((p) => p.message),
    [
      `eth0: no to-netdev program at egress (expected cil_to_netdev-eth0 on clsact/egress, in ${CILIUM_EBPF}); the device is managed in one direction only, which breaks NodePort, host-firewall and BPF-masquerading traffic: restart the cilium agent`,
      `cilium_host: no to-host program at ingress (expected cil_to_host-cilium_host on clsact/ingress, in ${CILIUM_EBPF}); ${HOST}`,
      `cilium_host: no from-host program at egress (expected cil_from_host-cilium_host on clsact/egress, in ${CILIUM_EBPF}); ${HOST}`,
      'cilium_host: cil_from_host-cilium_host is attached on clsact/ingress but belongs at egress: restart the cilium agent',
      'cilium_host: cil_to_host-cilium_host is attached on clsact/egress but belongs at ingress: restart the cilium agent',
      `cilium_vxlan: no to-overlay program at egress (expected cil_to_overlay-cilium_vxlan on clsact/egress, in ${CILIUM_EBPF}); traffic to and from pods on other nodes (tunnel mode) is not handled: restart the cilium agent`,
      `lxc4a7d1f0e9b21: no from-container program at ingress (expected cil_from_container-lxc4a7d1f0e9b21 on clsact/ingress, in ${CILIUM_EBPF}); ${POD}`,
      'lxc4a7d1f0e9b21: cil_to_host-lxc4a7d1f0e9b21 on clsact/ingress is a to-host program, which Cilium attaches to cilium_host and cilium_net, not to a pod endpoint: restart the cilium agent',
      'lxc9c02b6e8d3f4: sniffer.o:[classifier] on clsact/ingress is not a Cilium program; another tool attached it to an interface that Cilium owns: unless you put it there on purpose, remove it with tc filter del dev lxc9c02b6e8d3f4 ingress pref N, N being its pref in tc filter show dev lxc9c02b6e8d3f4 ingress',
    ],
  );
  assert.deepEqual(
    r.problems.map((p) => [p.interface, p.hook]),
    [
      ['eth0', 'egress'],
      ['cilium_host', 'ingress'],
      ['cilium_host', 'egress'],
      ['cilium_host', 'ingress'],
      ['cilium_host', 'egress'],
      ['cilium_vxlan', 'egress'],
      ['lxc4a7d1f0e9b21', 'ingress'],
      ['lxc4a7d1f0e9b21', 'ingress'],
      ['lxc9c02b6e8d3f4', 'ingress'],
    ],
  );
});

test('tcx era after an upgrade: leftovers of the older loader, a duplicate, XDP on lxc_health', () => {
  const r = judge('tcx-1.16-mixed-bpftool.json', '1.16.3');
  assert.equal(r.era, 'tcx');
  assert.deepEqual(
    r.problems.map((p) => [p.interface, p.hook, p.message]),
    [
      [
        'eth0',
        'ingress',
        `eth0: cil_from_netdev-eth0 on clsact/ingress is in ${CILIUM_EBPF}, but the running agent uses ${TCX}: it is left over from an older agent; restart the cilium agent, and if it stays, remove it with tc filter del dev eth0 ingress pref N, N being its pref in tc filter show dev eth0 ingress, then restart the agent again`,
      ],
      [
        'lxc_health',
        'xdp',
        'lxc_health: an XDP program (id 2600, generic mode) is attached, but Cilium attaches XDP programs only to physical devices: unless you put it there on purpose, remove it with ip link set dev lxc_health xdpgeneric off',
      ],
      ['lxc4a7d1f0e9b21', 'ingress', `lxc4a7d1f0e9b21: no from-container program at ingress (expected cil_from_container on tcx/ingress, in ${TCX}); ${POD}`],
      [
        'lxc4a7d1f0e9b21',
        'ingress',
        `lxc4a7d1f0e9b21: cil_from_container-lxc4a7d1f0e9b21 on clsact/ingress is in ${CILIUM_EBPF}, but the running agent uses ${TCX}: it is left over from an older agent; restart the cilium agent, and if it stays, remove it with tc filter del dev lxc4a7d1f0e9b21 ingress pref N, N being its pref in tc filter show dev lxc4a7d1f0e9b21 ingress, then restart the agent again`,
      ],
      [
        'lxc9c02b6e8d3f4',
        'ingress',
        'lxc9c02b6e8d3f4: from-container is attached 2 times at ingress (program ids 2515, 2519); only the first decides and the others are stale copies: restart the cilium agent',
      ],
    ],
  );
  // Without a version the newest naming seen is the running agent's: the same verdict.
  assert.deepEqual(judge('tcx-1.16-mixed-bpftool.json').problems, r.problems);
});

// Live observations: the link list is known, so interfaces without programs are judged too.
const link = (name: string, ifindex: number, infoKind: string | null, linkType = 'ether'): LinkInfo => ({ name, ifindex, infoKind, linkType });
const at = (iface: string, ifindex: number, kind: RawAttachment['kind'], hook: string, name: string | null, programId: number): Attachment =>
  makeAttachment({ interface: iface, ifindex, kind, hook, name, programId });
const live = (links: LinkInfo[], attachments: Attachment[]): Observation => ({ source: 'bpftool-json', attachments, links, notes: [] });

const NODE_LINKS = [
  link('lo', 1, null, 'loopback'),
  link('eth0', 2, null),
  link('lxcbr0', 3, 'bridge'),
  link('cilium_net', 4, 'veth'),
  link('cilium_host', 5, 'veth'),
  link('lxc_health', 7, 'veth'),
  link('lxc0a1b2c3d4e5f', 9, 'veth'),
];

test('live: an lxc without any program, a physical device Cilium does not manage, LXC bridge not judged', () => {
  const r = judgeDatapath(
    live(NODE_LINKS, [
      at('lxcbr0', 3, 'clsact', 'ingress', 'shaper.o:[classifier]', 40),
      at('cilium_net', 4, 'clsact', 'ingress', 'cil_to_host-cilium_net', 41),
      at('cilium_host', 5, 'clsact', 'ingress', 'cil_to_host-cilium_host', 42),
      at('cilium_host', 5, 'clsact', 'egress', 'cil_from_host-cilium_host', 43),
      at('lxc_health', 7, 'clsact', 'ingress', 'cil_from_container-lxc_health', 44),
    ]),
  );
  assert.deepEqual(r.problems, [
    {
      interface: 'lxc0a1b2c3d4e5f',
      hook: 'ingress',
      message: `lxc0a1b2c3d4e5f: no from-container program at ingress (expected cil_from_container-lxc0a1b2c3d4e5f on clsact/ingress, in ${CILIUM_EBPF}); ${POD}`,
    },
  ]);
  assert.deepEqual(
    r.interfaces.map((i) => [i.name, i.type]),
    [
      ['eth0', 'netdev'],
      ['lxcbr0', 'other'],
      ['cilium_net', 'cilium_net'],
      ['cilium_host', 'cilium_host'],
      ['lxc_health', 'endpoint'],
      ['lxc0a1b2c3d4e5f', 'endpoint'],
    ],
  );
  assert.deepEqual(r.notes, [
    "no physical device (eth0) carries Cilium's from-netdev program: expected unless kube-proxy replacement, NodePort, the host firewall or BPF masquerading is on",
  ]);
});

test('live: lxc_health without its program, with the consequence for health checks', () => {
  const r = judgeDatapath(
    live(NODE_LINKS.slice(0, 6), [
      at('cilium_net', 4, 'tcx', 'ingress', 'cil_to_host', 41),
      at('cilium_host', 5, 'tcx', 'ingress', 'cil_to_host', 42),
      at('cilium_host', 5, 'tcx', 'egress', 'cil_from_host', 43),
    ]),
  );
  assert.deepEqual(
    r.problems.map((p) => p.message),
    [
      `lxc_health: no from-container program at ingress (expected cil_from_container on tcx/ingress, in ${TCX}); the node's health endpoint is cut off, so cilium-health reports failures: restart the cilium agent`,
    ],
  );
});

test('live: no Cilium at all, and a node with endpoints but no host pair', () => {
  const bare = judgeDatapath(live([link('lo', 1, null, 'loopback'), link('eth0', 2, null)], []));
  assert.equal(bare.era, 'none');
  assert.deepEqual(bare.problems, [
    {
      interface: null,
      hook: null,
      message: `no Cilium interface or program exists in this network namespace: Cilium's datapath is not set up here; check that cilium is enabled and that its pod on this node runs (${AGENT})`,
    },
  ]);
  const listing = judgeDatapath({ source: 'bpftool-text', attachments: [], links: null, notes: [] });
  assert.equal(
    listing.problems[0]?.message,
    `no Cilium interface or program is in this listing: Cilium's datapath is not set up here; check that cilium is enabled and that its pod on this node runs (${AGENT})`,
  );
  const headless = judgeDatapath(
    live([link('lxc0a1b2c3d4e5f', 9, 'veth')], [at('lxc0a1b2c3d4e5f', 9, 'clsact', 'ingress', 'bpf_lxc.o:[from-container]', 1)]),
  );
  assert.deepEqual(
    headless.problems.map((p) => p.message),
    [
      `cilium_host does not exist: Cilium's agent has not set up this node's datapath; check that the cilium pod on this node runs (${AGENT})`,
      `cilium_net does not exist: Cilium's agent has not set up this node's datapath; check that the cilium pod on this node runs (${AGENT})`,
    ],
  );
});

test('live: with a version and nothing attached, each era the version allows is named', () => {
  const r = judgeDatapath(live(NODE_LINKS.slice(3, 5), []), { ciliumVersion: '1.16.3' });
  assert.equal(r.era, 'none');
  assert.deepEqual(
    r.problems.map((p) => p.message),
    [
      `cilium_net: no to-host program at ingress (expected cil_to_host on tcx/ingress, in ${TCX}, or cil_to_host-cilium_net on clsact/ingress, in ${CILIUM_EBPF}); ${HOST}`,
      `cilium_host: no to-host program at ingress (expected cil_to_host on tcx/ingress, in ${TCX}, or cil_to_host-cilium_host on clsact/ingress, in ${CILIUM_EBPF}); ${HOST}`,
      `cilium_host: no from-host program at egress (expected cil_from_host on tcx/egress, in ${TCX}, or cil_from_host-cilium_host on clsact/egress, in ${CILIUM_EBPF}); ${HOST}`,
    ],
  );
  const unknown = judgeDatapath(live(NODE_LINKS.slice(4, 5), []));
  assert.equal(unknown.problems[1]?.message, `cilium_host: no to-host program at ingress; ${HOST}`);
});

test('live: netkit endpoints (from-container on the peer hook) are complete', () => {
  const r = judgeDatapath(
    live(
      [link('cilium_net', 4, 'veth'), link('cilium_host', 5, 'veth'), link('lxc0a1b2c3d4e5f', 9, 'netkit')],
      [
        at('cilium_net', 4, 'tcx', 'ingress', 'cil_to_host', 41),
        at('cilium_host', 5, 'tcx', 'ingress', 'cil_to_host', 42),
        at('cilium_host', 5, 'tcx', 'egress', 'cil_from_host', 43),
        at('lxc0a1b2c3d4e5f', 9, 'netkit', 'peer', 'cil_from_container', 44),
        at('lxc0a1b2c3d4e5f', 9, 'netkit', 'primary', 'cil_to_container', 45),
      ],
    ),
  );
  assert.deepEqual(r.problems, []);
  assert.equal(r.era, 'tcx');
});

test('bpftool without a device name: the name comes from the link list', () => {
  const r = judgeDatapath(live(NODE_LINKS.slice(3, 5), [at('', 4, 'clsact', 'ingress', 'bpf_host_cilium_net.o:[to-host]', 1)]));
  assert.equal(r.interfaces[0]?.attachments[0]?.interface, 'cilium_net');
  assert.equal(r.problems.length, 2, 'cilium_host lacks both programs');
});

test('tcxBlindSpot: tc and old bpftool cannot see tcx on kernels that have it', () => {
  const nothing = live(NODE_LINKS, []);
  const seen = saved('kernel-iproute2-complete-bpftool.json');
  assert.deepEqual(tcxBlindSpot(nothing, { tool: 'tc', kernelRelease: '5.15.0-91-generic' }), {});
  assert.deepEqual(tcxBlindSpot(nothing, { tool: 'bpftool', bpftoolVersion: '7.3.0', kernelRelease: '6.8.0-31-generic' }), {});
  assert.deepEqual(tcxBlindSpot(nothing, { tool: 'bpftool', bpftoolVersion: '7.1.0', kernelRelease: '6.8.0-31-generic' }, '1.15.19'), {});
  assert.deepEqual(tcxBlindSpot(nothing, { tool: 'tc', kernelRelease: '6.6.1' }), {
    fatal:
      'tc filter show cannot list tcx attachments, and on this kernel (6.6.1) Cilium 1.16 and newer attaches its programs that way, so nothing can be judged: install bpftool 7.3 or newer (apt-get install bpftool from a current release; on Ubuntu apt-get install linux-tools-$(uname -r)) and run again',
  });
  assert.deepEqual(tcxBlindSpot(seen, { tool: 'bpftool', bpftoolVersion: '7.1.0', kernelRelease: '6.18.44-fc' }), {
    note: 'bpftool 7.1.0 cannot list tcx attachments (Cilium 1.16 and newer on kernel 6.6+): install bpftool 7.3 or newer to see them',
  });
  assert.deepEqual(tcxBlindSpot(seen, { tool: 'bpftool', bpftoolVersion: '5.15.0', kernelRelease: '6.6.0' }, '1.16.3'), {
    note: 'bpftool 5.15.0 cannot list tcx attachments (Cilium 1.16 and newer on kernel 6.6+): install bpftool 7.3 or newer to see them',
  });
});
