/**
 * MicroK8s's cluster agents' args edits and restarts (src/cluster/configure-args.ts), table-driven from
 * their source: 1.20's Python agent (`update_service_argument`, `get_service_name`) and the Go agent of
 * 1.21+ (`UpdateServiceArguments`, `ParseArgumentLine`, `snapctlServiceName`); and when `configure` can
 * make an args-flag step's edit, and its undo, byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { agentArgsEdit, agentDaemon, exactThroughConfigure, serviceEntries, undoEntries, type AgentKind } from '../../src/cluster/configure-args.js';

const template = (era: string, service: string) => readFileSync(new URL(`../../../templates/sandbox/${era}/args/${service}`, import.meta.url), 'utf8');

test('agentArgsEdit: each agent\'s rewrite of an args file', () => {
  const cases: [AgentKind, string, Record<string, string>[], string[], string][] = [
    // Python: lines starting with the key replaced (prefix match), the others rstripped, a new key appended.
    ['python', '--a=1\n--ab=2  \n# c\n\n--d=4', [{ '--a': '9' }], [], '--a=9\n--a=9\n# c\n\n--d=4\n'],
    ['python', '--a=1\n--b 2\n', [{ '--c': '3' }], [], '--a=1\n--b 2\n--c=3\n'],
    ['python', '--a=1\n--b 2\n', [], ['--b'], '--a=1\n'],
    ['python', '--a=1\n', [], ['--z'], '--a=1\n'],
    // Go: every line trimmed, empty lines dropped, the key before "=" (else before " "), new keys appended.
    ['go', '  --a=1\n\n--b 2\n# c d\n', [{ '--b': '3' }], [], '--a=1\n--b=3\n# c d\n'],
    ['go', '--a=1\n--a=2\n', [{ '--a': '5' }], [], '--a=5\n--a=5\n'],
    ['go', '--a=1\n--b=2\n', [{ '--c': 'x=y' }], ['--a'], '--b=2\n--c=x=y\n'],
    // Nothing to update or remove: no write at all (blank lines stay).
    ['go', '--a=1\n\n', [], [], '--a=1\n\n'],
    ['go', '', [{ '--a': '1' }], [], '--a=1\n'],
  ];
  for (const [kind, text, update, remove, want] of cases) assert.equal(agentArgsEdit(kind, text, update, remove), want, `${kind} ${JSON.stringify(text)}`);
});

test('agentDaemon: the daemon each agent restarts', () => {
  const cases: [AgentKind, string, boolean, string][] = [
    ['python', 'kube-apiserver', false, 'apiserver'],
    ['python', 'kubelet', false, 'kubelet'],
    ['python', 'kube-controller-manager', false, 'controller-manager'],
    ['python', 'containerd', false, 'containerd'],
    ['go', 'kube-apiserver', true, 'kubelite'],
    ['go', 'kubelet', true, 'kubelite'],
    ['go', 'apiserver', true, 'kubelite'],
    ['go', 'kube-proxy', true, 'kubelite'],
    ['go', 'containerd', true, 'containerd'],
    ['go', 'microk8s.daemon-containerd', true, 'containerd'],
    ['go', 'kube-apiserver', false, 'apiserver'],
  ];
  for (const [kind, service, lite, want] of cases) assert.equal(agentDaemon(kind, service, lite), want, `${kind} ${service} ${lite}`);
});

test('serviceEntries: one flag per entry in order, each daemon restarted once, on its last entry; undoEntries reverse them', () => {
  const edits = [
    { service: 'kube-apiserver', flag: '--allow-privileged', to: 'true', daemon: 'kubelite' },
    { service: 'kubelet', flag: '--cluster-dns', to: null, daemon: 'kubelite' },
    { service: 'containerd', flag: '--x', to: '1', daemon: 'containerd' },
  ];
  assert.deepEqual(serviceEntries(edits, true), [
    { name: 'kube-apiserver', arguments_update: [{ '--allow-privileged': 'true' }] },
    { name: 'kubelet', arguments_remove: ['--cluster-dns'], restart: true },
    { name: 'containerd', arguments_update: [{ '--x': '1' }], restart: true },
  ]);
  assert.deepEqual(serviceEntries(edits, false).map((e) => e.restart), [undefined, undefined, undefined]);
  assert.deepEqual(undoEntries([
    { service: 'kubelet', flag: '--cluster-domain', from: null, daemon: 'kubelet' },
    { service: 'kubelet', flag: '--cluster-dns', from: '10.0.0.99', daemon: 'kubelet' },
  ]), [
    { name: 'kubelet', arguments_update: [{ '--cluster-dns': '10.0.0.99' }] },
    { name: 'kubelet', arguments_remove: ['--cluster-domain'], restart: true },
  ]);
});

test('exactThroughConfigure: configure only where the agent writes what the step writes and the undo gives the file back', () => {
  const dns = [
    { phase: 'enable/dns/kubelet-cluster-domain', service: 'kubelet', flag: '--cluster-domain', to: 'cluster.local' },
    { phase: 'enable/dns/kubelet-cluster-dns', service: 'kubelet', flag: '--cluster-dns', to: '10.152.183.10' },
  ];
  // MicroK8s's kubelet args (both eras): one `--flag=value` per line, no blank line.
  for (const [kind, era, daemon] of [['python', '1.20', 'kubelet'], ['go', '1.35', 'kubelite']] as const) {
    assert.deepEqual(exactThroughConfigure(kind, template(era, 'kubelet'), dns, daemon), [
      { phase: 'enable/dns/kubelet-cluster-domain', service: 'kubelet', flag: '--cluster-domain', from: null, to: 'cluster.local', daemon },
      { phase: 'enable/dns/kubelet-cluster-dns', service: 'kubelet', flag: '--cluster-dns', from: null, to: '10.152.183.10', daemon },
    ], era);
    // A hand-edited value is put back as it was.
    assert.deepEqual(exactThroughConfigure(kind, `${template(era, 'kubelet')}--cluster-dns=10.0.0.99\n`, [dns[1] as (typeof dns)[1]], daemon)?.map((c) => c.from), ['10.0.0.99']);
  }
  // kube-apiserver's args have a blank line: the Go agent would drop it (not exact); 1.20's keeps it.
  const priv = [{ phase: 'enable/cilium/allow-privileged', service: 'kube-apiserver', flag: '--allow-privileged', to: 'false' }];
  assert.equal(exactThroughConfigure('go', template('1.35', 'kube-apiserver'), priv, 'kubelite'), undefined);
  assert.deepEqual(exactThroughConfigure('python', template('1.20', 'kube-apiserver'), priv, 'apiserver')?.map((c) => [c.from, c.to]), [['true', 'false']]);
  const not = (kind: AgentKind, text: string | undefined, why: string) => assert.equal(exactThroughConfigure(kind, text, [dns[1] as (typeof dns)[1]], 'kubelet'), undefined, why);
  not('go', '--a=1\n--cluster-dns 10.0.0.1\n', 'a "--flag value" line comes back as "--flag=value"');
  not('go', '--cluster-dns=1\n--a=1\n--cluster-dns=2\n', 'a repeated flag: the agent rewrites every line, the step the last');
  not('python', '--cluster-dns-extra=1\n', '1.20\'s prefix match would rewrite another flag');
  not('python', '--a=1   \n', '1.20 strips trailing spaces of every line');
  not('go', undefined, 'a missing args file');
});
