// Row 5, scale: enable Cilium on fresh 1.20 sandboxes with 1, 10 and 50 fake nodes.
// - Wall time, as a ratio to the 1-node enable of the same round (the node counts take turns going first).
// - Kubernetes API requests per enable, from the apiserver itself: apiserver_request_total (GET /metrics as
//   admin) before and after the enable, minus the idle control plane's rate (controllers, kwok) measured
//   just before on the same sandbox and scaled to the enable's duration. This still counts what the
//   controllers and kwok do *because of* the enable (one pod per node, its binding and status), so:
// - requests by client, through a counting proxy (lib.mjs countingProxy) in a separate pass: mk8s-addons'
//   own client, helm and kubectl. These must not grow with the number of nodes.
import path from 'node:path';
import { apiserverRequests, countingProxy, cli, eventsOf, fmt, log, median, rotatingRounds, sandboxUp, summary } from './lib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function benchScale({ nodes = [1, 10, 50], rounds = 2, version = 'cilium', budgetMs = 900_000 } = {}) {
  const args = ['enable', version, ...(/^cilium:v?1\.(8|9)\b/.test(version) ? ['--force'] : []), '--output', 'json'];
  const wall = new Map(nodes.map((n) => [n, []]));
  const requests = new Map(nodes.map((n) => [n, []]));
  const idleRates = new Map(nodes.map((n) => [n, []]));
  const wallRatio = new Map(nodes.map((n) => [n, []]));
  const rolloutMs = new Map(nodes.map((n) => [n, []]));
  const until = Date.now() + budgetMs;
  const enableOn = async (n) => {
    const sb = await sandboxUp({ layout: '1.20', nodes: 1, kwokNodes: n - 1, name: `scale-${n}` });
    try {
      // The control plane settles (node heartbeats, first controller syncs) before the idle interval.
      await sleep(2000);
      const idleMs = Math.max(3000, median(wall.get(n)) || 4000);
      const i0 = await apiserverRequests(sb.cp);
      const t0 = Date.now();
      await sleep(idleMs);
      const i1 = await apiserverRequests(sb.cp);
      const rate = (i1.total - i0.total) / (Date.now() - t0);
      const m0 = await apiserverRequests(sb.cp);
      const r = await cli(args, { env: sb.env, timeoutMs: 600_000 });
      const m1 = await apiserverRequests(sb.cp);
      if (eventsOf(r.stdout).at(-1)?.ok !== true) throw new Error(`enable on ${n} nodes failed: ${r.stdout.slice(-800)}`);
      // The rollout step's share of the wall time (started -> done event), where more nodes mean more pods.
      const at = (status) => r.lines.find(({ line }) => line.includes('"phase":"enable/cilium/rollout"') && line.includes(`"status":"${status}"`))?.at;
      const rollout = (at('done') ?? at('skipped') ?? NaN) - (at('started') ?? NaN);
      return { ms: r.ms, requests: m1.total - m0.total - rate * r.ms, rate, rollout };
    } finally {
      sb.down();
    }
  };
  await rotatingRounds({
    nodes,
    rounds,
    until,
    label: 'scale',
    measure: enableOn,
    record: (n, x) => {
      wall.get(n).push(x.ms);
      requests.get(n).push(x.requests);
      idleRates.get(n).push(x.rate * 1000);
      rolloutMs.get(n).push(x.rollout);
      log(`scale: ${n} node(s): ${fmt(x.ms, 0)} ms, ${fmt(x.requests, 0)} requests over idle (idle ${fmt(x.rate * 1000, 1)}/s)`);
    },
    ratio: (n, x, first) => wallRatio.get(n).push(x.ms / first.ms),
  });


  // The counting pass: who makes the requests (one enable per node count, through the proxy).
  const byClient = new Map();
  for (const n of nodes) {
    log(`scale: counting pass, ${n} node(s)`);
    const sb = await sandboxUp({ layout: '1.20', nodes: 1, kwokNodes: n - 1, name: `count-${n}` });
    const proxy = await countingProxy(sb.cp);
    try {
      const kubeconfig = proxy.kubeconfig(path.join(sb.dir, 'counted.kubeconfig'));
      const r = await cli([...args, '--kubeconfig', kubeconfig], { env: sb.env, timeoutMs: 600_000 });
      if (eventsOf(r.stdout).at(-1)?.ok !== true) throw new Error(`counted enable on ${n} nodes failed: ${r.stdout.slice(-800)}`);
      byClient.set(n, { total: proxy.counts.total, byClient: { ...proxy.counts.byClient }, byRequest: { ...proxy.counts.byRequest } });
    } finally {
      await proxy.close();
      sb.down();
    }
  }

  const counted = nodes.map((n) => byClient.get(n).total);
  const flat = Math.max(...counted) <= Math.min(...counted) * 1.1 + 2;
  const rows = [];
  for (const n of nodes) {
    rows.push({
      section: '5 scale',
      name: `enable ${version}, ${n} node(s): wall time`,
      baseline: `the ${nodes[0]}-node enable of the same round`,
      unit: 'x',
      ratios: summary(wallRatio.get(n)),
      note: `${fmt(median(wall.get(n)), 0)} ms median, of which the rollout step ${fmt(median(rolloutMs.get(n)), 0)} ms`,
    });
  }
  for (const n of nodes) {
    rows.push({
      section: '5 scale',
      name: `enable ${version}, ${n} node(s): API requests`,
      baseline: 'apiserver_request_total - idle rate x duration',
      unit: 'req',
      ratios: summary(requests.get(n)),
      note: `idle ${fmt(median(idleRates.get(n)), 1)} req/s subtracted; includes the controllers' and kwok's work for ${n} agent pod(s)`,
    });
  }
  for (const n of nodes) {
    const c = byClient.get(n);
    rows.push({
      section: '5 scale',
      name: `enable ${version}, ${n} node(s): requests by mk8s-addons + helm`,
      baseline: 'counting proxy, by User-Agent',
      unit: 'req',
      ratios: summary([c.total]),
      targetText: 'flat in nodes',
      verdictText: flat ? 'ok' : 'GROWS',
      note: Object.entries(c.byClient)
        .map(([k, v]) => `${k === 'node-fetch' ? 'mk8s-addons (node-fetch)' : k} ${v}`)
        .join(', '),
    });
  }
  const last = nodes.at(-1);
  const details = `scale: requests through the proxy, by verb and resource (${last} nodes): ${Object.entries(byClient.get(last).byRequest)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}\n`;
  return { rows, details };
}
