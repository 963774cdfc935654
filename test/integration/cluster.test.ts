/**
 * Clusters (issue 17): `sandbox up --nodes 3` of each era makes three MicroK8s nodes (node folders, their
 * own network namespaces, simulated services, stand-in cluster agents over HTTPS), and mk8s-addons finds
 * them as MicroK8s does (1.20 non-HA: callback-tokens.txt; 1.35 HA: the API's Node InternalIPs at port
 * 25000 with the local token) and reaches them only through `configure`. Bad input names the node and
 * changes nothing on any node.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../src/adapters/process.js';
import { configureNode, type ClusterEndpoint } from '../../src/adapters/cluster-agent.js';
import { clusterNodeAddress } from '../../src/sandbox/cluster-nodes.js';
import { readServiceLog } from '../../src/engine/services.js';
import { treeDigest } from '../support/node.js';
import { useSandbox, type TestSandbox } from '../support/sandbox.js';

for (const era of ['1.20', '1.35'] as const) {
  describe(`a 3-node ${era} sandbox cluster`, () => {
    const sandbox = useSandbox(era, { nodes: 3, name: `cluster-${era}` });
    let sb: TestSandbox;
    const nodeDir = (i: number) => path.join(sb.dir, 'nodes', `node-${i}`);
    const addr = (i: number) => clusterNodeAddress(sb.dir, i);
    const tokenOf = (i: number) => readFileSync(path.join(nodeDir(i), 'data', 'credentials', 'callback-token.txt'), 'utf8').trim();
    const endpoint = (i: number, token = tokenOf(i)): ClusterEndpoint => ({ name: `node-${i}`, host: addr(i), port: 25000, token });
    /** Every node's folder (node-0's own, node-1's and node-2's), as bytes. */
    const allNodes = () => treeDigest(sb.dir, (rel) => rel.startsWith('cp') || rel.startsWith('node/') || /(^|\/)services\/|cluster-agent\.(log|json)$|configure-requests\.jsonl$/.test(rel));
    const daemon = era === '1.20' ? 'kubelet' : 'kubelite';

    before(() => {
      sb = sandbox();
    });

    test('sandbox status shows each node: its stand-in cluster agent, simulated services, its network namespace', async () => {
      const st = sb.cli(['sandbox', 'status', '--dir', sb.dir]);
      assert.equal(st.code, 0, st.stderr);
      for (const i of [1, 2]) {
        const line = st.stdout.split('\n').find((l) => l.startsWith(`  node-${i}: `));
        assert.match(line ?? '', new RegExp(`^ {2}node-${i}: cluster agent \\(sandbox stand-in, our code\\) on https://${addr(i).replaceAll('.', '\\.')}:25000 \\(pid \\d+\\); services \\(simulated\\): .*; kubelet: kwok; links in ${sb.info.netns}-n${i}$`));
      }
      // The 1.20 era says where it goes beyond MicroK8s 1.20 (no addon repositories there).
      const wrapper = '  enable wrapper: dispatches to $SNAP_COMMON/addons as MicroK8s 1.24+ does (MicroK8s 1.20 has no addon repositories)';
      assert.equal(st.stdout.split('\n').includes(wrapper), era === '1.20');
      const netns = (await run(['ip', ['netns', 'list']])).stdout;
      for (const i of [1, 2]) assert.match(netns, new RegExp(`^${sb.info.netns}-n${i}\\b`, 'm'));
      // Each node laid out as MicroK8s's of the era; 1.20's flanneld brought up flannel.1 in each node's namespace.
      for (const i of [1, 2]) {
        assert.equal(readFileSync(path.join(nodeDir(i), 'data', 'args', 'kubelet'), 'utf8'), readFileSync(path.join(sb.info.snapData, 'args', 'kubelet'), 'utf8'));
        const links = await run(['ip', ['-n', `${sb.info.netns}-n${i}`, 'link', 'show', 'flannel.1']]);
        assert.equal(links.exitCode === 0, era === '1.20', links.stderr);
      }
      // The Nodes' InternalIPs are the agents' addresses (node-0 keeps its own).
      const nodes = JSON.parse((await sb.kubectl(['get', 'nodes', '-o', 'json'])).stdout) as { items: { metadata: { name: string }; status: { addresses: { type: string; address: string }[] } }[] };
      assert.deepEqual(
        nodes.items.map((n) => [n.metadata.name, n.status.addresses.find((a) => a.type === 'InternalIP')?.address]),
        [['node-0', '192.0.2.10'], ['node-1', addr(1)], ['node-2', addr(2)]],
      );
    });

    test('nodes: found by the era\'s rule, each agent answers and accepts the token; nothing changes', () => {
      const before = allNodes();
      const r = sb.cli(['nodes', '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        r.stdout,
        `${era === '1.20' ? 'non-HA cluster (nodes from credentials/callback-tokens.txt)' : 'HA cluster (nodes from the API)'}:\n  node-0  this node\n  node-1 (${addr(1)}:25000)  cluster agent answers, token accepted\n  node-2 (${addr(2)}:25000)  cluster agent answers, token accepted\n`,
      );
      if (era === '1.20') {
        // Non-HA: one token per joined node, listed on node-0.
        assert.equal(readFileSync(path.join(sb.info.snapData, 'credentials', 'callback-tokens.txt'), 'utf8'), `${addr(1)}:25000 ${tokenOf(1)}\n${addr(2)}:25000 ${tokenOf(2)}\n`);
        assert.notEqual(tokenOf(1), tokenOf(2));
      } else {
        // HA: one token, node-0's.
        assert.equal(tokenOf(1), readFileSync(path.join(sb.info.snapData, 'credentials', 'callback-token.txt'), 'utf8').trim());
        assert.equal(tokenOf(2), tokenOf(1));
      }
      assert.deepEqual(allNodes(), before);
    });

    test('configure on one node: its args edited the way MicroK8s does, one restart through its own services; removal restores the file byte for byte', async () => {
      const args = path.join(nodeDir(1), 'data', 'args', 'kubelet');
      const original = readFileSync(args, 'utf8');
      const others = treeDigest(sb.dir, (rel) => rel.startsWith('cp') || rel.startsWith('node/') || rel.startsWith('nodes/node-1'));
      const log0 = (await readServiceLog(nodeDir(1))).length;
      await configureNode(endpoint(1), { service: [{ name: 'kubelet', arguments_update: [{ '--max-pods': '120' }], restart: true }] });
      assert.equal(readFileSync(args, 'utf8'), `${original}--max-pods=120\n`);
      assert.deepEqual((await readServiceLog(nodeDir(1))).slice(log0).map((e) => [e.action, e.daemon, e.result]), [['restart', daemon, 'ok']]);
      await configureNode(endpoint(1), { service: [{ name: 'kubelet', arguments_remove: ['--max-pods'], restart: true }] });
      assert.equal(readFileSync(args, 'utf8'), original);
      // Node-0 and node-2 untouched (their files and their service logs).
      assert.deepEqual(treeDigest(sb.dir, (rel) => rel.startsWith('cp') || rel.startsWith('node/') || rel.startsWith('nodes/node-1')), others);
    });

    test('configure as the era\'s MicroK8s agent: kube-apiserver\'s args rewritten as it writes them (1.21+ drops the blank line), the restart reaching the era\'s daemon; an addon entry neither enabled nor disabled does nothing', async () => {
      const file = path.join(nodeDir(2), 'data', 'args', 'kube-apiserver');
      const original = readFileSync(file, 'utf8');
      const log0 = (await readServiceLog(nodeDir(2))).length;
      try {
        await configureNode(endpoint(2), { service: [{ name: 'kube-apiserver', arguments_update: [{ '--event-ttl': '7m' }], restart: true }], addon: [{ name: 'nosuch', enable: false }] });
        assert.equal(readFileSync(file, 'utf8'), era === '1.20' ? `${original}--event-ttl=7m\n` : original.replace('--event-ttl=5m', '--event-ttl=7m').replace('\n\n', '\n'));
        assert.deepEqual((await readServiceLog(nodeDir(2))).slice(log0).map((e) => [e.action, e.daemon, e.result]), [['restart', era === '1.20' ? 'apiserver' : 'kubelite', 'ok']]);
      } finally {
        writeFileSync(file, original);
      }
    });

    test('an addon enable through configure runs the node\'s microk8s-enable.wrapper: its repository\'s hook on that node', async () => {
      const hook = path.join(nodeDir(2), 'common', 'addons', 'probe', 'addons', 'probe', 'enable');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(path.dirname(hook), { recursive: true });
      writeFileSync(hook, '#!/bin/sh\necho "$SNAP_DATA $*" > "$SNAP_DATA/probe-ran"\n', { mode: 0o755 });
      try {
        await configureNode(endpoint(2), { addon: [{ name: 'probe/probe:a:b', enable: true }] }, { timeoutMs: 30_000 });
        assert.equal(readFileSync(path.join(nodeDir(2), 'data', 'probe-ran'), 'utf8'), `${path.join(nodeDir(2), 'data')} a b\n`);
        await assert.rejects(configureNode(endpoint(2), { addon: [{ name: 'nosuch', enable: true }] }), {
          message: `node node-2 (${addr(2)}:25000): configure failed (HTTP 500): enable nosuch failed (exit 1): Addon nosuch was not found in any repository; see that node's cluster agent log (journalctl -u snap.microk8s.daemon-cluster-agent)`,
        });
      } finally {
        const { rmSync } = await import('node:fs');
        rmSync(path.join(nodeDir(2), 'common', 'addons'), { recursive: true, force: true });
        rmSync(path.join(nodeDir(2), 'data', 'probe-ran'), { force: true });
      }
    });

    test('bad input names the node, exits 2 or 3 and changes nothing on any node', () => {
      const before = allNodes();
      const unknown = sb.cli(['nodes', '--node', 'node-7']);
      assert.deepEqual([unknown.code, unknown.stderr], [2, 'mk8s-addons: error: unknown node "node-7": the cluster\'s nodes are node-0 (this node), node-1, node-2; give one of them to --node\n']);

      // A wrong token: node-2's agent refuses it.
      const tokenFile = path.join(nodeDir(2), 'data', 'credentials', 'callback-token.txt');
      const token = readFileSync(tokenFile, 'utf8');
      writeFileSync(tokenFile, 'not-the-token\n');
      let r;
      try {
        r = sb.cli(['nodes']);
      } finally {
        writeFileSync(tokenFile, token);
      }
      const tokenSource = path.join(sb.info.snapData, 'credentials', era === '1.20' ? 'callback-tokens.txt' : 'callback-token.txt');
      assert.deepEqual([r.code, r.stderr], [3, `mk8s-addons: error: node node-2 (${addr(2)}:25000): its cluster agent refused the callback token from ${tokenSource}, which must match that node's credentials/callback-token.txt; re-join the node (microk8s join) or fix the token\n`]);

      // An unreachable node: node-1's agent stopped.
      const agent = JSON.parse(readFileSync(path.join(nodeDir(1), 'cluster-agent.json'), 'utf8')) as { pid: number };
      process.kill(agent.pid, 'SIGTERM');
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(agent.pid, 0);
        } catch {
          break;
        }
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
      const down = sb.cli(['nodes', '--node', 'node-1']);
      assert.deepEqual([down.code, down.stderr], [3, `mk8s-addons: error: node node-1 (${addr(1)}:25000): its cluster agent cannot be reached (connection refused); check that MicroK8s runs there (microk8s status on that node) and that port 25000 is open, or remove the node from the cluster (microk8s remove-node node-1)\n`]);
      const st = sb.cli(['sandbox', 'status', '--dir', sb.dir]);
      assert.equal(st.code, 3);
      assert.match(st.stdout, new RegExp(`^ {2}node-1: cluster agent \\(sandbox stand-in, our code\\) on https://${addr(1).replaceAll('.', '\\.')}:25000 \\(stopped\\);`, 'm'));
      assert.deepEqual(allNodes(), before);
      // `sandbox up` again starts it.
      const up = sb.cli(['sandbox', 'up', '--dir', sb.dir, '--layout', era, '--nodes', '3']);
      assert.equal(up.code, 0, up.stderr);
      assert.equal(sb.cli(['nodes']).code, 0);
    });

    test(era === '1.20' ? 'a joined 1.20 node is a worker: mk8s-addons refuses to run there' : 'on a joined 1.35 control-plane node, the other nodes are found from the API', () => {
      const on1 = { SNAP: path.join(nodeDir(1), 'snap'), SNAP_DATA: path.join(nodeDir(1), 'data'), SNAP_COMMON: path.join(nodeDir(1), 'common') };
      const r = sb.cli(['nodes', '--node', 'node-2'], on1);
      if (era === '1.20') {
        assert.deepEqual([r.code, r.stderr], [3, 'mk8s-addons: error: this node is a worker of a MicroK8s cluster (var/lock/clustered.lock exists); run mk8s-addons on a control-plane node\n']);
      } else {
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `HA cluster (nodes from the API):\n  node-2 (${addr(2)}:25000)  cluster agent answers, token accepted\n`);
      }
    });
  });
}
