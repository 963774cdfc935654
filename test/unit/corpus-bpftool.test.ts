/**
 * Real `bpftool net` / `tc filter show` outputs posted from Cilium nodes (../shared/corpora/bpftool-real,
 * 14 listings of three eras), each judged as `datapath --from FILE` judges it, against what the source
 * thread shows about the node (INDEX.md there): healthy, or which program is missing or duplicated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { corpusDir, corpusText } from '../support/corpora.js';
import { parseSavedOutput } from '../../src/datapath/saved.js';
import { judgeDatapath, type JudgeOptions } from '../../src/datapath/judge.js';
import type { DatapathReport } from '../../src/datapath/model.js';

const judge = (file: string, opts: JudgeOptions = {}, edit: (text: string) => string = (t) => t): DatapathReport =>
  judgeDatapath(parseSavedOutput(edit(corpusText('bpftool-real', file)), file), opts);

const problemsOn = (r: DatapathReport): Array<[string | null, string | null]> => r.problems.map((p) => [p.interface, p.hook]);

interface Expected {
  opts?: JudgeOptions;
  complete: boolean;
  /** The problems, as [interface, hook], in the judge's order. */
  problems: Array<[string | null, string | null]>;
  /** Notes that must be there (a prefix each). */
  notes?: string[];
}

const HEALTHY: Expected = { complete: true, problems: [] };

const EXPECTED: Record<string, Expected> = {
  '01-pr14895-bpftool-net-show.txt': HEALTHY,
  '02-issue17540-bpftool-net-xdp.txt': { ...HEALTHY, opts: { ciliumVersion: '1.10.4' } },
  '03-issue17540-bpftool-net-after.txt': { ...HEALTHY, opts: { ciliumVersion: '1.10.4' } },
  // Only lxc5869b5857a3d was queried: nothing is said about cilium_host and cilium_net.
  '04-issue17468-tc-lxc.txt': {
    ...HEALTHY,
    notes: ['this transcript queried only lxc5869b5857a3d (ingress, egress): nothing is judged about the interfaces and hooks it did not query (cilium_host and cilium_net among them)'],
  },
  // Cilium 1.8 attaches to-netdev only with NodePort, the host firewall or BPF masquerading; egress was not queried anyway.
  '05-pr11572-tc-enp0s8.txt': {
    ...HEALTHY,
    notes: ['this transcript queried only enp0s8 (ingress): nothing is judged about the interfaces and hooks it did not query (cilium_host and cilium_net among them)'],
  },
  // A security agent's filter sits on the endpoint's ingress; to-container at egress is optional.
  '06-issue21345-tc-lxc-missing-egress.txt': { complete: false, problems: [['lxcb187183beddd', 'ingress']] },
  // The poster elided lines with [...]: lan is fine, and the listing is not taken as complete.
  '07-issue41393-tcx-lan-elided.txt': {
    complete: false,
    problems: [
      ['cilium_host', null],
      ['cilium_net', null],
    ],
    notes: ['skipped 1 line that is not a bpftool net list entry, the first: "[...]"'],
  },
  // grep'd entry lines with the poster's arrows: the stale duplicates are found.
  '08-issue44194-tcx-duplicates.txt': {
    complete: false,
    problems: [
      ['cilium_host', 'ingress'],
      ['cilium_vxlan', 'ingress'],
      ['cilium_vxlan', 'egress'],
    ],
    notes: ['these are bpftool entry lines without the section headers'],
  },
  // `bpftool -j net show dev eth5`: JSON carries no command, so the listing reads as the whole node's.
  '09-issue47847-json-tcx-duplicates.json': {
    complete: false,
    problems: [
      ['cilium_host', null],
      ['cilium_net', null],
      ['eth5', 'ingress'],
      ['eth5', 'egress'],
    ],
  },
  '10-notes-ens18-cilium-ebpf.txt': HEALTHY,
  // eth0 carries from-netdev only: Cilium's normal attachment when no feature needs its devices.
  '11-notes-tshoot-eth0-ingress-only.txt': HEALTHY,
  '12-notes-study-tcx-two-nics.txt': HEALTHY,
  '13-notes-kodekloud-tcx.txt': HEALTHY,
  '14-notes-minikube-1.12.3-tc-transcript.txt': { ...HEALTHY, opts: { ciliumVersion: '1.12.3' } },
};

test('corpus bpftool-real: every listing has an expectation', () => {
  const files = readdirSync(corpusDir('bpftool-real')).filter((f) => f !== 'INDEX.md').sort();
  assert.deepEqual(files, Object.keys(EXPECTED).sort());
  for (const file of files) assert.ok(corpusText('bpftool-real', 'INDEX.md').includes(`| ${file} |`), `${file} is in INDEX.md`);
});

for (const [file, expected] of Object.entries(EXPECTED)) {
  test(`corpus bpftool-real: ${file}`, () => {
    const r = judge(file, expected.opts);
    assert.deepEqual(problemsOn(r), expected.problems, r.problems.map((p) => p.message).join('\n'));
    assert.equal(r.complete, expected.complete);
    for (const note of expected.notes ?? []) assert.ok(r.notes.some((n) => n.startsWith(note)), `note "${note}" in ${JSON.stringify(r.notes)}`);
  });
}

test('corpus bpftool-real: the duplicates found in grep\'d lines, in words', () => {
  assert.deepEqual(
    judge('08-issue44194-tcx-duplicates.txt').problems.map((p) => p.message),
    [
      'cilium_host: to-host is attached 2 times at ingress (program ids 318, 95345); only the first decides and the others are stale copies: restart the cilium agent',
      'cilium_vxlan: from-overlay is attached 2 times at ingress (program ids 309, 95336); only the first decides and the others are stale copies: restart the cilium agent',
      'cilium_vxlan: to-overlay is attached 2 times at egress (program ids 306, 95333); only the first decides and the others are stale copies: restart the cilium agent',
    ],
  );
});

test('corpus bpftool-real: an endpoint named as ip link prints it (lxc81bb9e5d5ed7@if9) is judged as an endpoint', () => {
  const r = judge('14-notes-minikube-1.12.3-tc-transcript.txt', { ciliumVersion: '1.12.3' });
  assert.equal(r.interfaces.find((i) => i.name === 'lxc81bb9e5d5ed7')?.type, 'endpoint');
  // Its from-container program gone: the hook was queried, so the loss is reported.
  const broken = judge('14-notes-minikube-1.12.3-tc-transcript.txt', { ciliumVersion: '1.12.3' }, (t) => t.replace(/^.*bpf_lxc\.o:\[from-container\].*\n/m, ''));
  assert.deepEqual(problemsOn(broken), [['lxc81bb9e5d5ed7', 'ingress']]);
  assert.match(broken.problems[0]?.message ?? '', /^lxc81bb9e5d5ed7: no from-container program at ingress /);
});

test('corpus bpftool-real: to-netdev at egress is required when the Cilium configuration needs the devices', () => {
  const file = '11-notes-tshoot-eth0-ingress-only.txt';
  for (const config of <Array<Record<string, string>>>[{ 'kube-proxy-replacement': 'true' }, { 'enable-node-port': 'true' }, { 'enable-host-firewall': 'true' }, { 'enable-bpf-masquerade': 'true' }]) {
    const r = judge(file, { ciliumConfig: config });
    assert.deepEqual(problemsOn(r), [['eth0', 'egress']], JSON.stringify(config));
    assert.match(r.problems[0]?.message ?? '', /^eth0: no to-netdev program at egress \(expected cil_to_netdev-eth0 on clsact\/egress/);
  }
  for (const config of <Array<Record<string, string>>>[{}, { 'kube-proxy-replacement': 'false', 'enable-bpf-masquerade': 'false' }]) {
    assert.deepEqual(problemsOn(judge(file, { ciliumConfig: config })), [], JSON.stringify(config));
  }
});

test('corpus bpftool-real: a transcript judges the hooks it queried, an empty one included', () => {
  // lxcb187183beddd's egress was queried and is empty: to-container is optional, so no problem. A queried,
  // empty ingress is a missing from-container.
  const r = judge('06-issue21345-tc-lxc-missing-egress.txt', {}, (t) => t.replace(/^filter .*\n/gm, ''));
  assert.deepEqual(problemsOn(r), [['lxcb187183beddd', 'ingress']]);
  assert.match(r.problems[0]?.message ?? '', /^lxcb187183beddd: no from-container program at ingress/);
});
