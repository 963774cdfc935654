#!/usr/bin/env node
// Start-up cost, measured side by side: `mk8s-addons --version | --help | list` (and, for information,
// `enable cilium:v1.8 --dry-run` with no node) against a bare `node -e 0`, alternating in one run, so
// machine noise hits both sides alike. Part of `npm run bench` (scripts/bench/run.mjs); alone:
//   node scripts/bench/startup.mjs [--runs N]
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { CLI, ROOT, cleanEnv, median, summary } from './lib.mjs';

// `list` reads the catalogue from dist/catalogue-cache.json when the manifests are the ones it was written
// for; a miss (a manifest edited, or another catalogue such as the tests' MK8S_ADDONS_ADDONS_DIR loaded in
// between: the cache has one slot) parses and validates them again, and rewrites the file. Counted per run.
const CACHE = path.join(ROOT, 'dist', 'catalogue-cache.json');
const cacheStamp = () => {
  try {
    return statSync(CACHE).mtimeMs;
  } catch {
    return 0;
  }
};

function time(args) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv({ SNAP_DATA: '/nonexistent-mk8s-bench' }) });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  // `--help` and `list` exit 0; anything else is a broken build, not a timing.
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

export const STARTUP_CASES = [
  { name: 'mk8s-addons --version', args: [CLI, '--version'], target: 1.3 },
  { name: 'mk8s-addons --help', args: [CLI, '--help'], target: 1.3 },
  { name: 'mk8s-addons list', args: [CLI, 'list'], target: 1.3 },
  { name: 'enable cilium:v1.8 --dry-run (no node)', args: [CLI, 'enable', 'cilium:v1.8', '--dry-run'] },
];

/**
 * Rows { section, name, baseline, target, ratios, mine, base } for the start-up cases: `runs` alternating
 * pairs each (which side goes first alternates too), after 3 warm-up pairs; at most `budgetMs` per case.
 */
export function benchStartup({ runs = 30, budgetMs = 60_000 } = {}) {
  const baseline = ['-e', '0'];
  for (let i = 0; i < 3; i++) {
    for (const c of STARTUP_CASES) {
      time(c.args);
      time(baseline);
    }
  }
  const rows = [];
  for (const c of STARTUP_CASES) {
    const ratios = [];
    const mine = [];
    const base = [];
    let misses = 0;
    const until = Date.now() + budgetMs;
    for (let i = 0; i < runs && (i < 5 || Date.now() < until); i++) {
      let m;
      let n;
      const stamp = cacheStamp();
      if (i % 2) {
        m = time(c.args);
        n = time(baseline);
      } else {
        n = time(baseline);
        m = time(c.args);
      }
      if (cacheStamp() !== stamp) misses++;
      mine.push(m);
      base.push(n);
      ratios.push(m / n);
    }
    rows.push({ section: '1 start-up', name: c.name, baseline: 'node -e 0', unit: 'x', target: c.target, ratios: summary(ratios), mine: summary(mine), base: summary(base), profileArgs: c.args.slice(1), note: `medians ${median(mine).toFixed(0)} ms vs ${median(base).toFixed(0)} ms${misses ? `; dist/catalogue-cache.json was rewritten during ${misses} of ${ratios.length} pairs (catalogue cache misses)` : ''}` });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--runs');
  const runs = (i > 0 && Number(process.argv[i + 1])) || 30;
  const { printRows } = await import('./report.mjs');
  process.stdout.write(printRows(benchStartup({ runs })));
}
