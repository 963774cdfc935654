/**
 * Argument edits and restarts on the other nodes through MicroK8s's `configure` (issue 17): on a 3-node
 * sandbox of each era, `enable dns` changes node-1's and node-2's kubelet args with `service` entries
 * (`arguments_update`, one `restart`), no hook run there for the apply; the previous values are in
 * node-0's journal, so a re-run changes and restarts nothing, a hand edit on one node is reported as
 * drift and repaired with only that node restarted, disable gives every node back byte for byte, and a
 * node whose agent goes away after changing the node is rolled back with the rest.
 *
 * What each stand-in agent was asked is read from its request log (NODE_DIR/configure-requests.jsonl).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readServiceLog } from '../../src/engine/services.js';
import { decodeNodeRequest, NODE_ADDON } from '../../src/cluster/payload.js';
import { clusterNodes } from '../support/cluster.js';
import { useSandbox, type TestSandbox } from '../support/sandbox.js';

interface Logged {
  service: { name: string; arguments_update?: Record<string, string>[]; arguments_remove?: string[]; restart?: boolean }[];
  addon: { name: string; enable: boolean }[];
}

for (const era of ['1.20', '1.35'] as const) {
  describe(`args and restarts through configure on a 3-node ${era} cluster`, () => {
    const sandbox = useSandbox(era, { nodes: 3, name: `configure-${era}` });
    let sb: TestSandbox;
    const { nodeDir, dataOf, tree, installRepository } = clusterNodes(() => sb);
    const journalOf = (i: number) => {
      const file = path.join(dataOf(i), 'var', 'mk8s-addons', 'journal.json');
      return (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { addons: {}, operation: null }) as { addons: Record<string, { steps: { phase: string; record: Record<string, unknown> }[] }>; operation: unknown };
    };
    const kubeletArgs = (i: number) => readFileSync(path.join(dataOf(i), 'args', 'kubelet'), 'utf8');
    const restarts = async (i: number) => (await readServiceLog(nodeDir(i))).map((e) => `${e.action} ${e.daemon}`);
    /** Each request a node's agent got, in words: `probe`, `hook check`, `kubelet --flag=value restart`, ... */
    const requests = (i: number): string[] => {
      const file = path.join(nodeDir(i), 'configure-requests.jsonl');
      if (!existsSync(file)) return [];
      return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => {
        const r = JSON.parse(l) as Logged;
        const words = [
          ...r.service.map((s) => [s.name, ...(s.arguments_update ?? []).flatMap((m) => Object.entries(m).map(([k, v]) => `${k}=${v}`)), ...(s.arguments_remove ?? []).map((f) => `-${f}`), ...(s.restart ? ['restart'] : [])].join(' ')),
          ...r.addon.map((a) => (a.name.startsWith(`${NODE_ADDON}:`) ? `hook ${decodeNodeRequest(a.name.slice(NODE_ADDON.length + 1)).action}` : a.name)),
        ];
        return words.length ? words.join('; ') : 'probe';
      });
    };
    const kubelet = era === '1.20' ? 'kubelet' : 'kubelite';
    const trees0: Record<string, string>[] = [];
    const args0: string[] = [];

    before(() => {
      sb = sandbox();
      for (const i of [0, 1, 2]) {
        // The node-local check runs our repository's hook on each node.
        installRepository(i);
        trees0.push(tree(i));
        args0.push(kubeletArgs(i));
      }
    });

    test('enable dns: the other nodes\' kubelet args change through configure (service entries, one restart), no hook run for the apply; a re-run changes and restarts nothing', async () => {
      const seen = [1, 2].map(requests);
      const logs = await Promise.all([1, 2].map(restarts));
      const r = sb.cli(['enable', 'dns', '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^enable\/dns\/other-nodes-1: converged node-1, node-2$/m);
      for (const i of [1, 2]) {
        assert.deepEqual(requests(i).slice(seen[i - 1]?.length), ['probe', 'hook check', `kubelet --cluster-domain=cluster.local; kubelet --cluster-dns=10.152.183.10 restart`], `node-${i}`);
        assert.equal(kubeletArgs(i), `${args0[i]}--cluster-domain=cluster.local\n--cluster-dns=10.152.183.10\n`);
        assert.deepEqual((await restarts(i)).slice(logs[i - 1]?.length), [`restart ${kubelet}`], `node-${i}`);
        // Nothing ran there but the agent: no journal entry of the node's own.
        assert.deepEqual(journalOf(i).addons, {}, `node-${i} journal`);
      }
      // node-0 journals what configure changed on each node, with the previous values (absent: null).
      const fanOut = journalOf(0).addons.dns?.steps.find((s) => s.phase === 'enable/dns/other-nodes-1');
      const change = (flag: string, to: string) => ({ service: 'kubelet', flag, from: null, to, daemon: kubelet });
      assert.deepEqual(fanOut?.record, {
        addon: 'dns',
        spec: ['dns'],
        nodes: ['node-1', 'node-2'],
        fresh: ['node-1', 'node-2'],
        args: Object.fromEntries(['node-1', 'node-2'].map((n) => [n, [change('--cluster-domain', 'cluster.local'), change('--cluster-dns', '10.152.183.10')]])),
        hooked: [],
      });

      const trees = [0, 1, 2].map(tree);
      const logs2 = await Promise.all([0, 1, 2].map(restarts));
      const seen2 = [1, 2].map(requests);
      const again = sb.cli(['enable', 'dns', '--output', 'plain']);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^0 step\(s\) changed the node; service restarts: none$/m);
      assert.deepEqual([0, 1, 2].map(tree), trees);
      assert.deepEqual(await Promise.all([0, 1, 2].map(restarts)), logs2);
      for (const i of [1, 2]) assert.deepEqual(requests(i).slice(seen2[i - 1]?.length), ['probe', 'hook check'], `node-${i}`);
    });

    test('a kubelet arg hand-edited on node-2: status names node-2 drifted; enable repairs node-2 only, one restart there; disable gives every node back byte for byte', async () => {
      writeFileSync(path.join(dataOf(2), 'args', 'kubelet'), kubeletArgs(2).replace('--cluster-dns=10.152.183.10', '--cluster-dns=10.0.0.99'));
      const st = sb.cli(['status', '-a', 'dns']);
      assert.deepEqual([st.code, st.stdout], [1, 'degraded\n']);
      assert.match(st.stderr, /node-2 drifted: enable\/dns\/kubelet-cluster-dns, enable\/dns\/kubelet-restart; run mk8s-addons enable dns again/);
      const dry = sb.cli(['enable', 'dns', '--dry-run', '--output', 'plain']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, new RegExp(`node-2: enable/dns/kubelet-cluster-dns, enable/dns/kubelet-restart \\(configure: kubelet --cluster-dns=10\\.152\\.183\\.10; restart ${kubelet}\\)`));

      const tree1 = tree(1);
      const logs = await Promise.all([1, 2].map(restarts));
      const seen = [1, 2].map(requests);
      const r = sb.cli(['enable', 'dns', '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^enable\/dns\/other-nodes-1: converged node-2$/m);
      assert.equal(kubeletArgs(2), `${args0[2]}--cluster-domain=cluster.local\n--cluster-dns=10.152.183.10\n`);
      assert.deepEqual(tree(1), tree1);
      assert.deepEqual(await restarts(1), logs[0]);
      assert.deepEqual((await restarts(2)).slice(logs[1]?.length), [`restart ${kubelet}`]);
      assert.deepEqual(requests(2).slice(seen[1]?.length), ['probe', 'hook check', `kubelet --cluster-dns=10.152.183.10 restart`]);
      assert.deepEqual(sb.cli(['status', '-a', 'dns']), { code: 0, stdout: 'enabled\n', stderr: '' });

      // Disable: each node's flags removed as they were absent before the first enable, one restart each.
      const seen2 = [1, 2].map(requests);
      const off = sb.cli(['disable', 'dns', '--output', 'plain']);
      assert.equal(off.code, 0, off.stderr + off.stdout);
      for (const i of [0, 1, 2]) assert.deepEqual(tree(i), trees0[i], `node-${i}`);
      for (const i of [1, 2]) assert.deepEqual(requests(i).slice(seen2[i - 1]?.length), [`kubelet ---cluster-dns; kubelet ---cluster-domain restart`], `node-${i}`);
      assert.deepEqual(journalOf(0).addons, {});
    });

    test('node-2\'s agent goes away after changing its args (the answer lost): the run fails naming node-2 and every node, node-2 included, is rolled back byte for byte', async () => {
      writeFileSync(path.join(nodeDir(2), 'drop-next-service-answer'), '');
      const logs = await Promise.all([1, 2].map(restarts));
      const r = sb.cli(['enable', 'dns', '--output', 'plain']);
      assert.equal(r.code, 1, r.stderr + r.stdout);
      const addr = (JSON.parse(readFileSync(path.join(nodeDir(2), 'node.json'), 'utf8')) as { address: string }).address;
      // The last line (the renderer shows the failed step above it).
      assert.equal(
        r.stderr.trimEnd().split('\n').pop(),
        `mk8s-addons: error in phase enable/dns/other-nodes-1: node node-2 (${addr}:25000): its cluster agent cannot be reached (ECONNRESET); check that MicroK8s runs there (microk8s status on that node) and that port 25000 is open, or remove the node from the cluster (microk8s remove-node node-2) (rolled back)`,
      );
      assert.match(r.stdout, /^✔ rollback: undo enable\/dns\/other-nodes-1$/m);
      for (const i of [0, 1, 2]) assert.deepEqual(tree(i), trees0[i], `node-${i}`);
      // Changed, then put back: two restarts on each other node.
      for (const i of [1, 2]) assert.deepEqual((await restarts(i)).slice(logs[i - 1]?.length), [`restart ${kubelet}`, `restart ${kubelet}`], `node-${i}`);
      assert.deepEqual(journalOf(0).addons, {});
      assert.equal(journalOf(0).operation, null);
    });

    // cilium's first node steps: kube-apiserver's --allow-privileged, then containerd's files and flannel.
    // node-1 lacks the flag. 1.20's agent writes its kube-apiserver args exactly as the step would (its
    // blank line kept): one configure, the args and the restart before the hook run (service before addon).
    // 1.21+'s agent would drop that blank line: the hook run sets the flag, with its exact undo.
    test(`enable cilium with node-1's kube-apiserver lacking --allow-privileged: ${era === '1.20' ? 'set through configure before the hook run, in one request' : 'set by the hook run (the Go agent would drop the file\'s blank line)'}; every node converges; disable gives every node back byte for byte`, async () => {
      const apiserver = path.join(dataOf(1), 'args', 'kube-apiserver');
      writeFileSync(apiserver, readFileSync(apiserver, 'utf8').replace('--allow-privileged=true\n', ''));
      const before = [0, 1, 2].map(tree);
      const seen = requests(1).length;
      const logs = await restarts(1);
      const r = sb.cli(['enable', 'cilium', '--output', 'plain']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(r.stdout, /^enable\/cilium\/other-nodes-1: converged node-1, node-2$/m);
      assert.match(readFileSync(apiserver, 'utf8'), /^--allow-privileged=true$/m);
      const asked = requests(1).slice(seen);
      const fresh = (await restarts(1)).slice(logs.length);
      if (era === '1.20') {
        assert.ok(asked.includes('kube-apiserver --allow-privileged=true restart; hook enable'), asked.join('\n'));
        assert.equal(journalOf(1).addons.cilium?.steps.some((s) => s.phase === 'enable/cilium/allow-privileged'), false);
        assert.deepEqual(fresh, ['restart apiserver', 'restart containerd', 'stop flanneld']);
      } else {
        assert.deepEqual(asked.filter((a) => !a.startsWith('hook') && a !== 'probe'), []);
        assert.equal(journalOf(1).addons.cilium?.steps.some((s) => s.phase === 'enable/cilium/allow-privileged'), true);
        assert.deepEqual([...fresh].sort(), ['restart containerd', 'restart kubelite']);
      }
      // node-2 had the flag: the hook run only, no service entries.
      assert.ok(requests(2).every((a) => !a.includes('--allow-privileged')));
      const off = sb.cli(['disable', 'cilium', 'helm3', '--output', 'plain']);
      assert.equal(off.code, 0, off.stderr + off.stdout);
      for (const i of [0, 1, 2]) assert.deepEqual(tree(i), before[i], `node-${i}`);
    });
  });
}
