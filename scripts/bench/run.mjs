#!/usr/bin/env node
// `npm run bench`: the whole benchmark suite, one table. Every figure is measured side by side in this
// run (alternating pairs; which side goes first alternates too), never against a stored timing: the
// machine is shared. See docs/benchmarks.md for what each row means.
//
//   node scripts/bench/run.mjs [--only startup,planning,noop,enable,scale,datapath,cluster] [--cluster-nodes 1,3,10] [--quick] [--profile]
//        [--runs N] [--pairs N] [--enable-pairs N] [--scale-rounds N] [--nodes 1,10,50] [--scale-version V]
//
// --quick: fewer pairs (a smoke run, not a measurement). --profile: CPU profiles and module counts for
// every row, not only for missed targets. Sandboxes live under $TMPDIR/mk8s-addons-bench/ and are taken
// down at the end, on failure and on Ctrl+C (a later run reaps those of a run that was SIGKILLed).
import os from 'node:os';
import { existsSync } from 'node:fs';
import { CLI, HELM, downAll, log, sandboxUp } from './lib.mjs';
import { staleBundle } from '../bundle.mjs';
import { printRows } from './report.mjs';

const argv = process.argv.slice(2);
const opt = (flag, fallback) => {
  const i = argv.indexOf(flag);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const num = (flag, fallback) => {
  const v = Number(opt(flag, fallback));
  if (!Number.isInteger(v) || v < 1) throw new Error(`${flag} takes a whole number >= 1`);
  return v;
};
const known = ['--only', '--quick', '--profile', '--runs', '--pairs', '--enable-pairs', '--scale-rounds', '--nodes', '--scale-version', '--datapath-runs', '--cluster-nodes', '--cluster-rounds', '--help'];
for (const a of argv) {
  if (a.startsWith('--') && !known.includes(a)) {
    process.stderr.write(`bench: unknown option ${a}; options: ${known.join(' ')}\n`);
    process.exit(2);
  }
}
if (argv.includes('--help')) {
  process.stdout.write('usage: node scripts/bench/run.mjs [--only startup,planning,noop,enable,scale,datapath,cluster] [--datapath-runs N] [--cluster-nodes 1,3,10] [--cluster-rounds N] [--quick] [--profile] [--runs N] [--pairs N] [--enable-pairs N] [--scale-rounds N] [--nodes 1,10,50] [--scale-version cilium|cilium:v1.8]\n');
  process.exit(0);
}
const quick = argv.includes('--quick');
const profile = argv.includes('--profile');
const sections = opt('--only', 'startup,planning,noop,enable,scale,datapath,cluster').split(',');
for (const s of sections) if (!['startup', 'planning', 'noop', 'enable', 'scale', 'datapath', 'cluster'].includes(s)) throw new Error(`--only: unknown section ${s}`);
const cfg = {
  runs: num('--runs', quick ? 6 : 30),
  pairs: num('--pairs', quick ? 3 : 10),
  enablePairs: num('--enable-pairs', quick ? 2 : 4),
  scaleRounds: num('--scale-rounds', quick ? 1 : 2),
  nodes: opt('--nodes', '1,10,50').split(',').map(Number),
  scaleVersion: opt('--scale-version', 'cilium'),
  datapathRuns: num('--datapath-runs', quick ? 1 : 3),
  clusterNodes: opt('--cluster-nodes', '1,3,10').split(',').map(Number),
  clusterRounds: num('--cluster-rounds', quick ? 1 : 2),
};
for (const f of [CLI, HELM]) if (!existsSync(f)) throw new Error(`${f} is missing: build first (npm run build) and run npm ci for vendor/bin`);
// The benchmarks time the shipped CLI (the bundle): one older than dist/src would time old code.
const stale = staleBundle();
if (stale) throw new Error(`${stale}: run npm run build (or node scripts/bundle.mjs after tsc)`);

const started = new Date();
const rows = [];
const details = [];
const failures = [];
const section = async (name, fn) => {
  if (!sections.includes(name)) return;
  const t = Date.now();
  try {
    const r = await fn();
    rows.push(...r.rows);
    if (r.details) details.push(r.details);
  } catch (err) {
    // One broken section (e.g. a file someone is editing right now) must not lose the others' figures.
    failures.push(`${name}: ${err.stack ?? err}`);
    log(`${name} failed: ${String(err.message ?? err).split('\n')[0]}`);
  }
  log(`${name}: ${((Date.now() - t) / 1000).toFixed(0)} s`);
};

try {
  await section('startup', async () => {
    const { benchStartup } = await import('./startup.mjs');
    log(`start-up: ${cfg.runs} pairs per command`);
    const startupRows = benchStartup({ runs: cfg.runs });
    let text = '';
    const { importCensus, printCensus, printProfile, profileCli } = await import('./profile.mjs');
    for (const r of startupRows) {
      if (!profile && !(r.target !== undefined && r.ratios.median > r.target)) continue;
      const env = { SNAP_DATA: '/nonexistent-mk8s-bench' };
      text += printProfile(`profile: ${r.name} (sampled every 100 us)`, await profileCli(r.profileArgs, { env, intervalUs: 100 }));
      text += printCensus(`modules loaded by ${r.name}`, await importCensus(r.profileArgs, { env }));
    }
    return { rows: startupRows, details: text };
  });
  if (sections.includes('planning') || sections.includes('noop')) {
    // Planning runs on the fresh node; the no-op rows then enable it once and re-run.
    let sb;
    try {
      log('planning / no-op: sandbox 1.20, 1 node');
      sb = await sandboxUp({ layout: '1.20', name: 'plan' });
      await section('planning', async () => (await import('./planning.mjs')).benchPlanning(sb, { pairs: cfg.pairs, profile }));
      await section('noop', async () => (await import('./noop.mjs')).benchNoop(sb, { pairs: cfg.pairs, profile }));
    } catch (err) {
      failures.push(`planning/noop sandbox: ${err.stack ?? err}`);
    } finally {
      sb?.down();
    }
  }
  await section('enable', async () => (await import('./enable.mjs')).benchEnable({ pairs: cfg.enablePairs, profile }));
  await section('scale', async () => (await import('./scale.mjs')).benchScale({ nodes: cfg.nodes, rounds: cfg.scaleRounds, version: cfg.scaleVersion }));
  await section('datapath', async () => (await import('./datapath.mjs')).benchDatapath({ runs: cfg.datapathRuns }));
  await section('cluster', async () => (await import('./cluster.mjs')).benchCluster({ nodes: cfg.clusterNodes, rounds: cfg.clusterRounds }));
} finally {
  downAll();
}

const cpus = os.cpus();
process.stdout.write(
  `mk8s-addons benchmarks, ${started.toISOString()} (${((Date.now() - started.getTime()) / 1000).toFixed(0)} s)${quick ? ', --quick' : ''}\n` +
    `machine: ${cpus.length} x ${cpus[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}; load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n` +
    `ratio = mk8s-addons / baseline, per alternating pair; median with min and max over n pairs\n\n`,
);
process.stdout.write(printRows(rows));
if (details.length) process.stdout.write(`\n${details.join('\n')}`);
if (failures.length) {
  process.stdout.write(`\nFAILED SECTIONS\n${failures.join('\n\n')}\n`);
  process.exitCode = 1;
}
