import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plan } from '../../src/planner.js';
import { defaultGlobals, parseAddonSpecs } from '../../src/grammar.js';
import { planFanOuts, NodeChecks } from '../../src/cluster/node-checks.js';
import { nodeSpec, withFanOut } from '../../src/cluster/fan-out.js';
import type { Step } from '../../src/engine/step.js';
import type { NodeCheckReport } from '../../src/cluster/node-report.js';
import { catalogue } from '../support/catalogue.js';

function fanOuts(line: string) {
  const c = catalogue();
  const p = plan({ command: 'enable', specs: parseAddonSpecs('enable', line.split(' '), defaultGlobals(), c), catalogue: c, installed: new Map(), layout: '1.20' });
  return { plan: p, fan: planFanOuts(p.addons, (a) => nodeSpec(a, c.get(a.name)!)) };
}

const nodeSteps = (p: ReturnType<typeof fanOuts>['plan'], addon: string) => p.addons.find((a) => a.name === addon)!.steps;

test('the fan-out steps of a plan: one after each run of an addon\'s node steps, each checking the addon\'s node steps so far', () => {
  const { plan: p, fan } = fanOuts('cilium');
  const cilium = nodeSteps(p, 'cilium');
  const helmAt = cilium.findIndex((s) => s.name === 'helm-release');
  const first = cilium.slice(0, helmAt).map((s) => s.name);
  assert.ok(first.length > 0 && cilium.slice(0, helmAt).every((s) => s.node), 'cilium starts with node steps');
  assert.deepEqual(
    fan.parts.map((x) => [x.key, x.addon]),
    [['helm3#1', 'helm3'], ...fan.parts.slice(1).map((_, i) => [`cilium#${i + 1}`, 'cilium'])],
  );
  assert.deepEqual(fan.parts[0]!.steps, ['binary']);
  assert.deepEqual(fan.parts[1]!.steps, first);
  // Later parts check every node step of the addon up to them.
  const last = fan.parts.at(-1)!;
  assert.deepEqual(last.steps, cilium.filter((s) => s.node).map((s) => s.name));
  assert.deepEqual(last.spec, ['cilium', '--version', p.addons[1]!.version]);
});

test('adjacent fan-out steps: only node steps between them (helm3 then cilium\'s first); a cluster-wide step ends the chain', () => {
  const { fan } = fanOuts('cilium');
  assert.deepEqual(fan.chains.get('helm3#1')!.map((x) => x.key), ['cilium#1']);
  // Between cilium's fan-out steps lie the Helm release and the rollout.
  for (const x of fan.parts.slice(1)) assert.deepEqual(fan.chains.get(x.key), [], x.key);
  // dns ends with its rollout (cluster-wide), so cilium's first fan-out step is not adjacent to dns's.
  const both = fanOuts('dns cilium').fan;
  assert.deepEqual(both.parts.map((x) => x.key).slice(0, 3), ['dns#1', 'helm3#1', 'cilium#1']);
  assert.deepEqual(both.chains.get('dns#1'), []);
  assert.deepEqual(both.chains.get('helm3#1')!.map((x) => x.key), ['cilium#1']);
  // An addon without node steps (hubble) has no fan-out step.
  const hubble = fanOuts('hubble');
  assert.deepEqual(hubble.plan.addons.map((a) => a.name), ['helm3', 'cilium', 'hubble']);
  assert.ok(hubble.fan.parts.length > 0 && hubble.fan.parts.every((x) => x.addon !== 'hubble'));
});

test('asked at the start: the fan-out steps before the plan\'s first cluster-wide step; along with any part, the later parts of its addon', () => {
  const { fan } = fanOuts('cilium');
  assert.deepEqual(fan.leading.map((x) => x.key), ['helm3#1', 'cilium#1']);
  const checks = new NodeChecks(fan);
  const cilium = fan.parts.filter((x) => x.addon === 'cilium').map((x) => x.key);
  assert.ok(cilium.length >= 2);
  assert.deepEqual(checks.expand(fan.leading).map((x) => x.key), ['helm3#1', ...cilium]);
  assert.deepEqual(checks.expand([fan.parts.at(-1)!]).map((x) => x.key), [cilium.at(-1)], 'no earlier part');
  // dns starts with cluster-wide steps (its Corefile, its objects): nothing is asked at the start.
  assert.deepEqual(fanOuts('dns').fan.leading, []);
  assert.deepEqual(fanOuts('dns cilium').fan.leading, []);
});

const report = (nonce: string): NodeCheckReport => ({ nonce, enabled: false, changes: [], args: [], hook: [] });

test('a report counts until that node or the cluster changes', () => {
  const checks = new NodeChecks(fanOuts('cilium').fan);
  checks.keep('cilium#1', 'node-1', report('a'));
  checks.keep('cilium#1', 'node-2', report('b'));
  assert.equal(checks.valid('cilium#1', 'node-1')?.nonce, 'a');
  assert.equal(checks.valid('cilium#2', 'node-1'), undefined, 'another part');
  checks.nodeChanges('node-1');
  assert.equal(checks.valid('cilium#1', 'node-1'), undefined, 'node-1 converged since');
  assert.equal(checks.valid('cilium#1', 'node-2')?.nonce, 'b', 'node-2 did not change');
  checks.keep('cilium#1', 'node-1', report('c'));
  assert.equal(checks.valid('cilium#1', 'node-1')?.nonce, 'c', 'made after the change');
  checks.clusterChanges();
  assert.equal(checks.valid('cilium#1', 'node-1'), undefined);
  assert.equal(checks.valid('cilium#1', 'node-2'), undefined);
});

test('withFanOut: a cluster-wide step\'s apply makes every report out of date, this node\'s node steps do not', async () => {
  const { plan: p, fan } = fanOuts('cilium');
  const cilium = p.addons[1]!;
  const checks = new NodeChecks(fan);
  const applied: string[] = [];
  const built: Step[] = cilium.steps.map((s) => ({
    phase: s.phase,
    kind: s.kind,
    description: s.name,
    check: async () => ({ satisfied: false, summary: '' }),
    prepare: async () => ({}),
    apply: async () => void applied.push(s.name),
    undo: async () => true,
  }));
  const steps = withFanOut(cilium, built, [{ name: 'node-1', host: 'node-1', port: 25000, token: 't' }], checks);
  assert.deepEqual(steps.filter((s) => s.kind === 'node-fanout').map((s) => s.phase), fan.parts.filter((x) => x.addon === 'cilium').map((x) => `enable/cilium/other-nodes-${x.key.split('#')[1]}`));
  const ctx = {} as Parameters<Step['apply']>[0];
  const byName = (n: string) => steps.find((s) => s.phase === `enable/cilium/${n}`)!;
  checks.keep('cilium#1', 'node-1', report('x'));
  await byName('flannel-lock').apply(ctx, {});
  assert.equal(checks.valid('cilium#1', 'node-1')?.nonce, 'x', 'a node step of this node');
  await byName('helm-release').apply(ctx, {});
  assert.deepEqual(applied, ['flannel-lock', 'helm-release'], 'the steps themselves ran');
  assert.equal(checks.valid('cilium#1', 'node-1'), undefined, 'the Helm release changed the cluster');
});
