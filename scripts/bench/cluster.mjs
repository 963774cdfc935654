// Row 7, cluster: enable Cilium on fresh 1.20 sandbox clusters of 1, 3 and 10 MicroK8s nodes (issue 17).
// Every node but node-0 has its folder and a stand-in cluster agent; our repository is installed on each
// (1.20 has no $SNAP_COMMON/addons: the folder is made first, as the tests do). The node steps run on the
// other nodes through their agents, all nodes at once, so the wall time should grow far less than the
// node count: reported as the ratio to the 1-node enable of the same round, beside the node-count ratio,
// with the share of the fan-out steps (enable/*/other-nodes-*) in it. Ratios only, no timed assertion.
import { cli, eventsOf, installRepositories, fmt, log, median, rotatingRounds, sandboxUp, summary } from './lib.mjs';

export async function benchCluster({ nodes = [1, 3, 10], rounds = 1, version = 'cilium' } = {}) {
  const wall = new Map(nodes.map((n) => [n, []]));
  const fanOut = new Map(nodes.map((n) => [n, []]));
  const ratio = new Map(nodes.map((n) => [n, []]));
  const enableOn = async (n) => {
    const sb = await sandboxUp({ layout: '1.20', nodes: n, name: `cluster-${n}` });
    try {
      await installRepositories(sb, n);
      const r = await cli(['enable', version, '--output', 'json'], { env: sb.env, timeoutMs: 900_000 });
      if (eventsOf(r.stdout).at(-1)?.ok !== true) throw new Error(`enable on ${n} nodes failed: ${r.stdout.slice(-800)}`);
      // The fan-out steps' time (started -> done), summed.
      const starts = new Map();
      let fan = 0;
      for (const { line, at } of r.lines) {
        const m = /"phase":"(enable\/[^"]+\/other-nodes-\d+)","status":"(\w+)"/.exec(line);
        if (!m) continue;
        if (m[2] === 'started') starts.set(m[1], at);
        else if (starts.has(m[1])) fan += at - starts.get(m[1]);
      }
      return { ms: r.ms, fan };
    } finally {
      sb.down();
    }
  };
  await rotatingRounds({
    nodes,
    rounds,
    label: 'cluster',
    measure: enableOn,
    record: (n, x) => {
      wall.get(n).push(x.ms);
      fanOut.get(n).push(x.fan);
      log(`cluster: ${n} node(s): ${fmt(x.ms, 0)} ms, fan-out steps ${fmt(x.fan, 0)} ms`);
    },
    ratio: (n, x, first) => ratio.get(n).push(x.ms / first.ms),
  });
  const rows = nodes.map((n) => ({
    section: '7 cluster',
    name: `enable ${version} on ${n} MicroK8s node(s): wall time`,
    baseline: `the ${nodes[0]}-node enable of the same round`,
    unit: 'x',
    ratios: summary(ratio.get(n)),
    targetText: `far below ${n / nodes[0]}x (node count)`,
    verdictText: median(ratio.get(n)) < Math.max(1.5, (n / nodes[0]) * 0.5) ? 'ok' : 'GROWS',
    note: `${fmt(median(wall.get(n)), 0)} ms median, of which the fan-out steps ${fmt(median(fanOut.get(n)), 0)} ms`,
  }));
  return { rows };
}
