/**
 * How many times the other nodes are asked (issue 17, item 5: each node-local run is a round of a Node
 * start and a run on every other node), on a 3-node 1.20 sandbox (src/cluster/node-checks.ts):
 * - `enable cilium`: each other node is asked once to check (at the start: helm3's fan-out step and all of
 *   cilium's, one process), then converges twice: helm3's converge is handed to cilium's first fan-out step
 *   (cilium's own run there installs helm3's binary, its dependency), then cilium's second. Four requests
 *   per node (probe included) where each fan-out step used to check and converge on its own;
 * - a dry-run, and a re-run that changes nothing: one check per node, nothing else; `status`: one check
 *   per node for every addon;
 * - a crash of node-0 after helm3's fan-out step handed its converge on: no other node was changed; the
 *   next run's recovery and a disable leave every node byte for byte as before;
 * - a node with args to change through configure in cilium's first fan-out step gets helm3's handed
 *   converge in a configure of its own first (configure does `service` before any hook run).
 * The 1.35 era runs the same code (cluster-fanout and cluster-configure cover its node steps).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeNodeRequest, NODE_ADDON, type NodeRequest } from '../../src/cluster/payload.js';
import { plan } from '../../src/planner.js';
import { defaultGlobals, parseAddonSpecs } from '../../src/grammar.js';
import { catalogue } from '../support/catalogue.js';
import { clusterNodes } from '../support/cluster.js';
import { useSandbox, type TestSandbox } from '../support/sandbox.js';

interface Logged {
  service: { name: string; arguments_update?: Record<string, string>[]; restart?: boolean }[];
  addon: { name: string; enable: boolean }[];
}

describe('the other nodes asked as few times as the guarantees allow, on a 3-node 1.20 cluster', () => {
  const sandbox = useSandbox('1.20', { nodes: 3, name: 'rounds' });
  let sb: TestSandbox;
  const { nodeDir, dataOf, tree, installRepositories } = clusterNodes(() => sb);
  const journalOf = (i: number) => {
    const file = path.join(dataOf(i), 'var', 'mk8s-addons', 'journal.json');
    return (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { addons: {}, operation: null }) as { addons: Record<string, unknown>; operation: { steps: { phase: string; record: Record<string, unknown> }[] } | null };
  };
  /** Each request node-I's agent got, in words: `probe`, `check helm3#1 cilium#8 cilium#12` (addon and step count), `enable cilium after helm3`, `kube-apiserver --allow-privileged=true restart`. */
  const requests = (i: number): string[] => {
    const file = path.join(nodeDir(i), 'configure-requests.jsonl');
    if (!existsSync(file)) return [];
    const words = (r: NodeRequest) => {
      const runs = r.action === 'check' ? [r, ...(r.checks ?? [])].map((c) => `${c.addon}#${c.steps.length}`) : [`${r.addon}#${r.steps.length}`];
      const before = r.before?.length ? ` after ${r.before.map((b) => b.addon).join(', ')}` : '';
      const then = r.action === 'enable' && r.checks?.length ? ` then check ${r.checks.map((c) => `${c.addon}#${c.steps.length}`).join(' ')}` : '';
      return `${r.action} ${runs.join(' ')}${before}${then}`;
    };
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
      const r = JSON.parse(l) as Logged;
      const parts = [
        ...r.service.map((s) => [s.name, ...(s.arguments_update ?? []).flatMap((m) => Object.entries(m).map(([k, v]) => `${k}=${v}`)), ...(s.restart ? ['restart'] : [])].join(' ')),
        ...r.addon.map((a) => (a.name.startsWith(`${NODE_ADDON}:`) ? words(decodeNodeRequest(a.name.slice(NODE_ADDON.length + 1))) : a.name)),
      ];
      return parts.length ? parts.join('; ') : 'probe';
    });
  };
  const trees0: Record<string, string>[] = [];
  let allNodeSteps = 0;
  let firstNodeSteps = 0;

  before(() => {
    sb = sandbox();
    installRepositories(3);
    for (const i of [0, 1, 2]) trees0.push(tree(i));
    // cilium's node steps on this layout (all, and those before its Helm release), as the planner plans them.
    const steps = plan({ command: 'enable', specs: parseAddonSpecs('enable', ['cilium'], defaultGlobals(), catalogue()), catalogue: catalogue(), installed: new Map(), layout: '1.20' }).addons[1]?.steps ?? [];
    allNodeSteps = steps.filter((s) => s.node).length;
    firstNodeSteps = steps.findIndex((s) => !s.node);
    assert.ok(firstNodeSteps > 0 && allNodeSteps > firstNodeSteps);
  });

  test('a dry-run asks each other node once, to check every fan-out step, and changes nothing', () => {
    const seen = [1, 2].map((i) => requests(i).length);
    const r = sb.cli(['enable', 'cilium', '--dry-run', '--output', 'plain']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    for (const phase of ['helm3/other-nodes-1', 'cilium/other-nodes-1', 'cilium/other-nodes-2']) assert.match(r.stdout, new RegExp(`^❯ enable/${phase}: .*\n› would change node-1, node-2$`, 'm'), phase);
    for (const i of [1, 2]) assert.deepEqual(requests(i).slice(seen[i - 1]), ['probe', `check helm3#1 cilium#${firstNodeSteps} cilium#${allNodeSteps}`], `node-${i}`);
    for (const i of [0, 1, 2]) assert.deepEqual(tree(i), trees0[i], `node-${i}`);
  });

  test('enable cilium: each other node checks once (every fan-out step at the start) and converges twice; helm3\'s converge is handed to cilium\'s first fan-out step, whose run installs it', () => {
    const seen = [1, 2].map((i) => requests(i).length);
    const r = sb.cli(['enable', 'cilium', '--output', 'plain']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^enable\/helm3\/other-nodes-1: node-1, node-2: handed on to the next fan-out step \(one node-local run there\)$/m);
    assert.match(r.stdout, /^enable\/cilium\/other-nodes-1: converged node-1, node-2$/m);
    assert.match(r.stdout, /^enable\/cilium\/other-nodes-2: converged node-1, node-2$/m);
    for (const i of [1, 2]) {
      assert.deepEqual(requests(i).slice(seen[i - 1]), ['probe', `check helm3#1 cilium#${firstNodeSteps} cilium#${allNodeSteps}`, `enable cilium#${firstNodeSteps}`, `enable cilium#${allNodeSteps}`], `node-${i}`);
      // Both addons are in the node's own journal (cilium's run did its dependency's node steps first).
      assert.deepEqual(Object.keys(journalOf(i).addons).sort(), ['cilium', 'helm3'], `node-${i}`);
      assert.ok(existsSync(path.join(dataOf(i), 'bin', 'helm3')), `node-${i} has helm3`);
    }
    // node-0's journal: helm3's fan-out step converged node-1 and node-2 (fresh, through the hook run), so
    // its undo (disable, rollback) is the node-local disable of helm3 there.
    const addons = JSON.parse(readFileSync(path.join(dataOf(0), 'var', 'mk8s-addons', 'journal.json'), 'utf8')) as { addons: Record<string, { steps: { phase: string; record: Record<string, unknown> }[] }> };
    const helm3 = addons.addons.helm3?.steps.find((s) => s.phase === 'enable/helm3/other-nodes-1');
    assert.deepEqual({ nodes: helm3?.record.nodes, fresh: helm3?.record.fresh, hooked: helm3?.record.hooked }, { nodes: ['node-1', 'node-2'], fresh: ['node-1', 'node-2'], hooked: ['node-1', 'node-2'] });
  });

  test('a re-run that changes nothing asks each other node once, to check; status asks each once for every addon', () => {
    const seen = [1, 2].map((i) => requests(i).length);
    const r = sb.cli(['enable', 'cilium', '--output', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1) as string), { type: 'result', ok: true, changed: 0, restarts: {} });
    for (const i of [1, 2]) assert.deepEqual(requests(i).slice(seen[i - 1]), ['probe', `check helm3#1 cilium#${firstNodeSteps} cilium#${allNodeSteps}`], `node-${i}`);
    const at = [1, 2].map((i) => requests(i).length);
    const s = sb.cli(['status', '--output', 'json']);
    assert.equal(s.code, 0, s.stderr + s.stdout);
    for (const i of [1, 2]) {
      const asked = requests(i).slice(at[i - 1]).filter((x) => x !== 'probe');
      assert.equal(asked.length, 1, `node-${i}: ${asked.join(' | ')}`);
      assert.match(asked[0] as string, /^check (cilium#\d+ helm3#1|helm3#1 cilium#\d+)$/, `node-${i}`);
    }
    const off = sb.cli(['disable', 'cilium', 'helm3', '--output', 'plain']);
    assert.equal(off.code, 0, off.stderr + off.stdout);
    for (const i of [0, 1, 2]) assert.deepEqual(tree(i), trees0[i], `node-${i}`);
  });

  test('node-0 killed after helm3\'s fan-out step handed its converge on: no other node changed; the next run rolls back and a disable leaves every node byte for byte', () => {
    const killed = sb.cli(['enable', 'cilium', '--output', 'plain'], { MK8S_ADDONS_CRASH_AT: 'enable/cilium/flannel-lock:after' });
    assert.equal(killed.code, null, killed.stderr + killed.stdout);
    const op = journalOf(0).operation;
    assert.ok(op?.steps.some((s) => s.phase === 'enable/helm3/other-nodes-1'), 'helm3\'s fan-out step is journaled');
    for (const i of [1, 2]) {
      assert.deepEqual(tree(i), trees0[i], `node-${i}: nothing ran there but the check`);
      assert.deepEqual(journalOf(i).addons, {}, `node-${i} journal`);
    }
    const r = sb.cli(['disable', 'cilium', 'helm3', '--output', 'plain']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^✔ recover: undo enable\/helm3\/other-nodes-1$/m);
    for (const i of [0, 1, 2]) assert.deepEqual(tree(i), trees0[i], `node-${i}`);
  });

  test('a node whose args change through configure in cilium\'s first fan-out step gets helm3\'s handed converge first, in a configure of its own', () => {
    const apiserver = path.join(dataOf(1), 'args', 'kube-apiserver');
    const text = readFileSync(apiserver, 'utf8');
    writeFileSync(apiserver, text.replace('--allow-privileged=true\n', ''));
    const before = [0, 1, 2].map(tree);
    const seen = [1, 2].map((i) => requests(i).length);
    const r = sb.cli(['enable', 'cilium', '--output', 'plain']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const check = `check helm3#1 cilium#${firstNodeSteps} cilium#${allNodeSteps}`;
    assert.deepEqual(requests(1).slice(seen[0]), ['probe', check, 'enable helm3#1', `kube-apiserver --allow-privileged=true restart; enable cilium#${firstNodeSteps}`, `enable cilium#${allNodeSteps}`]);
    assert.deepEqual(requests(2).slice(seen[1]), ['probe', check, `enable cilium#${firstNodeSteps}`, `enable cilium#${allNodeSteps}`]);
    const off = sb.cli(['disable', 'cilium', 'helm3', '--output', 'plain']);
    assert.equal(off.code, 0, off.stderr + off.stdout);
    for (const i of [0, 1, 2]) assert.deepEqual(tree(i), before[i], `node-${i}`);
  });
});
