import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSteps, type JournalStep } from '../../src/engine/journal.js';

const step = (phase: string, kind: JournalStep['kind'], record: Record<string, unknown>): JournalStep => ({ phase, kind, addon: 'dns', record });

test('mergeSteps: the oldest record of a phase wins; a fan-out step\'s nodes add up', () => {
  const existing = [
    step('enable/dns/kubelet-cluster-dns', 'args-flag', { previous: null }),
    step('enable/dns/other-nodes-1', 'node-fanout', { addon: 'dns', spec: ['dns'], nodes: ['node-2'], fresh: ['node-2'] }),
  ];
  const added = [
    step('enable/dns/kubelet-cluster-dns', 'args-flag', { previous: '--cluster-dns=10.0.0.1' }),
    step('enable/dns/other-nodes-1', 'node-fanout', { addon: 'dns', spec: ['dns'], nodes: ['node-1', 'node-2'], fresh: ['node-1'] }),
    step('enable/dns/other-nodes-2', 'node-fanout', { addon: 'dns', spec: ['dns'], nodes: ['node-3'], fresh: ['node-3'] }),
  ];
  assert.deepEqual(mergeSteps(existing, added), [
    step('enable/dns/kubelet-cluster-dns', 'args-flag', { previous: null }),
    step('enable/dns/other-nodes-1', 'node-fanout', { addon: 'dns', spec: ['dns'], nodes: ['node-2', 'node-1'], fresh: ['node-2', 'node-1'] }),
    step('enable/dns/other-nodes-2', 'node-fanout', { addon: 'dns', spec: ['dns'], nodes: ['node-3'], fresh: ['node-3'] }),
  ]);
});

test('mergeSteps: a fan-out step\'s configure args add up per node, the oldest previous value of a flag winning; hooked nodes add up', () => {
  const c = (flag: string, from: string | null, to: string | null) => ({ service: 'kubelet', flag, from, to, daemon: 'kubelet' });
  const existing = [step('enable/dns/other-nodes-1', 'node-fanout', { addon: 'dns', spec: ['dns'], nodes: ['node-1', 'node-2'], fresh: ['node-1', 'node-2'], hooked: [], args: { 'node-1': [c('--cluster-dns', null, '10.152.183.10')], 'node-2': [c('--cluster-dns', null, '10.152.183.10')] } })];
  // node-2 repaired after a hand edit (previous value: the hand edit); node-3 converged later, through its hook.
  const added = [step('enable/dns/other-nodes-1', 'node-fanout', { addon: 'dns', spec: ['dns'], nodes: ['node-2', 'node-3'], fresh: ['node-3'], hooked: ['node-3'], args: { 'node-2': [c('--cluster-dns', '10.0.0.99', '10.152.183.10'), c('--cluster-domain', null, 'cluster.local')] } })];
  assert.deepEqual(mergeSteps(existing, added), [
    step('enable/dns/other-nodes-1', 'node-fanout', {
      addon: 'dns',
      spec: ['dns'],
      nodes: ['node-1', 'node-2', 'node-3'],
      fresh: ['node-1', 'node-2', 'node-3'],
      hooked: ['node-3'],
      args: { 'node-1': [c('--cluster-dns', null, '10.152.183.10')], 'node-2': [c('--cluster-dns', null, '10.152.183.10'), c('--cluster-domain', null, 'cluster.local')] },
    }),
  ]);
});
