// Row 4, enable: `enable cilium:v1.8 --force` on a fresh 1.20 sandbox against the same end state reached
// the way MicroK8s 1.20's script did it (microk8s-1.20-enable-cilium.mjs) on an identical fresh sandbox,
// alternating which goes first; each pair gets two new sandboxes, brought up together before the timing
// and taken down after it.
// And the rollout-notice delay: the bench process watches the pods, the DaemonSet and the Deployment itself
// and timestamps (ms) when the last agent pod turns Ready, when the DaemonSet / Deployment status says
// rolled out, and when mk8s-addons' `done` event of enable/cilium/rollout arrives on its stdout.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, eventsOf, fmt, log, median, sandboxesUp, summary, timed, watch, ciliumValuesFile, cleanEnv } from './lib.mjs';
import { timeline } from './report.mjs';
import { childTimeline, importCensus, printChildren, printCensus, printProfile, profileCli } from './profile.mjs';
import { ENABLE_ARGS } from './noop.mjs';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'microk8s-1.20-enable-cilium.mjs');
const ROLLOUT = 'enable/cilium/rollout';

const isReady = (pod) => (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

/** The same readiness rule as mk8s-addons' rolloutState (src/adapters/kube.ts). */
function rolledOut(kind, o) {
  if (!o || (o.status?.observedGeneration ?? 0) < (o.metadata?.generation ?? 0)) return false;
  if (kind === 'DaemonSet') {
    const want = o.status?.desiredNumberScheduled ?? 0;
    return want > 0 && (o.status?.updatedNumberScheduled ?? 0) >= want && (o.status?.numberAvailable ?? 0) >= want;
  }
  const want = o.spec?.replicas ?? 1;
  const updated = o.status?.updatedReplicas ?? 0;
  return updated >= want && (o.status?.replicas ?? 0) <= updated && (o.status?.availableReplicas ?? 0) >= want;
}

/** Watches kube-system from the bench process; returns the timestamps it saw and stop(). */
export async function watchRollout(cp) {
  const seen = { agentReady: new Map(), operatorReady: new Map(), dsReady: undefined, deployReady: undefined };
  const ns = '/api/v1/namespaces/kube-system';
  const apps = '/apis/apps/v1/namespaces/kube-system';
  const watches = await Promise.all([
    watch(cp, `${ns}/pods`, (type, pod, at) => {
      if (type === 'BOOKMARK' || type === 'DELETED' || !isReady(pod)) return;
      const labels = pod.metadata?.labels ?? {};
      const which = labels['k8s-app'] === 'cilium' ? seen.agentReady : labels['io.cilium/app'] === 'operator' || labels.name === 'cilium-operator' ? seen.operatorReady : undefined;
      if (which && !which.has(pod.metadata.name)) which.set(pod.metadata.name, at);
    }),
    watch(cp, `${apps}/daemonsets`, (type, o, at) => {
      if (o?.metadata?.name === 'cilium' && seen.dsReady === undefined && rolledOut('DaemonSet', o)) seen.dsReady = at;
    }),
    watch(cp, `${apps}/deployments`, (type, o, at) => {
      if (o?.metadata?.name === 'cilium-operator' && seen.deployReady === undefined && rolledOut('Deployment', o)) seen.deployReady = at;
    }),
  ]);
  return { seen, stop: () => watches.forEach((w) => w.stop()) };
}

/** Delays (ms) from one run: last agent Ready -> done event, and the parts in between. */
export function rolloutDelays(run, seen) {
  const done = run.lines.find(({ line }) => line.includes(`"phase":"${ROLLOUT}"`) && /"status":"(done|skipped)"/.test(line));
  const started = run.lines.find(({ line }) => line.includes(`"phase":"${ROLLOUT}"`) && line.includes('"status":"started"'));
  if (!done || seen.agentReady.size === 0) return undefined;
  const lastAgent = Math.max(...seen.agentReady.values());
  const lastOperator = seen.operatorReady.size ? Math.max(...seen.operatorReady.values()) : undefined;
  const statusReady = Math.max(seen.dsReady ?? -Infinity, seen.deployReady ?? -Infinity);
  return {
    status: JSON.parse(done.line).status,
    delay: done.at - lastAgent,
    // How long the controllers took to write a "rolled out" status after the last pod turned Ready.
    statusLag: Number.isFinite(statusReady) ? statusReady - Math.max(lastAgent, lastOperator ?? -Infinity) : NaN,
    // mk8s-addons' own part: from the later of the two statuses to its done event.
    notice: Number.isFinite(statusReady) ? done.at - statusReady : NaN,
    operatorAfterAgent: lastOperator === undefined ? NaN : lastOperator - lastAgent,
    // Whether the rollout step was already waiting when the last agent pod turned Ready (positive) or
    // started only after it (negative: the wait itself was not on the critical path).
    stepWaiting: started ? lastAgent - started.at : NaN,
  };
}

export async function benchEnable({ pairs = 4, budgetMs = 600_000, profile = false } = {}) {
  const ratios = [];
  const mine = [];
  const base = [];
  const runs = [];
  const delays = [];
  const scriptPhases = [];
  const until = Date.now() + budgetMs;
  for (let i = 0; i < pairs && (i < 2 || Date.now() < until); i++) {
    log(`enable: pair ${i + 1}/${pairs}: two fresh sandboxes`);
    const [a, b] = await sandboxesUp([{ layout: '1.20', name: 'enable-mk8s' }, { layout: '1.20', name: 'enable-script' }]);
    try {
      const { chart, file } = await ciliumValuesFile(b, '1.8.13', path.join(b.dir, 'bench-values-1.8.13.json'));
      const ours = async () => {
        const w = await watchRollout(a.cp);
        try {
          const r = await cli(ENABLE_ARGS, { env: a.env, timeoutMs: 300_000 });
          const result = eventsOf(r.stdout).at(-1);
          if (result?.ok !== true) throw new Error(`enable failed: ${r.stdout.slice(-800)}`);
          // Let the watches deliver what is still in flight before reading them.
          await new Promise((res) => setTimeout(res, 200));
          const d = rolloutDelays(r, w.seen);
          if (d) delays.push(d);
          return r;
        } finally {
          w.stop();
        }
      };
      const script = async () => {
        const r = await timed(process.execPath, [SCRIPT, '--dir', b.dir, '--values', file, '--chart', chart], { env: cleanEnv(), timeoutMs: 600_000 });
        scriptPhases.push(JSON.parse(r.stderr.trim().split('\n').at(-1)).phases);
        return r;
      };
      let m;
      let s;
      if (i % 2) {
        s = await script();
        m = await ours();
      } else {
        m = await ours();
        s = await script();
      }
      runs.push(m);
      mine.push(m.ms);
      base.push(s.ms);
      ratios.push(m.ms / s.ms);
      log(`enable: pair ${i + 1}: ${fmt(m.ms, 0)} ms vs ${fmt(s.ms, 0)} ms`);
    } finally {
      a.down();
      b.down();
    }
  }
  const d = (k) => summary(delays.map((x) => x[k]).filter(Number.isFinite));
  const rows = [
    {
      section: '4 enable',
      name: 'enable cilium:v1.8 --force, fresh sandbox 1.20',
      baseline: "MicroK8s 1.20's script (restarts, helm template, kubectl apply, rollout status)",
      unit: 'x',
      target: 0.6,
      ratios: summary(ratios),
      mine: summary(mine),
      base: summary(base),
    },
    {
      section: '4 enable',
      name: 'last agent pod Ready -> rollout `done` event',
      baseline: 'pod watch in the bench process',
      unit: 'ms',
      target: 250,
      ratios: d('delay'),
      note: delays.length
        ? `medians: controllers' status lag (last pod Ready -> DaemonSet and Deployment status rolled out) ${fmt(d('statusLag').median, 0)} ms, then mk8s-addons' own notice (status -> done event on stdout) ${fmt(d('notice').median, 0)} ms; operator pod Ready at agent ${d('operatorAfterAgent').median >= 0 ? '+' : ''}${fmt(d('operatorAfterAgent').median, 0)} ms; the rollout step had been waiting ${fmt(d('stepWaiting').median, 0)} ms when the last agent pod turned Ready; step events ${delays.map((x) => x.status).join('/')}`
        : 'no run had a rollout wait to time',
    },
  ];
  const phaseNames = scriptPhases.length ? Object.keys(scriptPhases[0]) : [];
  let details = `enable: where mk8s-addons' time goes (median over ${runs.length} runs, from its JSON events):\n${timeline(runs)}`;
  details += `enable: where the 1.20 script's time goes (median ms over ${scriptPhases.length} runs): ${phaseNames.map((p) => `${p} ${fmt(median(scriptPhases.map((x) => x[p])), 0)}`).join(', ')}\n`;
  if (profile || rows[0].ratios.median > rows[0].target || rows[1].ratios.median > rows[1].target) {
    // Two more fresh sandboxes: one for the CPU profile, one for the process timeline (strace).
    const [p, t] = await sandboxesUp([{ layout: '1.20', name: 'enable-profile' }, { layout: '1.20', name: 'enable-trace' }]);
    try {
      details += `\n${printProfile(`profile: mk8s-addons ${ENABLE_ARGS.join(' ')} (fresh sandbox)`, await profileCli(ENABLE_ARGS, { env: p.env }))}`;
      details += printChildren('processes started by an enable on a fresh sandbox', await childTimeline(ENABLE_ARGS, { env: t.env }));
      details += printCensus('modules loaded by the enable (now a re-run)', await importCensus(ENABLE_ARGS, { env: p.env }));
    } finally {
      p.down();
      t.down();
    }
  }
  return { rows, details };
}
