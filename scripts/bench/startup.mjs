#!/usr/bin/env node
// Start-up cost, measured side by side: `mk8s-addons --version | --help | list | enable cilium:v1.8
// --dry-run (no node)` against a bare `node -e 0`, alternating in one run, so machine noise hits both
// sides alike. Prints the median ratio with min and max of the per-pair ratios. Not a test: targets are
// read by people (issue target for --version/--help/list: <= 1.3).
//   node scripts/bench/startup.mjs [--runs N]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'src', 'cli.js');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 30;

function time(args) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SNAP_DATA: '/nonexistent-mk8s-bench' } });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const cases = [
  ['--version', [cli, '--version']],
  ['--help', [cli, '--help']],
  ['list', [cli, 'list']],
  ['enable cilium:v1.8 --dry-run (no node)', [cli, 'enable', 'cilium:v1.8', '--dry-run']],
];
const baseline = ['-e', '0'];
// Warm the file cache.
for (let i = 0; i < 3; i++) {
  for (const [, a] of cases) {
    time(a);
    time(baseline);
  }
}

console.log(`start-up, ${runs} alternating pairs each, against node -e 0 (ratio = command / baseline)`);
console.log(`${'command'.padEnd(42)} ${'median ms'.padStart(9)} ${'base ms'.padStart(8)} ${'ratio'.padStart(6)} ${'min'.padStart(5)} ${'max'.padStart(5)}`);
for (const [name, args] of cases) {
  const ratios = [];
  const mine = [];
  const base = [];
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first, so neither side always runs on a warmer cache.
    let m;
    let n;
    if (i % 2) {
      m = time(args);
      n = time(baseline);
    } else {
      n = time(baseline);
      m = time(args);
    }
    mine.push(m);
    base.push(n);
    ratios.push(m / n);
  }
  console.log(`${name.padEnd(42)} ${median(mine).toFixed(1).padStart(9)} ${median(base).toFixed(1).padStart(8)} ${median(ratios).toFixed(2).padStart(6)} ${Math.min(...ratios).toFixed(2).padStart(5)} ${Math.max(...ratios).toFixed(2).padStart(5)}`);
}
