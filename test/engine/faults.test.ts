/**
 * Faults and hostile input, injected for real (issue 13): processes killed, read-only bind mounts,
 * immutable files, a full tmpfs, damaged journals, hostile input files. The rule for each: exit 0 with
 * the addon enabled, or exit 1/2/3 with one actionable line and the node as before (files, folders,
 * modes); never exit 70, a stack trace, a temp file, a lock or a secret in the output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli, CLI, ROOT } from '../support/cli.js';
import { makeNode, jsonEvents, TEST_ADDONS, type TestNode } from '../support/node.js';

const env = { MK8S_ADDONS_ADDONS_DIR: TEST_ADDONS };
const cli = (n: TestNode, args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runCli([...args, ...n.flags, '--output', 'json'], { env: { ...env, ...extraEnv } });

function withNode(era: '1.20' | '1.35', fn: (n: TestNode) => Promise<void> | void) {
  return async () => {
    const n = makeNode(era);
    try {
      await fn(n);
    } finally {
      n.cleanup();
    }
  };
}

/** Every file and folder under $SNAP_DATA with its mode (and content digest), the journal's folder aside. */
export function fullTree(n: TestNode): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = path.join(d, name);
      const rel = path.relative(n.snapData, full);
      if (rel === path.join('var', 'mk8s-addons')) continue;
      const st = lstatSync(full);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[`${rel}/`] = mode;
        walk(full);
      } else out[rel] = `${createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16)} ${mode}`;
    }
  };
  walk(n.snapData);
  return out;
}

function spawnCli(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env, NO_COLOR: '1', ...extraEnv } });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, done, out: () => stdout, err: () => stderr };
}

async function waitFor(cond: () => boolean, what: string, ms = 30_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const lockFile = (n: TestNode) => path.join(n.snapData, 'var', 'lock', 'mk8s-addons.lock');

// ------------------------------------------------------------------------------------------- 1, 2: lock

/** A process that takes the node lock through the engine's own module, logs when it held it, releases. */
function lockRacer(snapData: string, log: string, holdMs: number, startAt: number) {
  const lockModule = pathToFileURL(path.join(ROOT, 'dist', 'src', 'engine', 'lock.js')).href;
  const code = `
    import { acquireLock } from ${JSON.stringify(lockModule)};
    import { appendFileSync } from 'node:fs';
    // All start in the same millisecond (a crashed run, then several invocations at boot or in CI).
    while (Date.now() < ${startAt});
    const lock = await acquireLock(${JSON.stringify(snapData)}, { command: 'racer', timeoutMs: 60000 });
    appendFileSync(${JSON.stringify(log)}, 'in ' + process.pid + '\\n');
    await new Promise((r) => setTimeout(r, ${holdMs}));
    appendFileSync(${JSON.stringify(log)}, 'out ' + process.pid + '\\n');
    await lock.release();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return { child, done: new Promise<string>((resolve) => child.on('close', (c) => resolve(c === 0 ? '' : `racer exited ${c}: ${stderr}`))) };
}

test(
  'the lock: 16 processes racing after a holder was killed take it one at a time (8 trials)',
  withNode('1.35', async (n) => {
    // First a real run killed while it held the lock: its file stays (mode 0600), the kernel's lock does not.
    const crashed = spawnCli(['enable', 'slowdemo:30', ...n.flags, '--output', 'json']);
    await waitFor(() => crashed.out().includes('"phase":"enable/slowdemo/slow","status":"started"'), 'the slow step');
    assert.equal(statSync(lockFile(n)).mode & 0o777, 0o600, 'the lock file holds the nesting token: root only');
    assert.equal(JSON.parse(readFileSync(lockFile(n), 'utf8')).pid, crashed.child.pid);
    crashed.child.kill('SIGKILL');
    await crashed.done;
    assert.ok(existsSync(lockFile(n)), 'a killed holder leaves its file');
    const next = cli(n, ['disable', 'slowdemo', '--lock-timeout', '0s']);
    assert.equal(next.code, 0, next.stdout + next.stderr);
    assert.ok(jsonEvents(next.stdout).some((e) => e.phase === 'recover'), 'the interrupted enable is rolled back at once');

    for (let trial = 0; trial < 8; trial++) {
      const log = path.join(n.root, `race-${trial}.log`);
      writeFileSync(log, '');
      // A holder killed while it held the lock, then 16 invocations in the same millisecond.
      const killed = lockRacer(n.snapData, log, 60_000, 0);
      await waitFor(() => readFileSync(log, 'utf8').startsWith('in '), 'the first holder');
      killed.child.kill('SIGKILL');
      await killed.done;
      writeFileSync(log, '');
      const startAt = Date.now() + 1500;
      const errors = await Promise.all(Array.from({ length: 16 }, () => lockRacer(n.snapData, log, 20, startAt).done));
      assert.deepEqual(errors.filter(Boolean), []);
      const lines = readFileSync(log, 'utf8').trim().split('\n');
      assert.equal(lines.length, 32);
      for (let i = 0; i < lines.length; i += 2) {
        const [a, b] = [lines[i]!.split(' '), lines[i + 1]!.split(' ')];
        assert.deepEqual([a[0], b[0], a[1]], ['in', 'out', b[1]], `trial ${trial}: two holders at once:\n${lines.join('\n')}`);
      }
      assert.equal(existsSync(lockFile(n)), false, 'the last one removed the lock file');
    }
  }),
);

test(
  'the lock: a killed holder whose child still runs does not block the next run; the waiter names a live holder',
  withNode('1.20', async (n) => {
    const before = fullTree(n);
    const holder = spawnCli(['enable', 'slowdemo:30', ...n.flags, '--output', 'json']);
    await waitFor(() => holder.out().includes('"phase":"enable/slowdemo/slow","status":"started"'), 'the slow step');
    const blocked = cli(n, ['enable', 'netdemo', '--lock-timeout', '200ms']);
    assert.equal(blocked.code, 3);
    assert.match(
      String(jsonEvents(blocked.stdout).find((e) => e.type === 'error')!.message),
      new RegExp(`^another mk8s-addons operation holds the node lock: pid ${holder.child.pid} \\(mk8s-addons enable slowdemo:30\\) since \\S+; wait for it to finish or give a longer --lock-timeout$`),
    );
    // Killed: its `sleep 30` child lives on (orphaned), but holds nothing.
    holder.child.kill('SIGKILL');
    await holder.done;
    const r = cli(n, ['disable', 'netdemo', '--lock-timeout', '0s']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(fullTree(n), before);
  }),
);

// ---------------------------------------------------------------------------------- 6: damaged journal

const journalFile = (n: TestNode) => path.join(n.snapData, 'var', 'mk8s-addons', 'journal.json');
const restoreHint = (n: TestNode) => `restore it from ${journalFile(n)}.bak or remove it if the node has no addons from mk8s-addons`;

/** Exit 3, one line naming the bad field, nothing on the node changed, no stack trace. */
function refusedJournal(n: TestNode, args: string[], problem: string) {
  const before = fullTree(n);
  const r = cli(n, args);
  assert.equal(r.code, 3, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  const events = jsonEvents(r.stdout);
  assert.deepEqual(events.filter((e) => e.type === 'error'), [{ type: 'error', code: 'precondition', phase: null, message: `the journal ${journalFile(n)} ${problem}; ${restoreHint(n)}` }]);
  assert.equal(r.stderr, '');
  assert.deepEqual(fullTree(n), before);
  // The plain output is the same one line.
  const plain = runCli([...args, ...n.flags, '--output', 'plain'], { env });
  assert.equal(plain.code, 3);
  assert.equal(plain.stderr, `mk8s-addons: error: the journal ${journalFile(n)} ${problem}; ${restoreHint(n)}\n`);
}

test(
  'a damaged journal is refused with exit 3 naming the bad field, before anything is touched',
  withNode('1.20', (n) => {
    mkdirSync(path.dirname(journalFile(n)), { recursive: true });
    const write = (data: unknown) => writeFileSync(journalFile(n), typeof data === 'string' ? data : JSON.stringify(data), { mode: 0o600 });
    const empty = { format: 1, addons: {}, operation: null, snapshot: {} };
    const step = { phase: 'enable/netdemo/flannel-lock', kind: 'lock', addon: 'netdemo', record: { path: path.join(n.snapData, 'var', 'lock', 'no-flanneld'), existed: false } };
    const addon = { version: null, requested: null, args: {}, options: {}, enabledAt: 'x', updatedAt: 'x', steps: [step] };
    const op = { type: 'enable', pid: 1, command: 'mk8s-addons enable netdemo', startedAt: 'x', steps: [{ ...step, state: 'applied' }] };
    // Cases from the issue, and the message each gets.
    const cases: [unknown, string][] = [
      ['null', 'is damaged: it holds null, not a journal object'],
      [{ format: 1 }, 'is damaged: addons is missing, not an object'],
      [{ ...empty, addons: null }, 'is damaged: addons is null, not an object'],
      [{ ...empty, addons: { netdemo: { ...addon, steps: undefined } } }, 'is damaged: addons.netdemo.steps is missing, not a list of steps'],
      [{ ...empty, operation: { ...op, steps: undefined } }, 'is damaged: operation.steps is missing, not a list of steps'],
      [{ ...empty, addons: { netdemo: { ...addon, steps: [{ ...step, kind: 'teleport' }] } } }, 'is damaged: addons.netdemo.steps[0].kind "teleport" is not a step kind (file, args-flag, lock, rename, service, process, link, kube-apply, kube-configmap, kube-wait, kube-restart-pods, helm-release)'],
      [{ ...empty, addons: { netdemo: { ...addon, steps: [{ ...step, record: null }] } } }, 'is damaged: addons.netdemo.steps[0].record is null, not an undo record'],
      [{ ...empty, addons: { netdemo: { ...addon, steps: [{ ...step, record: { existed: false } }] } } }, 'is damaged: addons.netdemo.steps[0].record (lock): path is missing, not a string'],
      [{ ...empty, operation: { ...op, steps: [{ ...step, state: 'maybe' }] } }, 'is damaged: operation.steps[0].state is "maybe", not "applying" or "applied"'],
      [{ ...empty, snapshot: { 'args/kubelet': { exists: true } } }, 'is damaged: snapshot["args/kubelet"] is not a file state'],
    ];
    for (const [data, problem] of cases) {
      write(data);
      refusedJournal(n, ['enable', 'netdemo'], problem);
      refusedJournal(n, ['disable', 'netdemo'], problem);
    }
    // A folder where the journal should be.
    rmSync(journalFile(n));
    mkdirSync(journalFile(n));
    refusedJournal(n, ['enable', 'netdemo'], 'is not a regular file (it is a folder)');
  }),
);

test(
  'a null undo record in an enabled addon: disable refuses before undoing anything',
  withNode('1.35', (n) => {
    const r = cli(n, ['enable', 'netdemo']);
    assert.equal(r.code, 0, r.stdout);
    const journal = JSON.parse(readFileSync(journalFile(n), 'utf8'));
    journal.addons.netdemo.steps[4].record = null;
    writeFileSync(journalFile(n), JSON.stringify(journal));
    refusedJournal(n, ['disable', 'netdemo'], 'is damaged: addons.netdemo.steps[4].record is null, not an undo record');
  }),
);
