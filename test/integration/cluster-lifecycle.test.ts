/**
 * The cluster paths beyond enable/disable (issue 17), on a 3-node sandbox: `apply -f` converges every
 * node to the file and `--prune` of an addon the file no longer lists undoes it on every node; `reset`
 * returns every node, not only this one, byte for byte (also a file a user edited on another node after
 * mk8s-addons did: that node resets itself from its own snapshot); and crash recovery inside a node's own
 * node-local run (killed mid-way on node-1, through the stand-in agent's test hook DIR/nodes/node-1/
 * test-env.json) and at the `:before` point of a fan-out step. dns: three node steps (kubelet args and
 * its restart, made on the other nodes through configure's service entries), no Helm release; helm3: one
 * node step (a file) made on the other nodes by a node-local run.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterNodes, disableRecovering } from '../support/cluster.js';
import { useSandbox, type TestSandbox } from '../support/sandbox.js';

const helm3Steps = ['enable/helm3/binary'];

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
      n.installRepositories(3);
      for (const i of [0, 1, 2]) trees0.push(n.tree(i));
    });

    if (era === '1.20') test('a MicroK8s without addon repositories (1.20-1.23: no $SNAP_COMMON/addons) is refused before any change on a cluster, exit 3', async () => {
      const addons = path.join(sb.info.snapCommon, 'addons');
      renameSync(addons, `${addons}.aside`);
      try {
        const logs = await Promise.all([0, 1, 2].map((i) => n.logLength(i)));
        const r = sb.cli(['enable', 'dns']);
        assert.deepEqual(r, {
          code: 3,
          stdout: '',
          stderr: `mk8s-addons: error: this MicroK8s has no addon repositories (no ${addons}: they came with MicroK8s 1.24), so the cluster agents of node-1, node-2 cannot run mk8s-addons there for the node steps of dns; upgrade MicroK8s to 1.24 or later on every node, then run sudo mk8s-addons microk8s-repo install on each\n`,
        });
        for (const i of [0, 1, 2]) {
          assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
          assert.equal(await n.logLength(i), logs[i], `node-${i} service log`);
        }
      } finally {
        renameSync(`${addons}.aside`, addons);
      }
    });

    if (era === '1.20') test('apply -f: a file enabling dns converges every node; the file without it, with --prune, disables it on every node', () => {
      const both = path.join(files, 'both.yaml');
      writeFileSync(both, 'addons:\n  - name: dns\n  - name: helm3\n');
      const r = sb.cli(['apply', '-f', both, '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^enable\/dns\/other-nodes-1: converged node-1, node-2$/m);
      assert.match(r.stdout, /^enable\/helm3\/other-nodes-1: converged node-1, node-2$/m);
      for (const i of [1, 2]) {
        // dns's node steps went through configure (no journal entry there); helm3's through a node-local run.
        assert.deepEqual(Object.keys(n.journalOf(i).addons), ['helm3'], `node-${i}`);
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

    if (era === '1.20') test('reset returns every node byte for byte; a line a user added on node-2 to an args file that configure edited stays there', async () => {
      const kubeletArgs = path.join(n.dataOf(2), 'args', 'kubelet');
      const original = readFileSync(kubeletArgs, 'utf8');
      const e = sb.cli(['enable', 'dns', '--output', 'plain']);
      assert.equal(e.code, 0, e.stderr + e.stdout);
      // A user's edit on node-2 after the enable. dns's flags were set there through configure, so node-2
      // has no snapshot of the file: the reset puts back mk8s-addons's flags (configure's undo), flag by
      // flag, and the user's own line stays (on this node, reset restores the whole file from its snapshot).
      appendFileSync(kubeletArgs, '--v=4\n');
      const logs = await Promise.all([0, 1, 2].map((i) => n.logLength(i)));
      const r = sb.cli(['reset', '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^reset\/other-nodes: reset node-1, node-2 \(each undid what its own journal listed and restored its files from its own snapshot\)$/m);
      assert.match(r.stdout, /^reset: done: disabled dns, helm3; 0 node file\(s\) restored from the snapshot; other nodes reset: node-1, node-2$/m);
      for (const i of [0, 1]) assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
      assert.deepEqual({ ...n.tree(2), 'args/kubelet': undefined }, { ...trees0[2], 'args/kubelet': undefined }, 'node-2 but its args/kubelet');
      assert.equal(readFileSync(kubeletArgs, 'utf8'), `${original}--v=4\n`);
      for (const i of [0, 1, 2]) {
        assert.deepEqual(n.journalOf(i).addons, {}, `node-${i} journal`);
        assert.equal(n.journalOf(i).operation, null, `node-${i} operation`);
      }
      // Each other node's kubelet restarted once: configure's undo of dns's flags.
      assert.deepEqual(await n.serviceActions(1, logs[1]), [`restart ${kubelet}`]);
      assert.deepEqual(await n.serviceActions(2, logs[2]), [`restart ${kubelet}`]);
      writeFileSync(kubeletArgs, original);
      assert.deepEqual(n.tree(2), trees0[2]);

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
  const killedOnNode1 = (addon: string, suffix: string) =>
    new RegExp(`^mk8s-addons: error in phase enable/${addon}/other-nodes-1: node node-1 \\(127\\.\\d+\\.\\d+\\.11:25000\\): configure failed \\(HTTP 500\\): \\S+/nodes/node-1/snap/microk8s-enable\\.wrapper mk8s-addons-node:[A-Za-z0-9_-]+ was killed by SIGKILL; see that node's cluster agent log \\(journalctl -u snap\\.microk8s\\.daemon-cluster-agent\\)${suffix}$`);

  before(() => {
    sb = sandbox();
    n = clusterNodes(sb);
    n.installRepositories(3);
    for (const i of [0, 1, 2]) trees0.push(n.tree(i));
  });

  // dns's node steps reach the other nodes through configure; helm3's file through a node-local run there.
  test('node-1\'s node-local run killed after its step (--no-rollback): node-1 keeps its interrupted operation; the next run recovers it there; every node byte-identical', () => {
    crashOnNode1('enable/helm3/binary:after');
    const r = sb.cli(['enable', 'helm3', '--no-rollback', '--output', 'plain']);
    crashOnNode1(undefined);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(lastLine(r.stderr), killedOnNode1('helm3', ''));
    // node-1: killed with its step applied, journaled ahead, its operation left for its next run.
    const j1 = n.journalOf(1);
    assert.deepEqual(j1.addons, {});
    assert.deepEqual([j1.operation?.type, j1.operation?.steps.map((s) => s.phase)], ['enable', helm3Steps]);
    assert.equal(existsSync(path.join(n.dataOf(1), 'bin', 'helm3')), true);
    // node-2 converged; node-0 kept what it applied (--no-rollback), the fan-out step included.
    assert.deepEqual(n.journalOf(2).addons.helm3?.steps.map((s) => s.phase), helm3Steps);
    assert.deepEqual(n.journalOf(0).operation?.steps.map((s) => s.phase), [...helm3Steps, 'enable/helm3/other-nodes-1']);

    // The next run here rolls back its interrupted enable: the fan-out step's undo is a node-local
    // disable on node-1 and node-2, and node-1's run recovers its own interrupted operation first.
    const next = sb.cli(['disable', 'helm3', '--output', 'plain']);
    assert.equal(next.code, 0, next.stderr + next.stdout);
    assert.match(next.stdout, /^✔ recover: undo enable\/helm3\/other-nodes-1$/m);
    for (const i of [0, 1, 2]) {
      assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
      assert.deepEqual(n.journalOf(i).addons, {}, `node-${i} journal`);
      assert.equal(n.journalOf(i).operation, null, `node-${i} operation`);
    }
  });

  test('node-1\'s node-local run killed mid-way, with rollback: the same run rolls every node back, node-1 from its own interrupted operation; enable then converges every node', () => {
    crashOnNode1('enable/helm3/binary:after');
    const r = sb.cli(['enable', 'helm3', '--output', 'plain']);
    crashOnNode1(undefined);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(lastLine(r.stderr), killedOnNode1('helm3', ' \\(rolled back\\)'));
    for (const i of [0, 1, 2]) {
      assert.deepEqual(n.tree(i), trees0[i], `node-${i}`);
      assert.deepEqual(n.journalOf(i).addons, {}, `node-${i} journal`);
      assert.equal(n.journalOf(i).operation, null, `node-${i} operation`);
    }
    const calls = [1, 2].map((i) => agentCalls(i).length);
    const e = sb.cli(['enable', 'helm3', '--output', 'plain']);
    assert.equal(e.code, 0, e.stderr + e.stdout);
    assert.doesNotMatch(e.stdout, /^recover:/m);
    assert.match(e.stdout, /^enable\/helm3\/other-nodes-1: converged node-1, node-2$/m);
    // Each other node: the probe (an empty configure), the check, then the converge.
    for (const i of [1, 2]) assert.deepEqual(agentCalls(i).slice(calls[i - 1]), ['(probe)', 'check helm3', 'enable helm3'], `node-${i}`);
    for (const i of [1, 2]) assert.deepEqual(n.journalOf(i).addons.helm3?.steps.map((s) => s.phase), helm3Steps, `node-${i}`);
    const off = sb.cli(['disable', 'helm3']);
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
