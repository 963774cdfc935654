// How long the main thread waits (idle) before a dry-run starts its first child process (`helm template`
// on a cold check cache): what starting a request earlier (e.g. the version read at the very top of the
// CLI) could at most take off the critical path, since only waiting can be overlapped.
//
//   node scripts/bench/idle-before-spawn.mjs [--runs 5]     (env: a node's SNAP, SNAP_DATA, ..., KUBECONFIG)
//
// Each run: a fresh check cache, `node --cpu-prof --cpu-prof-interval 100` of the shipped CLI's
// `enable cilium:v1.8 --dry-run --force --output json`; from the profile, busy and idle ms from the
// profile's start to the first sample in ChildProcess.spawn.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, cleanEnv, timed } from './lib.mjs';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 5) || 5;
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mk8s-idle-'));
  try {
    const args = ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval', '100', CLI, 'enable', 'cilium:v1.8', '--dry-run', '--force', '--output', 'json'];
    const r = await timed(process.execPath, args, { env: cleanEnv({ MK8S_ADDONS_CHECK_CACHE: path.join(dir, 'checks') }) });
    if (!r.stdout.includes('"type":"result","ok":true') || !r.stdout.includes('"dryRun":true') || r.stdout.includes('"type":"plan"') === false) {
      throw new Error(`not a dry-run on a node (give SNAP, SNAP_DATA, SNAP_COMMON, KUBECONFIG of one): ${r.stdout.slice(-300)}`);
    }
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    const p = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    let t = 0;
    let idle = 0;
    let busy = 0;
    for (let s = 0; s < p.samples.length; s++) {
      const dt = p.timeDeltas[s] / 1000;
      t += dt;
      const fn = nodes.get(p.samples[s]).callFrame.functionName;
      if (fn === 'ChildProcess.spawn') break;
      if (fn === '(idle)') idle += dt;
      else busy += dt;
    }
    console.log(`run ${i + 1}: first spawn ${t.toFixed(1)} ms after the profile's start: main thread busy ${busy.toFixed(1)} ms, idle ${idle.toFixed(1)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
