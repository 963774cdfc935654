/**
 * The cluster paths beyond enable/disable (issue 17), on a 3-node sandbox: `apply -f` converges every
 * node to the file and `--prune` of an addon the file no longer lists undoes it on every node; `reset`
 * returns every node, not only this one, byte for byte (also a file a user edited on another node after
 * mk8s-addons did: that node resets itself from its own snapshot); and crash recovery inside a node's own
 * node-local run (killed mid-way on node-1, through the stand-in agent's test hook DIR/nodes/node-1/
 * test-env.json) and at the `:before` point of a fan-out step. dns: three node steps (kubelet args and
 * its restart), no Helm release.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterNodes, disableRecovering } from '../support/cluster.js';
import { useSandbox, type TestSandbox } from '../support/sandbox.js';

const dnsNodeSteps = ['enable/dns/kubelet-cluster-domain', 'enable/dns/kubelet-cluster-dns', 'enable/dns/kubelet-restart'];

for (const era of ['1.20', '1.35'] as const) {
  describe(`apply -f and reset on a 3-node ${era} cluster`, () => {
    const sandbox = useSandbox(era, { nodes: 3, name: `cluster-life-${era}` });
    const kubelet = era === '1.20' ? 'kubelet' : 'kubelite';
    let sb: TestSandbox;
    let n: ReturnType<typeof clusterNodes>;
    const trees0: Record<string, string>[] = [];
    const files = mkdtempSync(path.join(os.tmpdir(), 'mk8s-cluster-apply-'));
    // On 1.35 every kubelite restart (dns's kubelet args) restarts the sandbox's real control plane, and a
    // run there took from 5 s to past the CLI helper's 240 s under this machine's load: the HA era resets
    // helm3 (its node step, the wrapper binary, restarts nothing); dns and apply -f run on 1.20.
    const addon = era === '1.20' ? 'dns' : 'helm3';

    before(() => {
      sb = sandbox();
      n = clusterNodes(sb);
      n.installRepository(3);
      for (const i of [0, 1, 2]) trees0.push(n.tree(i));
    });

    if (era === '1.20') test('apply -f: a file enabling dns converges every node; the file without it, with --prune, disables it on every node', () => {
      const both = path.join(files, 'both.yaml');
      writeFileSync(both, 'addons:\n  - name: dns\n  - name: helm3\n');
      const r = sb.cli(['apply', '-f', both, '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^enable\/dns\/other-nodes-1: converged node-1, node-2$/m);
      assert.match(r.stdout, /^enable\/helm3\/other-nodes-1: converged node-1, node-2$/m);
      for (const i of [1, 2]) {
        assert.deepEqual(n.journalOf(i).addons.dns?.steps.map((s) => s.phase), dnsNodeSteps, `node-${i}`);
        assert.deepEqual(Object.keys(n.journalOf(i).addons).sort(), ['dns', 'helm3'], `node-${i}`);
        assert.match(readFileSync(path.join(n.dataOf(i), 'args', 'kubelet'), 'utf8'), /^--cluster-dns=10\.152\.183\.10$/m, `node-${i}`);
      }
      assert.deepEqual(sb.cli(['status', '-a', 'dns']), { code: 0, stdout: 'enabled\n', stderr: '' });
      const trees = [0, 1, 2].map(n.tree);
      const again = sb.cli(['apply', '-f', both, '--output', 'plain']);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^apply: the node already matches .*both\.yaml$/m);
      assert.deepEqual([0, 1, 2].map(n.tree), trees);

      const helm3 = path.join(files, 'helm3.yaml');
      writeFileSync(helm3, 'addons:\n  - name: helm3\n');
      const pruned = sb.cli(['apply', '-f', helm3, '--prune', '--output', 'plain']);
      assert.equal(pruned.code, 0, pruned.stderr + pruned.stdout);
      assert.match(pruned.stdout, /^apply: 1 addon change\(s\): dns disabled$/m);
      for (const i of [0, 1, 2]) {
        assert.deepEqual(Object.keys(n.journalOf(i).addons), ['helm3'], `node-${i}`);
        assert.doesNotMatch(readFileSync(path.join(n.dataOf(i), 'args', 'kubelet'), 'utf8'), /--cluster-dns/, `node-${i}`);
      }
      assert.deepEqual(sb.cli(['status', '-a', 'dns']), { code: 0, stdout: 'disabled\n', stderr: '' });
    });

    if (era === '1.35') {
      test('reset on an HA cluster (helm3): every node byte for byte, each other node reset through its agent', () => {
        const e = sb.cli(['enable', 'helm3']);
        assert.equal(e.code, 0, e.stderr + e.stdout);
        for (const i of [1, 2]) assert.deepEqual(Object.keys(n.journalOf(i).addons), ['helm3'], `node-${i}`);
        const r = sb.cli(['reset', '--output', 'plain']);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.match(r.stdout, /^reset\/other-nodes: reset node-1, node-2 \(each undid what its own journal listed and restored its files from its own snapshot\)$/m);
        assert.match(r.stdout, /^reset: done: disabled helm3; 0 node file\(s\) restored from the snapshot; other nodes reset: node-1, node-2$/m);
        for (const i of [0, 1, 2]) {
          assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
          assert.deepEqual(n.journalOf(i).addons, {}, `node-${i} journal`);
        }
      });
    }

    if (era === '1.20') test('reset returns every node byte for byte, also a file edited by hand on node-2 after mk8s-addons; a second reset changes nothing', async () => {
      const e = sb.cli(['enable', 'dns', '--output', 'plain']);
      assert.equal(e.code, 0, e.stderr + e.stdout);
      // A user's edit on node-2 after the enable: disable keeps it (it undoes only its own lines); reset
      // puts the file back as it was before mk8s-addons, as on a single node.
      appendFileSync(path.join(n.dataOf(2), 'args', 'kubelet'), '--v=4\n');
      const logs = await Promise.all([0, 1, 2].map((i) => n.logLength(i)));
      const r = sb.cli(['reset', '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^reset\/other-nodes: reset node-1, node-2 \(each undid what its own journal listed and restored its files from its own snapshot\)$/m);
      assert.match(r.stdout, /^reset: done: disabled dns, helm3; 0 node file\(s\) restored from the snapshot; other nodes reset: node-1, node-2$/m);
      for (const i of [0, 1, 2]) {
        assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
        assert.deepEqual(n.journalOf(i).addons, {}, `node-${i} journal`);
        assert.equal(n.journalOf(i).operation, null, `node-${i} operation`);
      }
      // The kubelet of node-1 restarted once (dns's undo), node-2's twice (the undo, then its restore).
      assert.deepEqual(await n.serviceActions(1, logs[1]), [`restart ${kubelet}`]);
      assert.deepEqual(await n.serviceActions(2, logs[2]), [`restart ${kubelet}`, `restart ${kubelet}`]);

      const logs2 = await Promise.all([0, 1, 2].map((i) => n.logLength(i)));
      const again = sb.cli(['reset', '--output', 'plain']);
      assert.equal(again.code, 0, again.stderr + again.stdout);
      assert.match(again.stdout, /^reset: done: no addon was enabled; 0 node file\(s\) restored from the snapshot; other nodes reset: node-1, node-2$/m);
      for (const i of [0, 1, 2]) {
        assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
        assert.equal(await n.logLength(i), logs2[i], `node-${i} service log`);
      }
    });

    test('reset is refused, nothing changed on any node, while the cluster has a Node mk8s-addons cannot reach', async () => {
      const e = sb.cli(['enable', addon]);
      assert.equal(e.code, 0, e.stderr + e.stdout);
      const trees = [0, 1, 2].map(n.tree);
      const journals = [0, 1, 2].map((i) => JSON.stringify(n.journalOf(i)));
      await sb.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'stray' } }) });
      try {
        const r = sb.cli(['reset']);
        const why =
          era === '1.20'
            ? 'the cluster has 4 nodes (node-0, node-1, node-2, stray) and mk8s-addons cannot reach stray through a cluster agent (not in credentials/callback-tokens.txt); reset returns every node of the cluster: remove that node first (microk8s remove-node NAME), then run reset again'
            : 'node stray has no InternalIP in the API: its cluster agent cannot be found; check that its kubelet runs, or remove it (microk8s remove-node stray)';
        assert.deepEqual(r, { code: 3, stdout: '', stderr: `mk8s-addons: error: ${why}\n` });
      } finally {
        await sb.kubectl(['delete', 'node', 'stray']);
      }
      assert.deepEqual([0, 1, 2].map(n.tree), trees);
      assert.deepEqual([0, 1, 2].map((i) => JSON.stringify(n.journalOf(i))), journals);
    });

    test('reset --dry-run names the other nodes and changes nothing anywhere', () => {
      const e = sb.cli(['enable', addon]);
      assert.equal(e.code, 0, e.stderr + e.stdout);
      const trees = [0, 1, 2].map(n.tree);
      const journals = [0, 1, 2].map((i) => JSON.stringify(n.journalOf(i)));
      const r = sb.cli(['reset', '--dry-run', '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^reset\/other-nodes: would reset node-1, node-2 \(each undoes what its own journal lists and restores its files from its own snapshot\)$/m);
      assert.deepEqual([0, 1, 2].map(n.tree), trees);
      assert.deepEqual([0, 1, 2].map((i) => JSON.stringify(n.journalOf(i))), journals);
      assert.equal(sb.cli(['reset']).code, 0);
      for (const i of [0, 1, 2]) assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
      rmSync(files, { recursive: true, force: true });
    });
  });
}

describe('crash recovery on a 3-node 1.20 cluster: inside a node-local run, and before a fan-out step', () => {
  const sandbox = useSandbox('1.20', { nodes: 3, name: 'cluster-crash' });
  let sb: TestSandbox;
  let n: ReturnType<typeof clusterNodes>;
  const trees0: Record<string, string>[] = [];
  /** The stand-in agent's test hook: node-1's node-local runs get MK8S_ADDONS_CRASH_AT (src/sandbox/cluster-agent-main.ts). */
  const crashOnNode1 = (at: string | undefined) => {
    const file = path.join(n.nodeDir(1), 'test-env.json');
    if (at === undefined) rmSync(file, { force: true });
    else writeFileSync(file, JSON.stringify({ MK8S_ADDONS_CRASH_AT: at }));
  };
  // The last line of stderr: the stand-in agent's answer when the wrapper it ran was killed (MicroK8s's own agent words it its way).
  /** Node I's configure calls from its stand-in agent's log: `(probe)`, or the node-local request's action and addon. */
  const agentCalls = (i: number) =>
    readFileSync(path.join(n.nodeDir(i), 'cluster-agent.log'), 'utf8')
      .split('\n')
      .filter((l) => / configure 200 /.test(l))
      .map((l) => {
        const payload = /addons=mk8s-addons-node:(\S+)/.exec(l)?.[1];
        if (!payload) return '(probe)';
        const req = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { action: string; addon: string };
        return `${req.action} ${req.addon}`;
      });
  const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';
  const killedOnNode1 = (suffix: string) =>
    new RegExp(`^mk8s-addons: error in phase enable/dns/other-nodes-1: node node-1 \\(127\\.\\d+\\.\\d+\\.11:25000\\): configure failed \\(HTTP 500\\): \\S+/nodes/node-1/snap/microk8s-enable\\.wrapper mk8s-addons-node:[A-Za-z0-9_-]+ was killed by SIGKILL; see that node's cluster agent log \\(journalctl -u snap\\.microk8s\\.daemon-cluster-agent\\)${suffix}$`);

  before(() => {
    sb = sandbox();
    n = clusterNodes(sb);
    n.installRepository(3);
    for (const i of [0, 1, 2]) trees0.push(n.tree(i));
  });

  test('node-1\'s node-local run killed after its second step (--no-rollback): node-1 keeps its interrupted operation; the next run recovers it there; every node byte-identical', async () => {
    const logs = await Promise.all([1, 2].map((i) => n.logLength(i)));
    crashOnNode1('enable/dns/kubelet-cluster-dns:after');
    const r = sb.cli(['enable', 'dns', '--no-rollback', '--output', 'plain']);
    crashOnNode1(undefined);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(lastLine(r.stderr), killedOnNode1(''));
    // node-1: killed with two steps applied, journaled ahead, its operation left for its next run.
    const j1 = n.journalOf(1);
    assert.deepEqual(j1.addons, {});
    assert.deepEqual([j1.operation?.type, j1.operation?.steps.map((s) => s.phase)], ['enable', dnsNodeSteps.slice(0, 2)]);
    assert.match(readFileSync(path.join(n.dataOf(1), 'args', 'kubelet'), 'utf8'), /^--cluster-dns=10\.152\.183\.10$/m);
    // node-2 converged; node-0 kept what it applied (--no-rollback), the fan-out step included.
    assert.deepEqual(n.journalOf(2).addons.dns?.steps.map((s) => s.phase), dnsNodeSteps);
    assert.deepEqual(n.journalOf(0).operation?.steps.map((s) => s.phase), ['enable/dns/corefile', 'enable/dns/coredns-objects', ...dnsNodeSteps, 'enable/dns/other-nodes-1']);

    // The next run here rolls back its interrupted enable: the fan-out step's undo is a node-local
    // disable on node-1 and node-2, and node-1's run recovers its own interrupted operation first.
    const next = sb.cli(['disable', 'dns', '--output', 'plain']);
    assert.equal(next.code, 0, next.stderr + next.stdout);
    assert.match(next.stdout, /^✔ recover: undo enable\/dns\/other-nodes-1$/m);
    for (const i of [0, 1, 2]) {
      assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
      assert.deepEqual(n.journalOf(i).addons, {}, `node-${i} journal`);
      assert.equal(n.journalOf(i).operation, null, `node-${i} operation`);
    }
    // node-1's kubelet: never restarted by the killed run; once by the recovery of its args. node-2: enable, undo.
    assert.deepEqual(await n.serviceActions(1, logs[0]), ['restart kubelet']);
    assert.deepEqual(await n.serviceActions(2, logs[1]), ['restart kubelet', 'restart kubelet']);
  });

  test('node-1\'s node-local run killed mid-way, with rollback: the same run rolls every node back, node-1 from its own interrupted operation; enable then converges every node', () => {
    crashOnNode1('enable/dns/kubelet-cluster-domain:after');
    const r = sb.cli(['enable', 'dns', '--output', 'plain']);
    crashOnNode1(undefined);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(lastLine(r.stderr), killedOnNode1(' \\(rolled back\\)'));
    for (const i of [0, 1, 2]) {
      assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
      assert.deepEqual(n.journalOf(i).addons, {}, `node-${i} journal`);
      assert.equal(n.journalOf(i).operation, null, `node-${i} operation`);
    }
    const calls = [1, 2].map((i) => agentCalls(i).length);
    const e = sb.cli(['enable', 'dns', '--output', 'plain']);
    assert.equal(e.code, 0, e.stderr + e.stdout);
    assert.doesNotMatch(e.stdout, /^recover:/m);
    assert.match(e.stdout, /^enable\/dns\/other-nodes-1: converged node-1, node-2$/m);
    // Each other node: the probe (an empty configure), then one node-local run, the converge, no check run first.
    for (const i of [1, 2]) assert.deepEqual(agentCalls(i).slice(calls[i - 1]), ['(probe)', 'enable dns'], `node-${i}`);
    for (const i of [1, 2]) assert.deepEqual(n.journalOf(i).addons.dns?.steps.map((s) => s.phase), dnsNodeSteps, `node-${i}`);
    const off = sb.cli(['disable', 'dns']);
    assert.equal(off.code, 0, off.stderr + off.stdout);
    for (const i of [0, 1, 2]) assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
  });

  test('a re-run killed before its fan-out step reported: the recovery keeps the addon on nodes that had it before that run', () => {
    const e = sb.cli(['enable', 'dns']);
    assert.equal(e.code, 0, e.stderr + e.stdout);
    const trees = [0, 1, 2].map(n.tree);
    const journals = [1, 2].map((i) => JSON.stringify(n.journalOf(i).addons));
    // The re-run's fan-out step is journaled pending (no node asked yet), then the run is killed.
    const killed = sb.cli(['enable', 'dns', '--output', 'plain'], { MK8S_ADDONS_CRASH_AT: 'enable/dns/other-nodes-1:before' });
    assert.equal(killed.code, null, killed.stderr + killed.stdout);
    assert.deepEqual(n.journalOf(0).operation?.steps.map((s) => `${s.phase} ${s.state}`), ['enable/dns/other-nodes-1 applying']);
    const r = sb.cli(['enable', 'dns', '--output', 'plain']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^✔ recover: undo enable\/dns\/other-nodes-1$/m);
    assert.match(r.stdout, /^enable\/dns\/other-nodes-1: 2 other node\(s\) as wanted$/m);
    // The recovery's undo counts as one: it cannot know that both nodes kept theirs.
    assert.match(r.stdout, /^1 step\(s\) changed the node; service restarts: none$/m);
    assert.deepEqual([0, 1, 2].map(n.tree), trees);
    assert.deepEqual([1, 2].map((i) => JSON.stringify(n.journalOf(i).addons)), journals);
    assert.deepEqual(sb.cli(['status', '-a', 'dns']), { code: 0, stdout: 'enabled\n', stderr: '' });
    const off = sb.cli(['disable', 'dns']);
    assert.equal(off.code, 0, off.stderr + off.stdout);
    for (const i of [0, 1, 2]) assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
  });

  test('killed at the :before point of a fan-out step (journaled, not applied): the next run undoes it on nodes that have nothing; every node byte-identical', () => {
    const logs = [1, 2].map((i) => JSON.stringify(n.journalOf(i)));
    const killed = sb.cli(['enable', 'dns', '--output', 'plain'], { MK8S_ADDONS_CRASH_AT: 'enable/dns/other-nodes-1:before' });
    assert.equal(killed.code, null, killed.stderr + killed.stdout);
    const op = n.journalOf(0).operation;
    assert.deepEqual(op?.steps.map((s) => `${s.phase} ${s.state}`).slice(-1), ['enable/dns/other-nodes-1 applying']);
    // The other nodes were only asked for a check: nothing changed there.
    for (const i of [1, 2]) {
      assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
      assert.equal(JSON.stringify(n.journalOf(i)), logs[i - 1], `node-${i} journal`);
    }
    disableRecovering(sb, 'dns', 6);
    for (const i of [0, 1, 2]) {
      assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
      assert.deepEqual(n.journalOf(i).addons, {}, `node-${i} journal`);
      assert.equal(n.journalOf(i).operation, null, `node-${i} operation`);
    }
  });
});

describe('reset on a single 1.20 node with a stray Node object', () => {
  const sandbox = useSandbox('1.20', { name: 'single-stray' });

  test('refused with exit 3 naming only the stray Node; nothing changed', async () => {
    const sb = sandbox();
    assert.equal(sb.cli(['enable', 'helm3']).code, 0);
    const tree = clusterNodes(sb).tree(0);
    await sb.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'stray' } }) });
    try {
      assert.deepEqual(sb.cli(['reset']), {
        code: 3,
        stdout: '',
        stderr:
          'mk8s-addons: error: the cluster has 2 nodes (node-0, stray) and mk8s-addons cannot reach stray through a cluster agent (not in credentials/callback-tokens.txt); reset returns every node of the cluster: remove that node first (microk8s remove-node NAME), then run reset again\n',
      });
    } finally {
      await sb.kubectl(['delete', 'node', 'stray']);
    }
    assert.deepEqual(clusterNodes(sb).tree(0), tree);
    const r = sb.cli(['reset']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  });
});
