// Shared parts of the benchmark suite (scripts/bench/run.mjs): timing child processes, statistics over
// alternating pairs, sandbox nodes that are always taken down (also on Ctrl+C), the control plane's API
// (watches, /metrics), a request-counting proxy, and digests of a node's files.
// Plain ESM, no build step; it reads dist/ only for things a benchmark must do exactly as mk8s-addons does.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The CLI as it ships: package.json's `bin` (dist/bundle/src/cli.js, built from dist/src by scripts/bundle.mjs). */
export const CLI = path.join(ROOT, JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).bin['mk8s-addons']);
export const HELM = path.join(ROOT, 'vendor', 'bin', 'helm');
export const KUBECTL = path.join(ROOT, 'vendor', 'bin', 'kubectl');
export const BENCH_ROOT = path.join(os.tmpdir(), 'mk8s-addons-bench');

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across our own timestamps. */
export const now = () => performance.timeOrigin + performance.now();

/** Proxy variables removed from every child, as mk8s-addons does for cluster calls. */
const PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'];
export function cleanEnv(extra = {}) {
  const env = { ...process.env, NO_COLOR: '1' };
  for (const v of PROXY_VARIABLES) delete env[v];
  return { ...env, ...extra };
}

// ------------------------------------------------------------------------------------------ statistics

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** { median, min, max, n } of a list of numbers. */
/**
 * Runs `mine` and `theirs` side by side, `pairs` times (at least 3, then until `budgetMs` is spent),
 * alternating which goes first so machine noise hits both alike. Each returns `{ ms, ... }`.
 */
export async function alternate({ pairs, budgetMs, mine, theirs, onPair }) {
  const out = { runs: [], others: [], mine: [], theirs: [], ratios: [] };
  const until = Date.now() + budgetMs;
  for (let i = 0; i < pairs && (i < 3 || Date.now() < until); i++) {
    let m;
    let t;
    if (i % 2) {
      m = await mine();
      t = await theirs();
    } else {
      t = await theirs();
      m = await mine();
    }
    out.runs.push(m);
    out.others.push(t);
    out.mine.push(m.ms);
    out.theirs.push(t.ms);
    out.ratios.push(m.ms / t.ms);
    onPair?.(i, m, t);
  }
  return out;
}

/**
 * Rounds over node counts, each round starting one count later (so no count is always first on a warm or
 * cold machine): calls `measure(n)` for each count and `record(n, result)`; then `ratio(n, result,
 * first)` with the round's result for the first count. Stops after `rounds`, or after the first round
 * once `until` (a time) has passed.
 */
export async function rotatingRounds({ nodes, rounds, until = Infinity, label, measure, record, ratio }) {
  for (let round = 0; round < rounds && (round < 1 || Date.now() < until); round++) {
    const order = nodes.map((_, i) => nodes[(i + round) % nodes.length]);
    const got = new Map();
    for (const n of order) {
      log(`${label}: round ${round + 1}/${rounds}, ${n} node(s)`);
      const x = await measure(n);
      got.set(n, x);
      record(n, x);
    }
    for (const n of nodes) ratio(n, got.get(n), got.get(nodes[0]));
  }
}

export const summary = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });

// ------------------------------------------------------------------------------------------ processes

const running = new Set();

/**
 * Runs [file, args] without a shell and resolves with its wall time (spawn to exit), exit code, output and
 * each stdout line with the time it arrived. Rejects on a non-zero exit unless `allowFail`.
 */
export function timed(file, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const start = now();
    const child = spawn(file, args, { env: opts.env ?? cleanEnv(), cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const lines = [];
    let out = '';
    let err = '';
    let partial = '';
    child.stdout.on('data', (chunk) => {
      const at = now();
      const text = chunk.toString('utf8');
      out += text;
      partial += text;
      const parts = partial.split('\n');
      partial = parts.pop();
      for (const line of parts) {
        lines.push({ at, line });
        opts.onLine?.(line, at);
      }
    });
    child.stderr.on('data', (chunk) => {
      err += chunk.toString('utf8');
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (e) => {
      running.delete(child);
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const end = now();
      running.delete(child);
      clearTimeout(timer);
      if (partial) lines.push({ at: end, line: partial });
      const r = { ms: end - start, start, end, code, signal, stdout: out, stderr: err, lines };
      if ((code !== 0 || signal) && !opts.allowFail) {
        reject(new Error(`${path.basename(file)} ${args.join(' ')} ${signal ? `was killed by ${signal}` : `exited with ${code}`}${opts.timeoutMs && signal ? ` (limit ${opts.timeoutMs} ms)` : ''}\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`));
      } else resolve(r);
    });
  });
}

/** mk8s-addons (the built CLI) with `env` added to a proxy-free environment. */
export const cli = (args, opts = {}) => timed(process.execPath, [CLI, ...args], { ...opts, env: cleanEnv(opts.env) });

/** The JSON events of an `--output json` run. */
export const eventsOf = (stdout) =>
  stdout
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l));

// ------------------------------------------------------------------------------------------ sandboxes

const sandboxes = new Set();
let base;
let cleanupInstalled = false;

function killNow(dir) {
  // Last resort when `sandbox down` fails: SIGKILL the recorded daemons and drop the namespace.
  try {
    const cp = JSON.parse(readFileSync(path.join(dir, 'cp', 'control-plane.json'), 'utf8'));
    for (const c of Object.values(cp.components)) {
      const stat = c.pid > 0 ? readProcStart(c.pid) : undefined;
      if (stat !== undefined && stat === c.startTime) process.kill(c.pid, 'SIGKILL');
    }
  } catch {
    // Nothing recorded.
  }
  try {
    const info = JSON.parse(readFileSync(path.join(dir, 'sandbox.json'), 'utf8'));
    spawnSync('ip', ['netns', 'delete', info.netns]);
  } catch {
    // Not made yet.
  }
  rmSync(dir, { recursive: true, force: true });
}

function readProcStart(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/** `sandbox down --dir DIR`, falling back to killing its daemons; synchronous so that exit handlers can use it. */
export function sandboxDown(dir) {
  if (!sandboxes.has(dir) && !existsSync(dir)) return;
  sandboxes.delete(dir);
  if (!existsSync(path.join(dir, 'sandbox.json'))) {
    killNow(dir);
    return;
  }
  const r = spawnSync(process.execPath, [CLI, 'sandbox', 'down', '--dir', dir], { env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    process.stderr.write(`bench: sandbox down --dir ${dir} failed (${r.status}): ${r.stderr}; killing its daemons\n`);
    killNow(dir);
  }
}

/** Takes every sandbox of this run down (idempotent). */
export function downAll() {
  for (const dir of [...sandboxes]) sandboxDown(dir);
  if (base && existsSync(base)) rmSync(base, { recursive: true, force: true });
}

/** Reaps sandboxes left by bench runs that were SIGKILLed, then installs the SIGINT/SIGTERM/exit cleanup. */
function ensureBase() {
  if (base) return base;
  mkdirSync(BENCH_ROOT, { recursive: true });
  for (const entry of readdirSync(BENCH_ROOT)) {
    const dir = path.join(BENCH_ROOT, entry);
    let owner;
    try {
      owner = JSON.parse(readFileSync(path.join(dir, 'owner.json'), 'utf8'));
    } catch {
      owner = undefined;
    }
    if (owner && readProcStart(owner.pid) === owner.startTime) continue;
    for (const name of existsSync(dir) ? readdirSync(dir) : []) {
      if (existsSync(path.join(dir, name, 'sandbox.json'))) {
        process.stderr.write(`bench: reaping ${path.join(dir, name)} left by an earlier run\n`);
        sandboxes.add(path.join(dir, name));
        sandboxDown(path.join(dir, name));
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  base = mkdtempSync(path.join(BENCH_ROOT, `${process.pid}-`));
  writeFileSync(path.join(base, 'owner.json'), `${JSON.stringify({ pid: process.pid, startTime: readProcStart(process.pid) })}\n`);
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    const onSignal = (sig) => {
      process.stderr.write(`\nbench: ${sig}: stopping children and taking the sandboxes down\n`);
      for (const c of running) c.kill('SIGKILL');
      downAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
      downAll();
    });
  }
  return base;
}

let counter = 0;

/**
 * A fresh sandbox node (`sandbox up`); registered for teardown before it is created, so a failure or a
 * Ctrl+C half-way still takes it down. Resolves with its sandbox.json, the env that targets it and its
 * control plane (server, token, CA).
 */
// The rows measured before the real agent existed keep a simulated agent (kwok), so their figures compare;
// the datapath row asks for the real one.
// `nodes`: MicroK8s nodes (each with its folder and stand-in cluster agent); `kwokNodes`: Nodes kwok alone plays.
export async function sandboxUp({ layout = '1.20', nodes = 1, kwokNodes = 0, name = 'sb', agent = 'simulated' } = {}) {
  const dir = path.join(ensureBase(), `${name}-${++counter}`);
  sandboxes.add(dir);
  try {
    await timed(process.execPath, [CLI, 'sandbox', 'up', '--dir', dir, '--layout', layout, '--nodes', String(nodes), '--kwok-nodes', String(kwokNodes), '--agent', agent], { env: cleanEnv(), timeoutMs: 300_000 });
  } catch (err) {
    sandboxDown(dir);
    throw err;
  }
  return openSandbox(dir);
}

/** Several fresh sandboxes brought up together; if one fails, the others are taken down before rethrowing. */
export async function sandboxesUp(specs) {
  const got = await Promise.allSettled(specs.map((s) => sandboxUp(s)));
  const failed = got.find((g) => g.status === 'rejected');
  if (failed) {
    for (const g of got) if (g.status === 'fulfilled') g.value.down();
    throw failed.reason;
  }
  return got.map((g) => g.value);
}

/**
 * Our MicroK8s addons repository on each of a sandbox cluster's `nodes` nodes (1.20 has no
 * $SNAP_COMMON/addons: the folder is made first, as the tests do).
 */
export async function installRepositories(sb, nodes) {
  for (let i = 0; i < nodes; i++) {
    const dir = i === 0 ? sb.dir : path.join(sb.dir, 'nodes', `node-${i}`);
    const [snap, data, common] = i === 0 ? [sb.info.snap, sb.info.snapData, sb.info.snapCommon] : ['snap', 'data', 'common'].map((f) => path.join(dir, f));
    mkdirSync(path.join(common, 'addons'), { recursive: true });
    const r = await cli(['--snap', snap, '--snap-data', data, '--snap-common', common, 'microk8s-repo', 'install'], { env: sb.env });
    if (r.code !== 0) throw new Error(`microk8s-repo install on node-${i} failed: ${r.stderr}`);
  }
}

export function openSandbox(dir) {
  const info = JSON.parse(readFileSync(path.join(dir, 'sandbox.json'), 'utf8'));
  const cp = JSON.parse(readFileSync(path.join(dir, 'cp', 'control-plane.json'), 'utf8'));
  const env = { SNAP: info.snap, SNAP_DATA: info.snapData, SNAP_COMMON: info.snapCommon, KUBECONFIG: info.kubeconfig, MK8S_ADDONS_SANDBOX: dir };
  return {
    dir,
    info,
    env,
    cp: { server: cp.server, token: cp.token, ca: readFileSync(cp.caFile, 'utf8') },
    down: () => sandboxDown(dir),
    serviceLogLines: () => {
      try {
        return readFileSync(path.join(dir, 'services', 'log.jsonl'), 'utf8').split('\n').filter(Boolean).length;
      } catch {
        return 0;
      }
    },
  };
}

// ------------------------------------------------------------------------------------------ the API

/** One HTTPS call to the sandbox's apiserver as the admin user; resolves with status and body text. */
export function api(cp, apiPath, { method = 'GET', timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(apiPath, cp.server), { method, ca: cp.ca, agent: false, headers: { Authorization: `Bearer ${cp.token}`, Accept: 'application/json' }, timeout: timeoutMs });
    req.on('timeout', () => req.destroy(new Error(`${apiPath}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.end();
  });
}

/**
 * Watches a collection (e.g. `/api/v1/namespaces/kube-system/pods`) from the bench process and calls
 * `onEvent(type, object, at)` with the arrival time of each event. Resolves once the watch is open;
 * returns `stop()`.
 */
export function watch(cp, collection, onEvent, query = '') {
  return new Promise((resolve, reject) => {
    const url = new URL(`${collection}?watch=1${query ? `&${query}` : ''}`, cp.server);
    const req = https.request(url, { ca: cp.ca, agent: false, headers: { Authorization: `Bearer ${cp.token}`, Accept: 'application/json' } });
    let partial = '';
    req.on('error', (e) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`watch ${collection}: HTTP ${res.statusCode}`));
        return;
      }
      res.on('data', (chunk) => {
        const at = now();
        partial += chunk.toString('utf8');
        const parts = partial.split('\n');
        partial = parts.pop();
        for (const line of parts.filter(Boolean)) {
          const ev = JSON.parse(line);
          onEvent(ev.type, ev.object, at);
        }
      });
      res.on('error', () => {});
      resolve({ stop: () => req.destroy() });
    });
    req.end();
  });
}

/** Sum of apiserver_request_total over every label set (GET /metrics as admin). */
export async function apiserverRequests(cp) {
  const r = await api(cp, '/metrics', { timeoutMs: 20_000 });
  if (r.status !== 200) throw new Error(`GET /metrics: HTTP ${r.status}`);
  let total = 0;
  const byKey = {};
  for (const line of r.body.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    total += value;
    const labels = Object.fromEntries([...line.slice(0, line.lastIndexOf('}')).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const key = `${labels.verb ?? ''} ${labels.resource || '(non-resource)'}${labels.subresource ? `/${labels.subresource}` : ''}`;
    byKey[key] = (byKey[key] ?? 0) + value;
  }
  return { total, byKey };
}

/**
 * An HTTP proxy in front of the apiserver that counts requests by client (the first word of the
 * User-Agent: kubectl, Helm, mk8s-addons' Node client) and by verb + resource. mk8s-addons, helm and
 * kubectl reach it through a kubeconfig whose server is http://127.0.0.1:PORT (the admin's bearer token
 * is added by the proxy, as client-go sends none over plain HTTP). Watches count once, however long they stay open.
 */
export async function countingProxy(cp) {
  const counts = { total: 0, byClient: {}, byRequest: {} };
  const upstream = new URL(cp.server);
  const server = http.createServer((req, res) => {
    const ua = (req.headers['user-agent'] ?? '(none)').split(/[ /]/)[0];
    const u = new URL(req.url, 'http://x');
    const parts = u.pathname.split('/').filter(Boolean);
    // /api/v1/namespaces/NS/KIND/NAME/SUB or /apis/G/V/namespaces/NS/KIND/NAME/SUB: keep the kind.
    const rest = parts[0] === 'api' ? parts.slice(2) : parts[0] === 'apis' ? parts.slice(3) : parts;
    const kinds = rest[0] === 'namespaces' && rest.length > 2 ? rest.slice(2) : rest;
    const what = `${u.searchParams.get('watch') ? 'WATCH' : req.method} ${kinds[0] ?? u.pathname}${kinds[2] ? `/${kinds[2]}` : ''}`;
    counts.total++;
    counts.byClient[ua] = (counts.byClient[ua] ?? 0) + 1;
    counts.byRequest[what] = (counts.byRequest[what] ?? 0) + 1;
    // client-go sends no bearer token over plain HTTP: the proxy adds the admin token (the same user).
    const headers = { ...req.headers, host: upstream.host, authorization: `Bearer ${cp.token}` };
    const up = https.request({ hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, ca: cp.ca, agent: false }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(e));
    });
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    counts,
    url: `http://127.0.0.1:${port}`,
    /** A kubeconfig for the proxy, written to `file`. */
    kubeconfig(file) {
      writeFileSync(
        file,
        ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: counted', '  cluster:', `    server: http://127.0.0.1:${port}`, '    insecure-skip-tls-verify: true', 'users:', '- name: admin', '  user:', `    token: ${cp.token}`, 'contexts:', '- name: counted', '  context:', '    cluster: counted', '    user: admin', 'current-context: counted', ''].join('\n'),
        { mode: 0o600 },
      );
      return file;
    },
    reset() {
      counts.total = 0;
      counts.byClient = {};
      counts.byRequest = {};
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

// ------------------------------------------------------------------------------------------ files

/**
 * Every entry under `dir`: relative path -> type, mode, size, mtime (ns) and sha256 of the content (the
 * target for a symlink). A write of the same bytes still shows (mtime); directories are listed without
 * mtime (a lock file made and removed again changes its directory's mtime, not its contents).
 */
export function treeDigest(dir) {
  const out = new Map();
  const walk = (d) => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      const rel = path.relative(dir, full);
      const st = lstatSync(full, { bigint: true });
      if (st.isDirectory()) {
        out.set(rel, `dir ${(Number(st.mode) & 0o7777).toString(8)}`);
        walk(full);
      } else if (st.isSymbolicLink()) out.set(rel, `link ${readlinkSync(full)} ${st.mtimeNs}`);
      else out.set(rel, `file ${(Number(st.mode) & 0o7777).toString(8)} ${st.size} ${st.mtimeNs} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`);
    }
  };
  walk(dir);
  return out;
}

export const digestHash = (digest) => createHash('sha256').update(JSON.stringify([...digest])).digest('hex').slice(0, 16);

/** Paths added (+), removed (-) or changed (~, with what changed: content, mode, or only the mtime of a rewrite). */
export function digestDiff(before, after) {
  const changed = [];
  const what = (a, b) => {
    const [ta, ma, sa, , ha] = a.split(' ');
    const [tb, mb, sb, , hb] = b.split(' ');
    if (ta !== tb) return 'type';
    if (ta !== 'file') return 'target';
    return ha !== hb || sa !== sb ? 'content' : ma !== mb ? 'mode' : 'rewritten, same bytes';
  };
  for (const [k, v] of after) if (before.get(k) !== v) changed.push(before.has(k) ? `~${k} (${what(before.get(k), v)})` : `+${k}`);
  for (const k of before.keys()) if (!after.has(k)) changed.push(`-${k}`);
  return changed;
}

// ------------------------------------------------------------------------------------------ output

export const fmt = (x, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : '-');

/** Prints rows as a fixed-width table. */
export function printTable(rows, columns) {
  const widths = columns.map((c) => Math.max(c.title.length, ...rows.map((r) => String(r[c.key] ?? '').length)));
  const line = (cells) => cells.map((cell, i) => (columns[i].left ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join('  ').trimEnd();
  const out = [line(columns.map((c) => c.title)), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => r[c.key] ?? '')))];
  return `${out.join('\n')}\n`;
}

/** Progress on stderr (the table goes to stdout). */
export const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

// ------------------------------------------------------------------------------------------ cilium values

/**
 * The chart and the complete values mk8s-addons renders for Cilium `version` on this sandbox (the same
 * function its cilium hook calls), written as the same JSON values file helm gets; for the baselines.
 */
export async function ciliumValuesFile(sb, version, file) {
  const { ciliumReleaseValues } = await import(path.join(ROOT, 'dist', 'src', 'addons', 'cilium.js'));
  const { valuesFileText } = await import(path.join(ROOT, 'dist', 'src', 'adapters', 'helm.js'));
  const node = { paths: { snap: sb.info.snap, snapData: sb.info.snapData, snapCommon: sb.info.snapCommon }, globals: { strict: false } };
  const { chart, values } = await ciliumReleaseValues(node, version, {}, undefined);
  writeFileSync(file, valuesFileText(values), { mode: 0o600 });
  return { chart, file };
}

/** The cluster's Kubernetes version without the `v` (e.g. 1.34.4), as mk8s-addons passes it to --kube-version. */
export async function kubeVersion(cp) {
  const r = await api(cp, '/version');
  return JSON.parse(r.body).gitVersion.replace(/^v/, '').replace(/[-+].*$/, '');
}
