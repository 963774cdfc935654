// Row 6, datapath: the real Cilium agent on a fresh sandbox (--agent real, layout 1.20). Per run, on a new
// sandbox: the time from `enable cilium` (1.20.0) starting to `mk8s-addons datapath --netns` judging the
// node's datapath complete, and beside it the floor, the agent's own start (its process's start time) to
// the first program the kernel shows attached in the node's namespace (scripts/tcx-query.py, polled every
// 50 ms). The ratio says how much our pipeline (helm, waits, node steps, the CLI copy) adds to what the
// agent itself needs.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { CLI, ROOT, cleanEnv, cli, fmt, log, now, sandboxUp, summary } from './lib.mjs';

const HZ = 100; // USER_HZ: /proc/PID/stat's start time is in these ticks since boot
const bootTime = () => Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]) * 1000;
const startedAt = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return bootTime() + (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) * 1000) / HZ;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function oneRun() {
  const sb = await sandboxUp({ layout: '1.20', name: 'datapath', agent: 'real' });
  try {
    const netns = JSON.parse(readFileSync(path.join(sb.dir, 'sandbox.json'), 'utf8')).netns;
    let agentStart;
    let firstProgram;
    let stop = false;
    // The floor, watched from outside: the agent's pid (the kubelet records it) and the first attachment.
    const watcher = (async () => {
      while (!stop && firstProgram === undefined) {
        if (agentStart === undefined) {
          try {
            const agent = JSON.parse(readFileSync(path.join(sb.dir, 'node', 'kubelet.json'), 'utf8')).agents[0];
            if (agent) agentStart = startedAt(agent.pid);
          } catch {
            // not yet
          }
        } else {
          const q = spawnSync('ip', ['netns', 'exec', netns, 'python3', path.join(ROOT, 'scripts', 'tcx-query.py')], { encoding: 'utf8' });
          if (JSON.parse(q.stdout || '{"attachments":[]}').attachments.length > 0) firstProgram = now();
        }
        await sleep(50);
      }
    })();
    const t0 = now();
    const enable = await cli(['enable', 'cilium', '--output', 'json'], { env: sb.env, timeoutMs: 300_000 });
    let complete;
    for (let i = 0; i < 600 && complete === undefined; i++) {
      const r = spawnSync(process.execPath, [CLI, 'datapath', '--netns', netns, '--output', 'json'], { encoding: 'utf8', env: cleanEnv(sb.env) });
      if (r.status === 0) complete = now();
      else await sleep(100);
    }
    stop = true;
    await watcher;
    if (complete === undefined || agentStart === undefined || firstProgram === undefined) throw new Error(`datapath never complete (enable took ${fmt(enable.ms, 0)} ms)`);
    return { toComplete: complete - t0, enable: enable.ms, floor: firstProgram - agentStart };
  } finally {
    sb.down();
  }
}

export async function benchDatapath({ runs = 3 } = {}) {
  const got = [];
  for (let i = 0; i < runs; i++) {
    const r = await oneRun();
    got.push(r);
    log(`datapath: run ${i + 1}: enable -> complete ${fmt(r.toComplete, 0)} ms (enable itself ${fmt(r.enable, 0)} ms); agent start -> first program ${fmt(r.floor, 0)} ms`);
  }
  const ratios = got.map((r) => r.toComplete / r.floor);
  return {
    rows: [
      {
        section: '6 datapath',
        name: 'enable cilium (1.20, real agent) to datapath complete, fresh sandbox 1.20',
        baseline: "the agent's own start to its first program attached",
        unit: 'x',
        ratios: summary(ratios),
        mine: summary(got.map((r) => r.toComplete)),
        base: summary(got.map((r) => r.floor)),
        note: `medians: enable -> complete ${fmt(summary(got.map((r) => r.toComplete)).median, 0)} ms (the enable command ${fmt(summary(got.map((r) => r.enable)).median, 0)} ms), agent start -> first program ${fmt(summary(got.map((r) => r.floor)).median, 0)} ms`,
      },
    ],
  };
}
