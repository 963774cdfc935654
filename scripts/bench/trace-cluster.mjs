// A traced `enable cilium` on a fresh 1.20 sandbox cluster (issue 17, row 7's detail): each step's start
// and duration from the run's JSON events, then what each other node's stand-in agent was asked, in order
// (probe; check/enable, the addon and its step count; the enables handed to it; the checks after it).
//   node scripts/bench/trace-cluster.mjs [--nodes N]    (default 3)
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cli, eventsOf, installRepositories, sandboxUp } from './lib.mjs';

const at = process.argv.indexOf('--nodes');
const nodes = at > 0 ? Number(process.argv[at + 1]) : 3;
if (!Number.isInteger(nodes) || nodes < 1) throw new Error('--nodes takes a whole number of nodes, 1 or more');
const sb = await sandboxUp({ layout: '1.20', nodes, name: `trace-${nodes}` });
const hms = (ms) => new Date(ms).toISOString().slice(11, 23);
try {
  await installRepositories(sb, nodes);
  const r = await cli(['enable', 'cilium', '--output', 'json'], { env: sb.env, timeoutMs: 900_000 });
  const t0 = r.lines[0]?.at ?? r.start;
  console.log(`started ${hms(r.start)}, first event ${hms(t0)} (+${(t0 - r.start).toFixed(0)} ms), ended ${hms(r.end)}: ${r.ms.toFixed(0)} ms, ok=${eventsOf(r.stdout).at(-1)?.ok}`);
  const starts = new Map();
  for (const { line, at: when } of r.lines) {
    const m = /"phase":"([^"]+)","status":"(\w+)"/.exec(line);
    if (!m) continue;
    if (m[2] === 'started') starts.set(m[1], when);
    else if (starts.has(m[1])) console.log(`${(starts.get(m[1]) - t0).toFixed(0).padStart(6)} +${(when - starts.get(m[1])).toFixed(0).padStart(5)} ms  ${m[1]} ${m[2]}`);
  }
  const words = (name) => {
    const payload = name.split(':')[1];
    if (!payload) return name;
    const q = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const runs = q.action === 'check' ? [q, ...(q.checks ?? [])] : [q];
    return `${q.action} ${runs.map((c) => `${c.addon}#${c.steps.length}`).join(' ')}${q.before?.length ? ` after ${q.before.map((b) => b.addon).join(', ')}` : ''}${q.action === 'enable' && q.checks?.length ? ` then check ${q.checks.map((c) => `${c.addon}#${c.steps.length}`).join(' ')}` : ''}`;
  };
  for (let i = 1; i < nodes; i++) {
    const file = path.join(sb.dir, 'nodes', `node-${i}`, 'configure-requests.jsonl');
    if (!existsSync(file)) continue;
    console.log(`node-${i} (each request when its answer was logged):`);
    for (const l of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
      const q = JSON.parse(l);
      const parts = [...(q.service ?? []).map((s) => s.name), ...(q.addon ?? []).map((a) => words(a.name))];
      console.log(`  ${q.at.slice(11, 23)} ${parts.length ? parts.join('; ') : 'probe'}`);
    }
  }
} finally {
  sb.down();
}
