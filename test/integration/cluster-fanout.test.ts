/**
 * The node-step fan-out (issue 17) on a 3-node sandbox of each era: `enable cilium` on node-0 runs
 * cilium's node steps on node-1 and node-2 too, through their (stand-in) cluster agents and our
 * repository's mk8s-addons-node hook there; each node journals its own steps. Enable changes every node
 * once, a re-run changes nothing anywhere, drift on one node is reported and only that node converges, a
 * node that joins later is converged by the next enable, disable returns every node byte for byte, and a
 * node that becomes unreachable mid-run fails the run with its name while the rest is rolled back.
 *
 * The repository is installed on every node as the README says. MicroK8s 1.20 has no addon repositories
 * ($SNAP_COMMON/addons came with 1.24): on the 1.20 sandbox the folder is made first, as the
 * microk8s-repo test does; the sandbox's microk8s-enable.wrapper stands in for MicroK8s's dispatch.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../src/adapters/process.js';
import { readServiceLog, type ServiceLogEntry } from '../../src/engine/services.js';
import { clusterNodes, disableRecovering } from '../support/cluster.js';
import { CLI } from '../support/cli.js';
import { NO_PROXY_ENV, useSandbox, type TestSandbox } from '../support/sandbox.js';

for (const era of ['1.20', '1.35'] as const) {
  describe(`node steps on every node of a 3-node ${era} cluster`, () => {
    const sandbox = useSandbox(era, { nodes: 3, name: `fanout-${era}` });
    let sb: TestSandbox;
    const { nodeDir, dataOf, tree, installRepository } = clusterNodes(() => sb);
    const netnsOf = (i: number) => (i === 0 ? sb.info.netns : `${sb.info.netns}-n${i}`);
    const logOf = (i: number): Promise<ServiceLogEntry[]> => readServiceLog(nodeDir(i));
    const journalOf = (i: number) => JSON.parse(readFileSync(path.join(dataOf(i), 'var', 'mk8s-addons', 'journal.json'), 'utf8')) as { addons: Record<string, { steps: { phase: string }[] }>; operation: unknown };
    const flannelLink = async (i: number) => (await run(['ip', ['-n', netnsOf(i), 'link', 'show', 'flannel.1']])).exitCode === 0;
    const agentPid = (i: number) => (JSON.parse(readFileSync(path.join(nodeDir(i), 'cluster-agent.json'), 'utf8')) as { pid: number }).pid;
    const trees0: Record<string, string>[] = [];
    const cilium = ['enable', 'cilium', '--output', 'plain'];
    // What enable changes on a joined node of the era (1.35: HA nodes keep flannel off and containerd's
    // template already points at $SNAP_DATA).
    const expectedNodeSteps = [
      ...(era === '1.20' ? ['enable/cilium/containerd-cni-bin-dir'] : []),
      'enable/cilium/containerd-cilium-sock',
      'enable/cilium/service-restarts',
      ...(era === '1.20' ? ['enable/cilium/flanneld-stop', 'enable/cilium/flannel-lock', 'enable/cilium/vxlan-links'] : []),
      'enable/cilium/cni-config',
      'enable/cilium/cni-set-aside',
      'enable/cilium/agent-cli',
    ];

    before(() => {
      sb = sandbox();
      for (const i of [0, 1, 2]) {
        installRepository(i);
        trees0.push(tree(i));
      }
    });

    test('enable cilium: every node\'s files and services change once; each node journals its own steps; a re-run changes nothing anywhere', async () => {
      const logs = await Promise.all([1, 2].map(logOf));
      const r = sb.cli(cilium);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^enable\/cilium\/other-nodes-1: converged node-1, node-2$/m);
      assert.match(r.stdout, /^enable\/cilium\/other-nodes-2: converged node-1, node-2$/m);
      for (const i of [1, 2]) {
        const data = dataOf(i);
        assert.ok(existsSync(path.join(data, 'var', 'lock', 'no-flanneld')), `node-${i} no-flanneld`);
        assert.ok(existsSync(path.join(data, 'args', 'cni-network', '05-cilium-cni.conf')), `node-${i} 05-cilium-cni.conf`);
        assert.match(readFileSync(path.join(data, 'args', 'containerd-env'), 'utf8'), /^CILIUM_SOCK=\$\{SNAP_DATA\}\/var\/run\/cilium\/cilium\.sock$/m);
        assert.equal(await flannelLink(i), false, `node-${i} flannel.1 gone`);
        assert.deepEqual(journalOf(i).addons.cilium?.steps.map((s) => s.phase), expectedNodeSteps);
        assert.deepEqual(Object.keys(journalOf(i).addons), ['helm3', 'cilium']);
        // Once each: containerd restarted, flanneld stopped (1.35: it never ran).
        const fresh = (await logOf(i)).slice(logs[i - 1]?.length).map((e) => `${e.action} ${e.daemon}`);
        assert.deepEqual(fresh, ['restart containerd', ...(era === '1.20' ? ['stop flanneld'] : [])], `node-${i}`);
      }
      // The release's DaemonSet: one agent pod for each node.
      const ds = JSON.parse((await sb.kubectl(['-n', 'kube-system', 'get', 'ds', 'cilium', '-o', 'json'])).stdout) as { status: { desiredNumberScheduled: number } };
      assert.equal(ds.status.desiredNumberScheduled, 3);

      const trees = [0, 1, 2].map(tree);
      const logs2 = await Promise.all([0, 1, 2].map(logOf));
      const again = sb.cli(cilium);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^0 step\(s\) changed the node; service restarts: none$/m);
      assert.deepEqual([0, 1, 2].map(tree), trees);
      assert.deepEqual((await Promise.all([0, 1, 2].map(logOf))).map((l) => l.length), logs2.map((l) => l.length));
    });

    // The drift: 1.20, flannel back on node-2 (its lock removed, as a MicroK8s refresh could); 1.35, node-2's
    // Cilium CNI config removed.
    const drift = era === '1.20' ? { file: path.join('var', 'lock', 'no-flanneld'), phase: 'enable/cilium/flannel-lock', fanOut: 1 } : { file: path.join('args', 'cni-network', '05-cilium-cni.conf'), phase: 'enable/cilium/cni-config', fanOut: 2 };
    test(`drift on one node (${era === '1.20' ? 'flannel back on node-2' : 'node-2 lost its CNI config'}): status and the dry-run name the node; enable converges node-2 only`, async () => {
      rmSync(path.join(dataOf(2), drift.file));
      const st = sb.cli(['status', '--format', 'yaml']);
      assert.equal(st.code, 1, st.stderr);
      assert.match(st.stdout, new RegExp(`node-2 drifted: [^\\n]*${drift.phase}`));
      const dry = sb.cli([...cilium, '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, new RegExp(`node-2: [^\\n]*${drift.phase}`));
      const log1 = (await logOf(1)).length;
      const tree1 = tree(1);
      const r = sb.cli(cilium);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^enable/cilium/other-nodes-${drift.fanOut}: converged node-2$`, 'm'));
      assert.ok(existsSync(path.join(dataOf(2), drift.file)));
      assert.deepEqual(tree(1), tree1);
      assert.equal((await logOf(1)).length, log1);
      assert.equal(sb.cli(['status']).code, 0);
    });

    test('disable cilium and helm3: every node byte for byte as before, flannel back where it ran', async () => {
      const r = sb.cli(['disable', 'cilium', 'helm3', '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      for (const i of [0, 1, 2]) {
        assert.deepEqual(tree(i), trees0[i], `node-${i}`);
        assert.deepEqual(journalOf(i).addons, {}, `node-${i} journal`);
      }
      for (const i of [1, 2]) assert.equal(await flannelLink(i), era === '1.20', `node-${i} flannel.1`);
    });

    test('a node unreachable mid-run: the run fails naming it, the rest is rolled back; with the node back, the next run undoes it there too', async () => {
      // Kill node-2's agent once node-2 has done its first node steps (its journal has them).
      // --timeout bounds how long the rollback retries the unreachable node's undo (as for an unreachable API server).
      const child = spawn(process.execPath, [CLI, ...cilium, '--timeout', '30s'], { env: { ...process.env, NO_COLOR: '1', ...NO_PROXY_ENV, ...sb.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
      let killed = false;
      for (let i = 0; i < 600 && !killed; i++) {
        try {
          if (journalOf(2).addons.cilium?.steps.some((s) => s.phase === 'enable/cilium/service-restarts')) {
            process.kill(agentPid(2), 'SIGKILL');
            killed = true;
          }
        } catch {
          // no journal yet
        }
        if (!killed) await new Promise((res) => setTimeout(res, 100));
      }
      assert.ok(killed, `node-2 never reached its first node steps:\n${out}`);
      const code = await exited;
      assert.equal(code, 1, out);
      assert.match(out, new RegExp(`node node-2 \\(${sbAddr(2)}:25000\\): its cluster agent cannot be reached \\(connection refused\\)`));
      // Node-0 and node-1 are back as they were; node-2 keeps its first steps until it can be reached.
      assert.deepEqual(tree(0), trees0[0]);
      assert.deepEqual(tree(1), trees0[1]);
      assert.notDeepEqual(tree(2), trees0[2]);
      assert.notEqual(journalOf(0).operation, null);
      // The node comes back; the next run first undoes what the interrupted one left, everywhere.
      const up = sb.cli(['sandbox', 'up', '--dir', sb.dir, '--layout', era, '--nodes', '3']);
      assert.equal(up.code, 0, up.stderr);
      const next = sb.cli(['disable', 'cilium', '--output', 'plain']);
      assert.equal(next.code, 0, next.stderr + next.stdout);
      for (const i of [0, 1, 2]) assert.deepEqual(tree(i), trees0[i], `node-${i}`);
    });

    // Crash recovery per node, on one era (dns: three node steps, no Helm release; 1.20, no API call to
    // find the nodes). node-0 is killed right after the fan-out step converged node-1 and node-2: configure
    // changed their kubelet args, node-0's journal holds the interrupted operation with the previous values.
    if (era === '1.20') {
      const dnsNodeSteps = ['enable/dns/kubelet-cluster-domain', 'enable/dns/kubelet-cluster-dns', 'enable/dns/kubelet-restart'];
      test('enable dns killed right after its node steps ran on the other nodes: the next run rolls every node back from its own journal; enable then converges every node', async () => {
        const before = [0, 1, 2].map(tree);
        const logs = await Promise.all([1, 2].map(logOf));
        const killed = sb.cli(['enable', 'dns', '--output', 'plain'], { MK8S_ADDONS_CRASH_AT: 'enable/dns/other-nodes-1:after' });
        assert.equal(killed.code, null, killed.stderr + killed.stdout);
        assert.deepEqual(
          (journalOf(0).operation as { steps: { phase: string }[] }).steps.map((s) => s.phase),
          ['enable/dns/corefile', 'enable/dns/coredns-objects', ...dnsNodeSteps, 'enable/dns/other-nodes-1'],
        );
        // dns's node steps are args and a restart: configure made them there, no node-local run (no journal entry).
        for (const i of [1, 2]) {
          assert.equal(journalOf(i).addons.dns, undefined, `node-${i} journal`);
          assert.equal(journalOf(i).operation, null, `node-${i} operation`);
          assert.match(readFileSync(path.join(dataOf(i), 'args', 'kubelet'), 'utf8'), /^--cluster-dns=10\.152\.183\.10$/m);
        }

        disableRecovering(sb, 'dns', 6);
        for (const i of [0, 1, 2]) {
          assert.deepEqual(tree(i), before[i], `node-${i}`);
          assert.deepEqual(journalOf(i).addons, {}, `node-${i} journal`);
          assert.equal(journalOf(i).operation, null, `node-${i} operation`);
        }
        // Each other node: kubelet restarted once by the enable, once by its undo.
        for (const i of [1, 2]) assert.deepEqual((await logOf(i)).slice(logs[i - 1]?.length).map((e) => `${e.action} ${e.daemon}`), ['restart kubelet', 'restart kubelet'], `node-${i}`);

        const e = sb.cli(['enable', 'dns', '--output', 'plain']);
        assert.equal(e.code, 0, e.stderr + e.stdout);
        assert.doesNotMatch(e.stdout, /^recover:/m);
        assert.match(e.stdout, /^enable\/dns\/other-nodes-1: converged node-1, node-2$/m);
        for (const i of [1, 2]) assert.match(readFileSync(path.join(dataOf(i), 'args', 'kubelet'), 'utf8'), /^--cluster-dns=10\.152\.183\.10$/m, `node-${i}`);
        assert.equal(sb.cli(['status', '-a', 'dns']).stdout, 'enabled\n');
        assert.equal(sb.cli(['disable', 'dns']).code, 0);
        for (const i of [0, 1, 2]) assert.deepEqual(tree(i), before[i], `node-${i}`);
      });

      test('--node restricts the fan-out: an unknown node is exit 2 naming it, nothing changed anywhere; the named node only converges; disable --node undoes only there', () => {
        const before = [0, 1, 2].map(tree);
        const journalFile = (i: number) => path.join(dataOf(i), 'var', 'mk8s-addons', 'journal.json');
        const journals = [0, 1, 2].map((i) => (existsSync(journalFile(i)) ? readFileSync(journalFile(i), 'utf8') : null));
        const unknownMessage = 'mk8s-addons: error: unknown node "node-7": the cluster\'s nodes are node-0 (this node), node-1, node-2; give one of them to --node\n';
        for (const command of ['enable', 'disable']) {
          const unknown = sb.cli([command, 'dns', '--node', 'node-2,node-7']);
          assert.deepEqual([unknown.code, unknown.stdout, unknown.stderr], [2, '', unknownMessage], command);
        }
        const empty = sb.cli(['enable', 'dns', '--node', 'node-1,']);
        assert.deepEqual([empty.code, empty.stderr], [2, 'mk8s-addons: error: --node needs node names: mk8s-addons enable NAME --node NODE[,NODE...] (see "mk8s-addons nodes")\n']);
        for (const i of [0, 1, 2]) {
          assert.deepEqual(tree(i), before[i], `node-${i}`);
          assert.equal(existsSync(journalFile(i)) ? readFileSync(journalFile(i), 'utf8') : null, journals[i], `node-${i} journal`);
        }

        const two = sb.cli(['enable', 'dns', '--node', 'node-2', '--output', 'plain']);
        assert.equal(two.code, 0, two.stderr + two.stdout);
        assert.match(two.stdout, /^enable\/dns\/other-nodes-1: converged node-2$/m);
        assert.match(readFileSync(path.join(dataOf(2), 'args', 'kubelet'), 'utf8'), /^--cluster-dns=10\.152\.183\.10$/m);
        assert.deepEqual(tree(1), before[1]);
        assert.equal(existsSync(journalFile(1)) ? readFileSync(journalFile(1), 'utf8') : null, journals[1]);
        const st = sb.cli(['status', '-a', 'dns']);
        assert.deepEqual([st.code, st.stdout], [1, 'degraded\n']);
        assert.match(st.stderr, /node-1[^\n]*not converged/);

        // Repeated --node, this node's name allowed: node-2 is as wanted, node-1 converges.
        const tree2 = tree(2);
        const both = sb.cli(['enable', 'dns', '--node', 'node-1', '--node=node-0,node-2', '--output', 'plain']);
        assert.equal(both.code, 0, both.stderr + both.stdout);
        assert.match(both.stdout, /^enable\/dns\/other-nodes-1: converged node-1$/m);
        assert.deepEqual(tree(2), tree2);
        assert.deepEqual(sb.cli(['status', '-a', 'dns']), { code: 0, stdout: 'enabled\n', stderr: '' });

        const self = sb.cli(['disable', 'dns', '--node', 'node-0']);
        assert.deepEqual([self.code, self.stderr], [2, 'mk8s-addons: error: disable --node names other nodes: node-0 is this node; to disable dns here and on every node, leave out --node\n']);
        const tree0 = tree(0);
        const tree1 = tree(1);
        const tree2b = tree(2);
        const dry = sb.cli(['disable', 'dns', '--node', 'node-2', '--dry-run', '--output', 'plain']);
        assert.equal(dry.code, 0, dry.stderr + dry.stdout);
        assert.match(dry.stdout, /^disable\/dns\/other-nodes: would undo dns's node steps on node-2$/m);
        assert.deepEqual([tree(0), tree(1), tree(2)], [tree0, tree1, tree2b]);
        const off2 = sb.cli(['disable', 'dns', '--node', 'node-2', '--output', 'plain']);
        assert.equal(off2.code, 0, off2.stderr + off2.stdout);
        assert.match(off2.stdout, /^disable\/dns\/other-nodes: undone on node-2$/m);
        assert.deepEqual([tree(0), tree(1), tree(2)], [tree0, tree1, before[2]]);
        assert.deepEqual(journalOf(2).addons, {});
        // Disable undoes every node the addon was converged on, node-1 (the second enable) included.
        const off = sb.cli(['disable', 'dns']);
        assert.equal(off.code, 0, off.stderr + off.stdout);
        for (const i of [0, 1, 2]) {
          assert.deepEqual(tree(i), before[i], `node-${i}`);
          assert.deepEqual(journalOf(i).addons, {}, `node-${i} journal`);
        }
      });
    }

    test('a 4th node joins later: the next enable converges it', async () => {
      const enable = sb.cli(cilium);
      assert.equal(enable.code, 0, enable.stderr);
      const up = sb.cli(['sandbox', 'up', '--dir', sb.dir, '--layout', era, '--nodes', '4']);
      assert.equal(up.code, 0, up.stderr);
      installRepository(3);
      const trees = [0, 1, 2].map(tree);
      const r = sb.cli(cilium);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^enable\/cilium\/other-nodes-1: converged node-3$/m);
      assert.deepEqual(journalOf(3).addons.cilium?.steps.map((s) => s.phase), expectedNodeSteps);
      assert.deepEqual([0, 1, 2].map(tree), trees);
      // The fan-out record now names node-3 too: disable undoes it there as well.
      const off = sb.cli(['disable', 'cilium', 'helm3']);
      assert.equal(off.code, 0, off.stderr + off.stdout);
      for (const i of [0, 1, 2, 3]) assert.deepEqual(journalOf(i).addons, {}, `node-${i} journal`);
    });

    function sbAddr(i: number): string {
      return JSON.parse(readFileSync(path.join(nodeDir(i), 'node.json'), 'utf8')).address as string;
    }
  });
}
