#!/usr/bin/env node
// CPU profile of one CLI run (`node --cpu-prof`; Node 20 refuses --cpu-prof in NODE_OPTIONS, so the Node
// children it starts, e.g. helm's post-renderer, are not profiled: their cost shows as idle time here),
// summarised as busy vs idle time (idle is waiting: for helm, kubectl, the API, a restart) and the top
// self-time functions and modules.
//   node scripts/bench/profile.mjs [--top N] -- ARGS...      (mk8s-addons ARGS with the current env)
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, ROOT, alternate, cleanEnv, fmt, median, printTable, timed } from './lib.mjs';

/** Which package, dist file or Node internal a profile node's url belongs to. */
export function moduleOf(url, functionName) {
  if (!url) return `(${functionName || 'native'})`;
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = u.slice(nm + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (u.startsWith('node:')) return u.split('/').slice(0, 2).join('/');
  if (u.startsWith(ROOT)) return path.relative(ROOT, u);
  return u;
}

/** Summary of one .cpuprofile: { main, totalMs, busyMs, idleMs, gcMs, functions, modules, charged } (top [name, ms] lists). */
export function summariseProfile(profile, top = 10) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const fn = new Map();
  const mod = new Map();
  // Node internals (module loading, fs, TLS) charged to the nearest caller in the program's own files or
  // packages: which code of ours, or which library, made the CPU work.
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owner = new Map();
  const ownerOf = (id) => {
    if (owner.has(id)) return owner.get(id);
    let cur = id;
    let found = '(node internals, no caller of ours on the stack)';
    while (cur !== undefined) {
      const url = byId.get(cur).callFrame.url;
      if (url.startsWith('file://')) {
        found = moduleOf(url, '');
        break;
      }
      cur = parent.get(cur);
    }
    owner.set(id, found);
    return found;
  };
  const charged = new Map();
  let idle = 0;
  let gc = 0;
  let total = 0;
  let main;
  for (const [id, ms] of self) {
    const { callFrame: cf } = byId.get(id);
    total += ms;
    if (cf.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    if (cf.functionName === '(garbage collector)') gc += ms;
    const m = moduleOf(cf.url, cf.functionName);
    const f = `${cf.functionName || '(anonymous)'} ${cf.url ? `${m}:${cf.lineNumber + 1}` : ''}`.trim();
    fn.set(f, (fn.get(f) ?? 0) + ms);
    mod.set(m, (mod.get(m) ?? 0) + ms);
    const o = ownerOf(id);
    charged.set(o, (charged.get(o) ?? 0) + ms);
  }
  // Which program this process ran: the CLI, or a script (e.g. the post-renderer).
  const urls = profile.nodes.map((n) => n.callFrame.url);
  const cliUrl = urls.find((u) => /\/dist\/(bundle\/)?src\/cli\.js$/.test(u));
  main = cliUrl ? moduleOf(cliUrl, '?') : moduleOf(urls.find((u) => u.includes('/scripts/')) ?? '', '?');
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { main, totalMs: (profile.endTime - profile.startTime) / 1000, sampledMs: total, busyMs: total - idle, idleMs: idle, gcMs: gc, functions: sorted(fn), modules: sorted(mod), charged: sorted(charged) };
}

/** Runs mk8s-addons `args` once under --cpu-prof and returns the summary of its profile. */
export async function profileCli(args, { env = {}, top = 10, intervalUs = 1000 } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-prof-'));
  try {
    const r = await timed(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${intervalUs}`, CLI, ...args], {
      env: cleanEnv(env),
      allowFail: true,
    });
    const profiles = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => summariseProfile(JSON.parse(readFileSync(path.join(dir, f), 'utf8')), top))
      .sort((a, b) => b.totalMs - a.totalMs);
    return { wallMs: r.ms, code: r.code, profiles };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Which modules one CLI run loads, grouped by package (or dist/src folder): count and source size. Module
 * compilation is where start-up CPU goes, and it grows with the source loaded: this says whose source.
 */
export async function importCensus(args, { env = {}, top = 12 } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-census-'));
  const file = path.join(dir, 'imports.txt');
  try {
    const census = path.join(path.dirname(fileURLToPath(import.meta.url)), 'import-census.mjs');
    const r = await timed(process.execPath, ['--import', census, CLI, ...args], { env: cleanEnv({ ...env, MK8S_BENCH_IMPORTS: file }), allowFail: true });
    let urls = [];
    try {
      urls = [...new Set(readFileSync(file, 'utf8').split('\n').filter((u) => u.startsWith('file:')))];
    } catch {
      urls = [];
    }
    const groups = new Map();
    for (const u of urls) {
      const p = fileURLToPath(u);
      let size = 0;
      try {
        size = statSync(p).size;
      } catch {
        size = 0;
      }
      const rel = moduleOf(u, '');
      // dist/src/engine/kinds/kube.js -> dist/src/engine; dist/src/cli.js -> dist/src; the bundle's chunks ->
      // dist/bundle/src; a package -> its name.
      const parts = rel.split('/');
      const key = rel.startsWith('dist/bundle/') ? 'dist/bundle/src' : rel.startsWith('dist/src/') ? parts.slice(0, parts.length > 3 ? 3 : 2).join('/') : rel;
      const g = groups.get(key) ?? { modules: 0, bytes: 0 };
      g.modules++;
      g.bytes += size;
      groups.set(key, g);
    }
    const total = [...groups.values()].reduce((a, g) => ({ modules: a.modules + g.modules, bytes: a.bytes + g.bytes }), { modules: 0, bytes: 0 });
    return { code: r.code, total, groups: [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The processes one CLI run starts (helm, kubectl, ip, the post-renderer...), with start offset and
 * duration, from `strace -f` tracing only execve (seccomp-bpf: the run is not slowed down by every other
 * syscall). Shows the waiting that a CPU profile reports only as idle. Undefined when strace is missing.
 */
export async function childTimeline(args, { env = {} } = {}) {
  const probe = await timed('strace', ['-V'], { allowFail: true }).catch(() => undefined);
  if (!probe || probe.code !== 0) return undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-strace-'));
  const file = path.join(dir, 'trace.txt');
  try {
    const r = await timed('strace', ['-f', '--seccomp-bpf', '-q', '-ttt', '-e', 'trace=execve', '-e', 'signal=none', '-o', file, process.execPath, CLI, ...args], { env: cleanEnv(env), allowFail: true });
    const procs = new Map();
    let origin;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const [, pid, t, rest] = m;
      const at = Number(t) * 1000;
      origin ??= at;
      const exec = /^execve\("([^"]*)", \[(.*?)\](?:, 0x[0-9a-f]+)?.*= 0$/.exec(rest);
      if (exec) {
        const argv = [...exec[2].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]);
        // A process that execs twice (a shell script) keeps its first start and shows the last program.
        const p = procs.get(pid) ?? { start: at };
        procs.set(pid, { ...p, argv: [path.basename(exec[1]), ...argv.slice(1)] });
      } else if (/\+\+\+ (exited|killed)/.test(rest) && procs.has(pid)) procs.get(pid).end = at;
    }
    const list = [...procs.values()].filter((p) => p.argv).sort((a, b) => a.start - b.start);
    return {
      wallMs: r.ms,
      children: list.slice(1).map((p) => ({
        startMs: p.start - origin,
        ms: (p.end ?? p.start) - p.start,
        command: p.argv
          .slice(0, 5)
          .map((a) => (a.startsWith('/') ? path.basename(a) : a.length > 40 ? `${a.slice(0, 37)}...` : a))
          .join(' '),
      })),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printChildren(title, t) {
  if (!t) return `${title}: strace not installed, no process timeline\n`;
  const total = t.children.reduce((a, c) => a + c.ms, 0);
  return `${title}: ${t.children.length} child processes, ${fmt(total, 0)} ms in total (overlaps counted twice) of ${fmt(t.wallMs, 0)} ms wall (traced)\n${printTable(
    t.children.map((c) => ({ at: fmt(c.startMs, 0), ms: fmt(c.ms, 0), cmd: c.command })),
    [
      { key: 'at', title: '    starts at ms' },
      { key: 'ms', title: 'takes ms' },
      { key: 'cmd', title: 'command', left: true },
    ],
  ).replace(/^/gm, '    ')}`;
}

/**
 * What a cold `import(PKG)` costs: `node -e "await import(PKG)"` against `node -e 0` from the checkout (so
 * resolved as mk8s-addons resolves it), `pairs` alternating pairs each; [pkg, median extra ms, median ratio].
 */
export async function importCost(pkgs, { pairs = 5 } = {}) {
  const out = [];
  for (const pkg of pkgs) {
    // Only what mk8s-addons itself can import (a nested dependency may not be hoisted).
    if ((await timed(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(pkg)})`], { env: cleanEnv(), allowFail: true })).code !== 0) continue;
    const r = await alternate({
      pairs,
      budgetMs: Infinity,
      mine: () => timed(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(pkg)})`], { env: cleanEnv() }),
      theirs: () => timed(process.execPath, ['-e', '0'], { env: cleanEnv() }),
    });
    const extra = r.mine.map((ms, n) => ms - (r.theirs[n] ?? 0));
    const ratios = r.ratios;
    out.push([pkg, median(extra), median(ratios)]);
  }
  return out;
}

export const printImportCost = (rows) =>
  `cold import cost (node -e "await import(PKG)" vs node -e 0, alternating): ${rows.map(([p, ms, r]) => `${p} +${fmt(ms, 0)} ms (${fmt(r)}x)`).join(', ')}\n`;

/** The packages (not our own dist files) that load the most source in a census. */
export const heaviestPackages = (census, n = 4) => census.groups.map(([k]) => k).filter((k) => !k.startsWith('dist/') && !k.startsWith('(') && !k.startsWith('/')).slice(0, n);

export function printCensus(title, c) {
  return `${title}: ${c.total.modules} modules, ${fmt(c.total.bytes / 1024, 0)} KiB of source loaded\n${printTable(
    c.groups.map(([k, g]) => ({ k, n: g.modules, kib: fmt(g.bytes / 1024, 0) })),
    [
      { key: 'k', title: '    package / folder', left: true },
      { key: 'n', title: 'modules' },
      { key: 'kib', title: 'KiB' },
    ],
  ).replace(/^/gm, '    ')}`;
}

export function printProfile(title, p) {
  let out = `${title}: wall ${fmt(p.wallMs, 0)} ms, exit ${p.code}, ${p.profiles.length} Node process(es)\n`;
  for (const s of p.profiles) {
    out += `  process ${s.main || '?'}: ${fmt(s.totalMs, 0)} ms alive, ${fmt(s.busyMs, 0)} ms on CPU (GC ${fmt(s.gcMs, 0)}), ${fmt(s.idleMs, 0)} ms idle (waiting on children / network / timers)\n`;
    out += printTable(
      s.modules.map(([m, ms]) => ({ m, ms: fmt(ms, 0) })),
      [
        { key: 'm', title: '    top modules by self time', left: true },
        { key: 'ms', title: 'ms' },
      ],
    ).replace(/^/gm, '    ');
    out += printTable(
      s.charged.map(([m, ms]) => ({ m, ms: fmt(ms, 0) })),
      [
        { key: 'm', title: '    CPU charged to our nearest file or package on the stack', left: true },
        { key: 'ms', title: 'ms' },
      ],
    ).replace(/^/gm, '    ');
    out += printTable(
      s.functions.map(([f, ms]) => ({ f: f.length > 100 ? `${f.slice(0, 97)}...` : f, ms: fmt(ms, 0) })),
      [
        { key: 'f', title: '    top functions by self time', left: true },
        { key: 'ms', title: 'ms' },
      ],
    ).replace(/^/gm, '    ');
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dd = process.argv.indexOf('--');
  const ti = process.argv.indexOf('--top');
  const top = (ti > 0 && ti < dd && Number(process.argv[ti + 1])) || 12;
  if (dd < 0) {
    process.stderr.write('usage: node scripts/bench/profile.mjs [--top N] -- MK8S_ADDONS_ARGS...\n');
    process.exit(2);
  }
  const args = process.argv.slice(dd + 1);
  process.stdout.write(printProfile(`mk8s-addons ${args.join(' ')}`, await profileCli(args, { top })));
  process.stdout.write(printCensus('modules loaded', await importCensus(args, { top })));
  process.stdout.write(printChildren('processes started', await childTimeline(args)));
}
