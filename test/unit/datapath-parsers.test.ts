import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../support/cli.js';
import { UsageError, StepError } from '../../src/errors.js';
import type { AttachKind, Attachment } from '../../src/datapath/model.js';
import {
  erasForVersion,
  expandKernelName,
  expectedAttachment,
  interfaceTypeByName,
  kindAndHook,
  parseCiliumVersion,
  recogniseProgram,
  type Naming,
} from '../../src/datapath/naming.js';
import { looksLikeBpftoolEntries, looksLikeBpftoolText, parseBpftoolEntries, parseBpftoolJson, parseBpftoolText } from '../../src/datapath/bpftool.js';
import { parseTcFilterShow, parseTcTranscript, readTcTranscript } from '../../src/datapath/tc.js';
import { parseIpLinkJson, isPhysical } from '../../src/datapath/links.js';
import { parseSavedOutput, SAVED_NOTE } from '../../src/datapath/saved.js';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'datapath');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');

const none: Naming = { object: null, section: null, function: null, role: null, era: null };

test('recogniseProgram tells the role and naming era of each name', () => {
  const table: [string | null, AttachKind, string | null, Naming][] = [
    ['bpf_lxc.o:[from-container]', 'clsact', null, { ...none, object: 'bpf_lxc.o', section: 'from-container', role: 'from-container', era: 'iproute2' }],
    ['bpf_netdev_eno1np0.o:[to-netdev]', 'clsact', null, { ...none, object: 'bpf_netdev_eno1np0.o', section: 'to-netdev', role: 'to-netdev', era: 'iproute2' }],
    ['bpf_host_cilium_net.o:[to-host]', 'clsact', null, { ...none, object: 'bpf_host_cilium_net.o', section: 'to-host', role: 'to-host', era: 'iproute2' }],
    ['bpf_xdp.o:[from-netdev]', 'xdp', null, { ...none, object: 'bpf_xdp.o', section: 'from-netdev', role: 'xdp-entry', era: 'iproute2' }],
    ['sniffer.o:[classifier]', 'clsact', null, { ...none, object: 'sniffer.o', section: 'classifier' }],
    ['cil_from_container-lxc0a1b2c3d4e5f', 'clsact', null, { ...none, function: 'cil_from_container', role: 'from-container', era: 'cilium-ebpf' }],
    ['cil_from_netdev-eth0.100', 'clsact', null, { ...none, function: 'cil_from_netdev', role: 'from-netdev', era: 'cilium-ebpf' }],
    ['cil_to_host', 'clsact', null, { ...none, function: 'cil_to_host', role: 'to-host', era: 'cilium-ebpf' }],
    ['cil_from_netdev', 'tcx', null, { ...none, function: 'cil_from_netdev', role: 'from-netdev', era: 'tcx' }],
    ['cil_from_container', 'netkit', null, { ...none, function: 'cil_from_container', role: 'from-container', era: 'tcx' }],
    ['tc_prog', 'tcx', null, none],
    ['fbflow_icmp', 'clsact', null, none],
    [null, 'clsact', 'cil_from_contai', { ...none, function: 'cil_from_container', role: 'from-container', era: 'cilium-ebpf' }],
    [null, 'xdp', 'cil_xdp_entry', { ...none, function: 'cil_xdp_entry', role: 'xdp-entry' }],
    [null, 'xdp', 'pass_all', none],
    [null, 'clsact', null, none],
  ];
  for (const [name, kind, kernelName, want] of table) {
    assert.deepEqual(recogniseProgram(name, kind, kernelName), want, `${name ?? kernelName} on ${kind}`);
  }
});

test('expandKernelName completes the kernel names tc cuts to 15 characters', () => {
  assert.equal(expandKernelName('cil_from_contai'), 'cil_from_container');
  assert.equal(expandKernelName('cil_to_containe'), 'cil_to_container');
  assert.equal(expandKernelName('cil_from_overla'), 'cil_from_overlay');
  assert.equal(expandKernelName('cil_from_netdev'), 'cil_from_netdev');
  assert.equal(expandKernelName('cil_to_host'), 'cil_to_host');
  assert.equal(expandKernelName('cil_fr'), undefined, 'too short to be a cut name');
  assert.equal(expandKernelName('count_packets'), undefined);
});

test('interface names: endpoints, host pair, tunnel devices; LXC bridge is not an endpoint', () => {
  assert.equal(interfaceTypeByName('lxc0a1b2c3d4e5f'), 'endpoint');
  assert.equal(interfaceTypeByName('lxc_health'), 'endpoint');
  assert.equal(interfaceTypeByName('lxcbr0'), undefined);
  assert.equal(interfaceTypeByName('cilium_host'), 'cilium_host');
  assert.equal(interfaceTypeByName('cilium_net'), 'cilium_net');
  assert.equal(interfaceTypeByName('cilium_vxlan'), 'overlay');
  assert.equal(interfaceTypeByName('cilium_geneve'), 'overlay');
  assert.equal(interfaceTypeByName('eth0'), undefined);
});

test('kindAndHook splits bpftool kinds', () => {
  assert.deepEqual(kindAndHook('clsact/ingress'), { kind: 'clsact', hook: 'ingress' });
  assert.deepEqual(kindAndHook('tcx/egress'), { kind: 'tcx', hook: 'egress' });
  assert.deepEqual(kindAndHook('netkit/peer'), { kind: 'netkit', hook: 'peer' });
  assert.deepEqual(kindAndHook('meta/primary'), { kind: 'netkit', hook: 'primary' });
  assert.deepEqual(kindAndHook('htb'), { kind: 'qdisc', hook: 'htb' });
});

test('Cilium versions and the eras they show', () => {
  const table: [string, string[]][] = [
    ['1.8', ['iproute2']],
    ['v1.9.18', ['iproute2']],
    ['1.11.20', ['iproute2']],
    ['1.12.19', ['iproute2', 'cilium-ebpf']],
    ['1.13.18', ['iproute2', 'cilium-ebpf']],
    ['1.14.19', ['cilium-ebpf']],
    ['1.15.19', ['cilium-ebpf']],
    ['1.16.0-rc.1', ['cilium-ebpf', 'tcx']],
    ['1.20.0', ['cilium-ebpf', 'tcx']],
  ];
  for (const [text, eras] of table) assert.deepEqual(erasForVersion(parseCiliumVersion(text)), eras, text);
  assert.deepEqual(parseCiliumVersion('v1.16.3'), { major: 1, minor: 16, text: '1.16.3' });
  assert.throws(() => parseCiliumVersion('latest'), new UsageError('invalid --cilium-version "latest": give a Cilium version such as 1.8 or 1.16.3'));
  assert.throws(() => parseCiliumVersion('1'), new UsageError('invalid --cilium-version "1": give a Cilium version such as 1.8 or 1.16.3'));
});

test('expectedAttachment names what each era attaches', () => {
  assert.equal(expectedAttachment('iproute2', 'from-container', 'lxc_health', 'ingress'), 'bpf_lxc.o:[from-container] on clsact/ingress');
  assert.equal(expectedAttachment('iproute2', 'to-host', 'cilium_net', 'ingress'), 'bpf_host_cilium_net.o:[to-host] on clsact/ingress');
  assert.equal(expectedAttachment('iproute2', 'to-netdev', 'eno1np0', 'egress'), 'bpf_netdev_eno1np0.o:[to-netdev] on clsact/egress');
  assert.equal(expectedAttachment('cilium-ebpf', 'from-overlay', 'cilium_vxlan', 'ingress'), 'cil_from_overlay-cilium_vxlan on clsact/ingress');
  assert.equal(expectedAttachment('tcx', 'from-host', 'cilium_host', 'egress'), 'cil_from_host on tcx/egress');
});

const fieldNoteRow = (iface: string, ifindex: number | null, hook: string, object: string, section: string, id: number): Attachment => ({
  interface: iface,
  ifindex,
  kind: 'clsact',
  hook,
  name: `${object}:[${section}]`,
  object,
  section,
  function: null,
  role: section,
  era: 'iproute2',
  programId: id,
  linkId: null,
});

test('bpftool text: the field notes paste (indented, with its command line)', () => {
  const parsed = parseBpftoolText(fixture('field-notes-1.8-bpftool.txt'));
  assert.deepEqual(parsed.unparsed, []);
  assert.equal(parsed.attachments.length, 13);
  assert.deepEqual(parsed.attachments.slice(0, 3), [
    fieldNoteRow('eno1np0', 3, 'ingress', 'bpf_netdev_eno1np0.o', 'from-netdev', 12098),
    fieldNoteRow('eno1np0', 3, 'egress', 'bpf_netdev_eno1np0.o', 'to-netdev', 12104),
    fieldNoteRow('cilium_net', 913, 'ingress', 'bpf_host_cilium_net.o', 'to-host', 12092),
  ]);
  assert.deepEqual(parsed.attachments.at(-1), fieldNoteRow('lxca5c9a6d90e69', 964, 'ingress', 'bpf_lxc.o', 'from-container', 12122));
});

test('bpftool text: tcx entries with prog_id, link_id and trailing blanks', () => {
  const parsed = parseBpftoolText(fixture('tcx-1.16-bpftool.txt'));
  assert.deepEqual(parsed.unparsed, []);
  assert.equal(parsed.attachments.length, 10);
  assert.deepEqual(parsed.attachments[0], {
    interface: 'eth0',
    ifindex: 2,
    kind: 'tcx',
    hook: 'ingress',
    name: 'cil_from_netdev',
    object: null,
    section: null,
    function: 'cil_from_netdev',
    role: 'from-netdev',
    era: 'tcx',
    programId: 2408,
    linkId: 59,
  });
});

test('bpftool text: xdp modes (also multi), entries without a name, lines that are not entries', () => {
  const text = [
    'xdp:',
    'eth0(2) driver id 198',
    'eth1(3) generic id 5 driver id 6',
    'eth2(4) drivr id 7',
    '',
    'tc:',
    'eth0(2) clsact/ingress id 130246 act []',
    'eth0(2) clsact/egress fbflow_egress id 130245',
    'something odd',
    '',
    'flow_dissector:',
    'id 77',
    '',
    'netfilter:',
    'ip prerouting prio -128 prog_id 2',
  ].join('\n');
  const parsed = parseBpftoolText(text);
  assert.deepEqual(
    parsed.attachments.map((a) => [a.interface, a.kind, a.hook, a.name, a.programId]),
    [
      ['eth0', 'xdp', 'driver', null, 198],
      ['eth1', 'xdp', 'generic', null, 5],
      ['eth1', 'xdp', 'driver', null, 6],
      ['eth0', 'clsact', 'ingress', null, 130246],
      ['eth0', 'clsact', 'egress', 'fbflow_egress', 130245],
    ],
  );
  assert.deepEqual(parsed.unparsed, ['eth2(4) drivr id 7', 'something odd']);
});

test('bpftool JSON and text of the same real namespace parse to the same attachments', () => {
  for (const variant of ['complete', 'broken']) {
    const json = parseBpftoolJson(fixture(`kernel-iproute2-${variant}-bpftool.json`), 'saved.json');
    const text = parseBpftoolText(fixture(`kernel-iproute2-${variant}-bpftool.txt`));
    assert.deepEqual(text.unparsed, []);
    assert.deepEqual(json, text.attachments, variant);
  }
  assert.equal(parseBpftoolJson(fixture('kernel-iproute2-complete-bpftool.json'), 'saved.json').length, 8);
});

test('bpftool JSON: tcx links, cilium/ebpf names, xdp multi mode', () => {
  const tcx = parseBpftoolJson(fixture('tcx-1.16-bpftool.json'), 'x');
  assert.deepEqual(tcx, parseBpftoolText(fixture('tcx-1.16-bpftool.txt')).attachments);
  const modern = parseBpftoolJson(fixture('cilium-ebpf-1.14-bpftool.json'), 'x');
  assert.deepEqual(modern, parseBpftoolText(fixture('cilium-ebpf-1.14-bpftool.txt')).attachments);
  const multi = parseBpftoolJson('[{"xdp":[{"devname":"eth0","ifindex":2,"multi_attachments":[{"mode":"generic","id":5},{"mode":"driver","id":6}]}],"tc":[]}]', 'x');
  assert.deepEqual(
    multi.map((a) => [a.interface, a.kind, a.hook, a.programId]),
    [
      ['eth0', 'xdp', 'generic', 5],
      ['eth0', 'xdp', 'driver', 6],
    ],
  );
});

test('bpftool JSON: errors say what to give instead', () => {
  let jsonMessage = '';
  try {
    JSON.parse('[{"tc": [');
  } catch (err) {
    jsonMessage = (err as Error).message;
  }
  assert.throws(
    () => parseBpftoolJson('[{"tc": [', 'saved.json'),
    new UsageError(`saved.json is not valid JSON (${jsonMessage}); give the unchanged output of bpftool -j net list`),
  );
  assert.throws(
    () => parseBpftoolJson('{"error":"can\'t query prog: Operation not permitted"}', 'saved.json'),
    new UsageError('saved.json holds a bpftool error, not a listing: "can\'t query prog: Operation not permitted"; run bpftool -j net list as root and save its output'),
  );
  assert.throws(
    () => parseBpftoolJson('{"items":[]}', 'saved.json'),
    new UsageError('saved.json is JSON but not bpftool -j net list output (expected [{"xdp":[...],"tc":[...]}]); give the unchanged output of bpftool -j net list'),
  );
  assert.throws(() => parseBpftoolJson('[{"tc":{}}]', 'saved.json'), new UsageError('saved.json: "tc" is not a list of entries; give the unchanged output of bpftool -j net list'));
});

test('tc filter show: the field notes paste, its line wrapped before tag', () => {
  const found = parseTcTranscript(fixture('field-notes-1.8-tc.txt'), 'notes.txt');
  assert.deepEqual(found, [fieldNoteRow('lxcf221c8fd6baa', null, 'ingress', 'bpf_lxc.o', 'from-container', 12110)]);
});

test('tc filter show: the real transcript lists what bpftool lists', () => {
  const fromTc = parseTcTranscript(fixture('kernel-iproute2-complete-tc.txt'), 'tc.txt');
  const fromBpftool = parseBpftoolJson(fixture('kernel-iproute2-complete-bpftool.json'), 'x');
  const key = (a: Attachment) => `${a.interface} ${a.hook} ${a.name} ${a.programId} ${a.role} ${a.era}`;
  assert.deepEqual(fromTc.map(key).sort(), fromBpftool.map(key).sort());
  const modern = parseTcTranscript(fixture('cilium-ebpf-1.14-tc.txt'), 'tc.txt');
  assert.deepEqual(modern.map(key).sort(), parseBpftoolJson(fixture('cilium-ebpf-1.14-bpftool.json'), 'x').map(key).sort());
});

test('tc filter show: old and new iproute2 lines, unnamed filters, flowid, actions', () => {
  const text = [
    'filter protocol all pref 1 bpf',
    'filter protocol all pref 1 bpf handle 0x1 bpf_lxc.o:[from-container] direct-action tag 0123456789abcdef',
    'filter protocol all pref 2 bpf chain 0 handle 0x1 direct-action not_in_hw id 77 name cil_from_netdev tag ab jited',
    'filter parent 1: protocol all pref 3 bpf chain 0 handle 0x1 flowid 1:1 foo.o:[cls] not_in_hw id 5 tag cd jited',
    '\taction order 1: gact action pass',
    '\t random type none pass val 0',
    '\t index 1 ref 1 bind 1',
    'filter protocol ip pref 4 u32 chain 0 fh 800: ht divisor 1',
  ].join('\n');
  assert.deepEqual(
    parseTcFilterShow(text, 'eth0', 'ingress', 2).map((a) => [a.name, a.programId, a.function, a.role, a.era]),
    [
      ['bpf_lxc.o:[from-container]', null, null, 'from-container', 'iproute2'],
      [null, 77, 'cil_from_netdev', 'from-netdev', 'cilium-ebpf'],
      ['foo.o:[cls]', 5, null, null, null],
    ],
  );
  assert.deepEqual(parseTcFilterShow('', 'eth0', 'ingress'), []);
});

test('tc transcript without its command lines is refused', () => {
  assert.throws(
    () => parseTcTranscript('filter protocol all pref 1 bpf chain 0 handle 0x1 bpf_lxc.o:[from-container] direct-action not_in_hw id 1\n', 'paste.txt'),
    new UsageError('paste.txt has tc filter lines without the command that printed them, so the device is unknown; save each as "tc filter show dev IF ingress" followed by its output'),
  );
});

test('ip -d -j link show: interfaces, their kinds and XDP programs (real output)', () => {
  const parsed = parseIpLinkJson(fixture('kernel-ip-link.json'), 'ip -d -j link show');
  assert.deepEqual(parsed.links, [
    { name: 'lo', ifindex: 1, infoKind: null, linkType: 'loopback' },
    { name: 'pod1', ifindex: 2, infoKind: 'veth', linkType: 'ether' },
    { name: 'lxc0a1b2c3d4e5f', ifindex: 3, infoKind: 'veth', linkType: 'ether' },
    { name: 'cilium_net', ifindex: 4, infoKind: 'veth', linkType: 'ether' },
    { name: 'cilium_host', ifindex: 5, infoKind: 'veth', linkType: 'ether' },
    { name: 'cilium_vxlan', ifindex: 6, infoKind: 'vxlan', linkType: 'ether' },
  ]);
  assert.equal(parsed.xdp.length, 1);
  assert.deepEqual(
    [parsed.xdp[0]?.interface, parsed.xdp[0]?.kind, parsed.xdp[0]?.hook, parsed.xdp[0]?.function, parsed.xdp[0]?.era],
    ['pod1', 'xdp', 'generic', null, null],
  );
  assert.equal(parsed.links.filter(isPhysical).length, 0);
  assert.equal(isPhysical({ name: 'eth0', ifindex: 2, infoKind: null, linkType: 'ether' }), true);
  assert.equal(isPhysical({ name: 'bond0', ifindex: 3, infoKind: 'bond', linkType: 'ether' }), true);
  let jsonMessage = '';
  try {
    JSON.parse('1: lo: <LOOPBACK>');
  } catch (err) {
    jsonMessage = (err as Error).message;
  }
  assert.throws(
    () => parseIpLinkJson('1: lo: <LOOPBACK>', 'ip -d -j link show'),
    new StepError(`ip -d -j link show did not print JSON (${jsonMessage}); iproute2 4.14 or newer is needed: apt-get install iproute2`),
  );
});

test('saved output: the format is detected', () => {
  assert.equal(parseSavedOutput(fixture('tcx-1.16-bpftool.json'), 'a').source, 'bpftool-json');
  assert.equal(parseSavedOutput(fixture('field-notes-1.8-bpftool.txt'), 'a').source, 'bpftool-text');
  const tc = parseSavedOutput(fixture('field-notes-1.8-tc.txt'), 'a');
  assert.equal(tc.source, 'tc');
  assert.deepEqual(tc.notes, [SAVED_NOTE, 'tc filter show does not list tcx attachments (Cilium 1.16 and newer on kernel 6.6+): send bpftool net list output for those']);
  assert.equal(tc.links, null);
  const odd = parseSavedOutput('xdp:\n\ntc:\neth0 has something\n', 'odd.txt');
  assert.deepEqual(odd.notes, [SAVED_NOTE, 'skipped 1 line that is not a bpftool net list entry, the first: "eth0 has something"']);
  assert.throws(
    () => parseSavedOutput('hello\n', 'notes.txt'),
    new UsageError('cannot tell what notes.txt holds: give the output of bpftool -j net list, bpftool net list, or tc filter show dev IF ingress with its command line'),
  );
});

test('bpftool entry lines without section headers (a grep of the listing) are read, the rest skipped', () => {
  const text = [
    'bpftool net show | grep lxc',
    '',
    'lxc0a1b(956) clsact/ingress bpf_lxc.o:[from-container] id 12110',
    'cilium_vxlan(10) tcx/ingress cil_from_overlay prog_id 309 link_id 3      <- STALE (low prog_id)',
    'eth0(2) tcx/egress',
  ].join('\n');
  assert.equal(looksLikeBpftoolText(text), false);
  assert.equal(looksLikeBpftoolEntries(text), true);
  const parsed = parseBpftoolEntries(text);
  assert.deepEqual(
    parsed.attachments.map((a) => [a.interface, a.ifindex, a.kind, a.hook, a.role, a.programId, a.linkId]),
    [
      ['lxc0a1b', 956, 'clsact', 'ingress', 'from-container', 12110, null],
      ['cilium_vxlan', 10, 'tcx', 'ingress', 'from-overlay', 309, 3],
    ],
  );
  assert.deepEqual(parsed.unparsed, []);
  assert.deepEqual(parseBpftoolEntries('eth0(2) tcx/egress cil_to_netdev\n').unparsed, ['eth0(2) tcx/egress cil_to_netdev']);
  const obs = parseSavedOutput(text, 'grep.txt');
  assert.deepEqual([obs.source, obs.coverage], ['bpftool-text', { kind: 'lines' }]);
});

test('tc transcript: the hooks queried, empty ones too, with ip link names taken without @ifN', () => {
  const text = [
    '$ tc filter show dev lxc81bb9e5d5ed7@if9 ingress',
    'filter protocol all pref 1 bpf chain 0 handle 0x1 bpf_lxc.o:[from-container] direct-action not_in_hw id 2526',
    '$ tc filter show dev lxc81bb9e5d5ed7@if9 egress',
    '$ tc filter show dev cilium_host egress',
  ].join('\n');
  const { attachments, queried } = readTcTranscript(text, 't.txt');
  assert.deepEqual(attachments.map((a) => [a.interface, a.hook, a.role]), [['lxc81bb9e5d5ed7', 'ingress', 'from-container']]);
  assert.deepEqual(queried, [
    { interface: 'lxc81bb9e5d5ed7', hook: 'ingress' },
    { interface: 'lxc81bb9e5d5ed7', hook: 'egress' },
    { interface: 'cilium_host', hook: 'egress' },
  ]);
  // Only command lines, every output empty: still a transcript, not "cannot tell".
  const empty = parseSavedOutput('# tc filter show dev cilium_host ingress\n# tc filter show dev cilium_host egress\n', 'e.txt');
  assert.deepEqual([empty.source, empty.attachments, empty.coverage?.kind], ['tc', [], 'hooks']);
});
