/**
 * Faults and hostile input, injected for real (issue 13): processes killed, read-only bind mounts,
 * immutable files, a full tmpfs, damaged journals, hostile input files. The rule for each: exit 0 with
 * the addon enabled, or exit 1/2/3 with one actionable line and the node as before (files, folders,
 * modes); never exit 70, a stack trace, a temp file, a lock or a secret in the output.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli, spawnCli as spawnWith, waitFor, CLI, ROOT } from '../support/cli.js';
import { withNode, oldContainerdTemplate, fullTree, jsonEvents, TEST_ADDONS, type TestNode } from '../support/node.js';

const env = { MK8S_ADDONS_ADDONS_DIR: TEST_ADDONS };
const cli = (n: TestNode, args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runCli([...args, ...n.flags, '--output', 'json'], { env: { ...env, ...extraEnv } });


const spawnCli = (args: string[]) => spawnWith(args, env);

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

test(
  'the lock: a nested run with the holder\'s token goes on at once; a wrong token waits and names the holder',
  withNode('1.20', async (n) => {
    const lockModule = pathToFileURL(path.join(ROOT, 'dist', 'src', 'engine', 'lock.js')).href;
    const { acquireLock } = (await import(lockModule)) as typeof import('../../src/engine/lock.js');
    const held = await acquireLock(n.snapData, { command: 'mk8s-addons enable parent', timeoutMs: 1000 });
    try {
      const nested = (token: string) =>
        spawnSync(process.execPath, ['--input-type=module', '-e', `
          import { acquireLock } from ${JSON.stringify(lockModule)};
          try {
            const l = await acquireLock(${JSON.stringify(n.snapData)}, { command: 'child', timeoutMs: 300, env: { MK8S_ADDONS_LOCK_TOKEN: ${JSON.stringify(token)} } });
            console.log(l.inherited ? 'inherited' : 'own');
          } catch (e) { console.log(e.message); }
        `], { encoding: 'utf8' }).stdout.trim();
      assert.equal(nested(held.owner.token), 'inherited');
      assert.equal(nested('not-the-token'), `another mk8s-addons operation holds the node lock: pid ${process.pid} (mk8s-addons enable parent) since ${held.owner.since}; wait for it to finish or give a longer --lock-timeout`);
    } finally {
      await held.release();
    }
    assert.equal(existsSync(lockFile(n)), false);
  }),
);

test(
  'the lock: a symbolic link planted at the lock file is not followed',
  withNode('1.35', (n) => {
    const target = path.join(n.root, 'elsewhere');
    writeFileSync(target, 'keep\n');
    symlinkSync(target, lockFile(n));
    const r = cli(n, ['enable', 'netdemo']);
    assert.equal(r.code, 3, r.stdout);
    assert.deepEqual(jsonEvents(r.stdout).filter((e) => e.type === 'error').map((e) => e.message), [
      `cannot lock ${lockFile(n)} (ELOOP): it is a symbolic link, which mk8s-addons does not follow: check ${lockFile(n)} and remove the link`,
    ]);
    assert.equal(readFileSync(target, 'utf8'), 'keep\n');
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
      [{ ...empty, addons: { netdemo: { ...addon, steps: [{ ...step, kind: 'teleport' }] } } }, 'is damaged: addons.netdemo.steps[0].kind "teleport" is not a step kind (file, args-flag, lock, rename, service, process, link, kube-apply, kube-configmap, kube-wait, kube-restart-pods, helm-release, pod-file, node-fanout)'],
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

// ------------------------------------------------------------------------------ 7-10: hostile input files

/** Exit 2 with exactly `message` (plain and JSON), no stack trace, nothing on the node changed. */
function refusedInput(n: TestNode, args: string[], message: string) {
  const before = fullTree(n);
  // The real catalogue (cilium).
  const json = runCli([...args, ...n.flags, '--output', 'json']);
  assert.equal(json.code, 2, `${args.join(' ')}: ${json.stdout}${json.stderr}`);
  assert.deepEqual(jsonEvents(json.stdout).filter((e) => e.type === 'error'), [{ type: 'error', code: 'usage', phase: null, message }]);
  assert.equal(json.stderr, '');
  const plain = runCli([...args, ...n.flags, '--output', 'plain']);
  assert.equal(plain.code, 2);
  assert.equal(plain.stderr, `mk8s-addons: error: ${message}\n`);
  assert.deepEqual(fullTree(n), before);
  assert.equal(existsSync(lockFile(n)), false, 'no lock left');
  return json.stdout + plain.stdout + plain.stderr;
}

/** The issue's alias bomb (its python repro writes these 306 bytes): 9 levels of 9 references, 9^9 leaves. */
function aliasBomb(): string {
  const l = 'abcdefghi';
  const lines = [`a: &a [${Array(9).fill('x').join(',')}]`];
  for (let i = 1; i < l.length; i++) lines.push(`${l[i]}: &${l[i]} [${Array(9).fill(`*${l[i - 1]}`).join(',')}]`);
  return `${lines.join('\n')}\n`;
}

test(
  '-f and apply -f take only regular files within the size and alias limits (7, 8, 9)',
  withNode('1.35', (n) => {
    const dir = path.join(n.root, 'inputs');
    mkdirSync(dir);
    const bomb = path.join(dir, 'bomb.yaml');
    writeFileSync(bomb, aliasBomb());
    assert.equal(statSync(bomb).size, 306);
    const fifo = path.join(dir, 'fifo');
    assert.equal(spawnSyncStatus('mkfifo', [fifo]), 0);
    const big = path.join(dir, 'big.yaml');
    writeFileSync(big, Array.from({ length: 40_000 }, (_, i) => `key${i}: ${'v'.repeat(20)}`).join('\n'));
    const bigSize = statSync(big).size;
    assert.ok(bigSize > 1024 * 1024);
    const cases: [string, (label: string) => string][] = [
      [bomb, (label) => `${label} expands to more than 1000000 values (YAML aliases reused over and over); write the values out, or use fewer aliases`],
      [dir, (label) => `${label}: it is a folder, not a regular file; give the path of a YAML file`],
      ['/dev/zero', (label) => `${label}: it is a device, not a regular file; give the path of a YAML file`],
      [fifo, (label) => `${label}: it is a named pipe, not a regular file; give the path of a YAML file`],
      [big, (label) => `${label}: it is ${bigSize} bytes, over the limit of 1 MiB; give a smaller file`],
    ];
    for (const [file, message] of cases) {
      // Without --dry-run too: the node lock is taken, and must be released.
      refusedInput(n, ['enable', 'cilium', '--force', '--dry-run', '-f', file], message(`-f ${file}`));
      refusedInput(n, ['enable', 'cilium', '--force', '-f', file], message(`-f ${file}`));
      refusedInput(n, ['apply', '-f', file], message(file));
    }
    refusedInput(n, ['enable', 'cilium', '--force', '-f', ''], '-f : the file name is empty; give the path of a YAML file');
  }),
);

test(
  'a file that is not a values file is refused without echoing it, plain or JSON (10)',
  withNode('1.35', async (n) => {
    const secret = '$6$Zq1x$SECRETHASHSECRETHASH';
    const shadow = path.join(n.root, 'shadow');
    writeFileSync(shadow, `root:${secret}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n`, { mode: 0o600 });
    const link = path.join(n.root, 'values.yaml');
    symlinkSync(shadow, link);
    for (const file of [shadow, link, ...(existsSync('/etc/shadow') ? ['/etc/shadow'] : [])]) {
      const out = refusedInput(n, ['enable', 'cilium', '--force', '--dry-run', '-f', file], `-f ${file}: top-level key number 1 is not a chart value name (letters, digits, _, - and .); give a YAML map of chart values`);
      assert.ok(!out.includes(secret));
      const applied = runCli(['apply', '-f', file, ...n.flags, '--output', 'json']);
      assert.equal(applied.code, 2);
      assert.ok(!applied.stdout.includes('SECRETHASH') && !applied.stdout.includes('root:'), applied.stdout);
    }
    // Nested under a real value, such keys are named by their length in the lint's warnings.
    const nested = path.join(n.root, 'nested.yaml');
    writeFileSync(nested, `hubble:\n  "root:${secret}:19000::": 1\n`);
    const { ciliumReleaseValues } = (await import(pathToFileURL(path.join(ROOT, 'dist', 'src', 'addons', 'cilium.js')).href)) as typeof import('../../src/addons/cilium.js');
    const node = { paths: { snap: n.snap, snapData: n.snapData, snapCommon: n.snapCommon }, globals: { strict: false } } as unknown as Parameters<typeof ciliumReleaseValues>[0];
    const r = await ciliumReleaseValues(node, '1.16.19', { '--values': [nested] }, undefined);
    assert.deepEqual(r.notes, [`warning: hubble.<a key of ${`root:${secret}:19000::`.length} characters> (from -f ${nested}) is not a value of chart cilium 1.16.19, so Helm would ignore it; check the key against the chart's values (helm show values)`]);

    // Many unknown keys (8): the first 20 warnings, then how many more.
    const many = path.join(n.root, 'many.yaml');
    writeFileSync(many, Array.from({ length: 500 }, (_, i) => `unknownKey${i}: 1`).join('\n'));
    const m = await ciliumReleaseValues(node, '1.16.19', { '--values': [many] }, undefined);
    assert.equal(m.notes.length, 21);
    assert.equal(m.notes[20], 'warning: and 480 more values the chart does not have (--strict refuses them all)');
  }),
);

function spawnSyncStatus(file: string, args: string[]): number | null {
  return spawnSync(file, args).status;
}

// ----------------------------------------------------------------- 4, 5: writes that fail (mounts, full disk)

const mounted: string[] = [];
after(() => {
  for (const m of mounted.reverse()) spawnSync('umount', ['-l', m]);
});
function mount(args: string[], target: string) {
  const r = spawnSync('mount', [...args, target], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mount ${args.join(' ')} ${target}: ${r.stderr}`);
  mounted.push(target);
}
function umount(target: string) {
  assert.equal(spawnSync('umount', [target]).status, 0);
  mounted.splice(mounted.indexOf(target), 1);
}

/** Temp files mk8s-addons may have left anywhere under a folder. */
function tempFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.mk8s-addons-\d+\.tmp$|\.stale-\d+$/.test(f));
}

test(
  'args/ read-only (a bind mount): exit 3 naming the phase and what to do; nothing changed, no temp file (4)',
  withNode('1.35', (n) => {
    const args = path.join(n.snapData, 'args');
    mount(['--bind', args], args);
    mount(['-o', 'remount,ro,bind'], args);
    try {
      const before = fullTree(n);
      const r = cli(n, ['enable', 'netdemo']);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.deepEqual(jsonEvents(r.stdout).filter((e) => e.type === 'error'), [
        {
          type: 'error',
          code: 'precondition',
          phase: 'enable/netdemo/apiserver-flag',
          message: `cannot write ${args}/kube-apiserver (EROFS): the file system is read-only: remount ${args} read-write and run again (rolled back)`,
        },
      ]);
      assert.equal(r.stderr, '');
      assert.deepEqual(fullTree(n), before);
      assert.deepEqual(tempFiles(n.snapData), []);
      assert.equal(JSON.parse(readFileSync(journalFile(n), 'utf8')).operation, null);
      assert.equal(existsSync(lockFile(n)), false);
    } finally {
      umount(args);
    }
  }),
);

test(
  'an immutable containerd template: the steps before it are rolled back, the template is not rewritten, no temp file (4)',
  withNode('1.35', (n) => {
    oldContainerdTemplate(n.snapData);
    const template = path.join(n.snapData, 'args', 'containerd-template.toml');
    const before = fullTree(n);
    assert.equal(spawnSync('chattr', ['+i', template]).status, 0);
    try {
      const r = cli(n, ['enable', 'netdemo']);
      assert.equal(r.code, 3, r.stdout + r.stderr);
      const events = jsonEvents(r.stdout);
      assert.deepEqual(events.filter((e) => e.type === 'error'), [
        {
          type: 'error',
          code: 'precondition',
          phase: 'enable/netdemo/containerd-bin-dir',
          message: `cannot write ${template} (EPERM): the operation is not permitted: run mk8s-addons as root (sudo), and check that the file is not immutable (lsattr ${template}; chattr -i removes the flag) (rolled back)`,
        },
      ]);
      // Its undo had nothing to put back (the file never changed): skipped, not failed.
      assert.deepEqual(events.filter((e) => e.type === 'step' && e.phase === 'enable/netdemo/containerd-bin-dir').map((e) => e.status), ['started', 'failed', 'skipped']);
      assert.equal(events.filter((e) => e.status === 'undone').length, 6);
      assert.deepEqual(fullTree(n), before);
      assert.deepEqual(tempFiles(n.snapData), []);
      assert.equal(JSON.parse(readFileSync(journalFile(n), 'utf8')).operation, null);
    } finally {
      spawnSync('chattr', ['-i', template]);
    }
  }),
);

test(
  'SNAP_DATA on a full tmpfs: exit 3 saying what to free, node as before, no temp or lock file, at every amount of free space (5)',
  withNode('1.35', (n) => {
    oldContainerdTemplate(n.snapData);
    const data = path.join(n.root, 'full');
    mkdirSync(data);
    mount(['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs'], data);
    try {
      spawnSync('cp', ['-a', `${n.snapData}/.`, data]);
      const node: TestNode = { ...n, snapData: data, flags: ['--snap', n.snap, '--snap-data', data, '--snap-common', n.snapCommon] };
      const filler = path.join(data, 'filler');
      // Fill it, then give back `free` bytes.
      spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k'], { encoding: 'utf8' });
      const full = statSync(filler).size;
      const outcomes: string[] = [];
      for (const freeKiB of [0, 4, 8, 12, 16, 20, 24, 32, 48, 64, 96, 128]) {
        spawnSync('truncate', ['-s', String(full - freeKiB * 1024), filler]);
        const before = fullTree(node);
        const r = cli(node, ['enable', 'netdemo']);
        assert.deepEqual(tempFiles(data), [], `${freeKiB} KiB free: temp files`);
        assert.equal(existsSync(lockFile(node)), false, `${freeKiB} KiB free: lock file left`);
        assert.notEqual(r.code, 70, r.stdout + r.stderr);
        assert.equal(r.stderr, '');
        if (r.code === 0) {
          const d = cli(node, ['disable', 'netdemo']);
          assert.deepEqual(tempFiles(data), []);
          outcomes.push(`${freeKiB}: enabled, disable ${d.code}`);
          if (d.code !== 0) {
            // A disable that ran out of space says so; with room again, the next one finishes it.
            assert.equal(d.code, 3, d.stdout);
            assert.match(String(jsonEvents(d.stdout).find((e) => e.type === 'error')!.message), /\(ENOSPC\): no space is left on the device: free some space/);
            spawnSync('truncate', ['-s', String(full - 512 * 1024), filler]);
            const again = cli(node, ['disable', 'netdemo']);
            assert.equal(again.code, 0, again.stdout);
            spawnSync('truncate', ['-s', String(full - freeKiB * 1024), filler]);
          }
        } else {
          assert.equal(r.code, 3, `${freeKiB} KiB free: ${r.stdout}`);
          const errors = jsonEvents(r.stdout).filter((e) => e.type === 'error');
          assert.equal(errors.length, 1);
          assert.match(String(errors[0]!.message), /^cannot (write|lock) \S+ \(ENOSPC\): no space is left on the device: free some space on the file system of \S+ \(df -h \S+\) and run again( \(rolled back\))?$/);
          outcomes.push(`${freeKiB}: refused`);
        }
        assert.deepEqual(fullTree(node), before, `${freeKiB} KiB free: the node changed (${outcomes.join(', ')})`);
        rmSync(path.join(data, 'var', 'mk8s-addons'), { recursive: true, force: true });
      }
      assert.equal(outcomes[0], '0: refused');
      assert.equal(outcomes.at(-1), '128: enabled, disable 0', outcomes.join('\n'));
    } finally {
      umount(data);
    }
  }),
);

// ------------------------------------------------------------ 11, 13: kubeconfigs and durations that hurt

test(
  'a password in the kubeconfig server URL is never printed; empty, null and bad-URL kubeconfigs are one line, not exit 70 (11, 13)',
  withNode('1.35', (n) => {
    const kc = (name: string, text: string) => {
      const file = path.join(n.root, name);
      writeFileSync(file, text, { mode: 0o600 });
      return file;
    };
    const config = (server: string) =>
      `apiVersion: v1\nclusters:\n- cluster: {server: "${server}"}\n  name: c\ncontexts:\n- context: {cluster: c, user: u}\n  name: x\ncurrent-context: x\nusers:\n- name: u\n  user: {token: t0ken}\n`;
    const cases: [string, string][] = [
      [kc('password', config('https://admin:hunter2@127.0.0.1:1')), 'cannot reach the API server https://***@127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1; is MicroK8s running? (mk8s-addons start)'],
      [kc('empty', ''), `the kubeconfig ${path.join(n.root, 'empty')} is empty; give --kubeconfig with a working one (microk8s config writes one)`],
      [kc('null', 'null\n'), `the kubeconfig ${path.join(n.root, 'null')} is not a kubeconfig (not a map); give --kubeconfig with a working one (microk8s config writes one)`],
      [kc('bad-url', config('hunter2 is not a URL')), `the kubeconfig ${path.join(n.root, 'bad-url')} has a cluster server that is not an http(s) URL; give --kubeconfig with a working one`],
    ];
    const before = fullTree(n);
    for (const [file, message] of cases) {
      for (const args of [['enable', 'dns', '--dry-run'], ['enable', 'dns']]) {
        const json = runCli([...args, ...n.flags, '--kubeconfig', file, '--output', 'json']);
        assert.equal(json.code, 1, json.stdout + json.stderr);
        assert.deepEqual(jsonEvents(json.stdout).filter((e) => e.type === 'error').map((e) => e.message), [message]);
        const plain = runCli([...args, ...n.flags, '--kubeconfig', file, '--output', 'plain']);
        assert.equal(plain.code, 1);
        assert.equal(plain.stderr, `mk8s-addons: error: ${message}\n`);
        for (const out of [json.stdout, json.stderr, plain.stdout, plain.stderr]) assert.ok(!out.includes('hunter2'), out);
      }
    }
    const status = runCli(['status', ...n.flags, '--kubeconfig', cases[0]![0]]);
    assert.ok(status.stdout.includes('https://***@127.0.0.1:1') && !status.stdout.includes('hunter2'), status.stdout);
    assert.deepEqual(fullTree(n), before);
  }),
);

test(
  '--timeout past what a Node timer can wait is refused (13)',
  withNode('1.20', (n) => {
    for (const flag of ['--timeout', '--lock-timeout']) {
      const r = cli(n, ['enable', 'netdemo', flag, '1000h']);
      assert.equal(r.code, 2);
      assert.deepEqual(jsonEvents(r.stdout).filter((e) => e.type === 'error').map((e) => e.message), [`invalid ${flag} "1000h": the longest is 596h (24 days); give a shorter duration`]);
      const ok = cli(n, ['enable', 'netdemo', '--dry-run', flag, '596h']);
      assert.equal(ok.code, 0, ok.stdout);
      assert.equal(ok.stderr, '', 'no TimeoutOverflowWarning');
    }
  }),
);

// ------------------------------------------------------------------------------ 12: modes and ownership

test(
  'under umask 000 every folder and file mk8s-addons creates has an explicit mode; root refuses a journal or binary others could change (12)',
  withNode('1.35', (n) => {
    const before = fullTree(n);
    // The umask is set for the CLI alone; "$0" and "$@" pass the command as words, not as a string.
    const underUmask = (args: string[]) =>
      spawnSync('bash', ['-c', 'umask 000 && exec "$0" "$@"', process.execPath, CLI, ...args, ...n.flags, '--output', 'json'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    const r = underUmask(['enable', 'helm3']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const created = Object.fromEntries(Object.entries(fullTree(n)).filter(([k]) => !(k in before)));
    const mode = (k: string) => Number.parseInt(String(created[k]).split(' ').at(-1)!, 8);
    assert.deepEqual(Object.keys(created).sort(), ['bin/', 'bin/helm3']);
    assert.equal(mode('bin/'), 0o755);
    assert.equal(mode('bin/helm3'), 0o755);
    const journalDir = path.dirname(journalFile(n));
    assert.equal(statSync(journalDir).mode & 0o7777, 0o755);
    assert.equal(statSync(journalFile(n)).mode & 0o7777, 0o600);
    assert.equal(statSync(`${journalFile(n)}.bak`).mode & 0o7777, 0o600);

    // A journal (or its folder) others could have changed is refused before anything is done.
    const refuse = (message: string) => {
      const tree = fullTree(n);
      const d = runCli(['disable', 'helm3', ...n.flags, '--output', 'json']);
      assert.equal(d.code, 3, d.stdout);
      assert.deepEqual(jsonEvents(d.stdout).filter((e) => e.type === 'error').map((e) => e.message), [message]);
      assert.deepEqual(fullTree(n), tree);
    };
    chmodSync(journalFile(n), 0o666);
    refuse(`the journal, ${journalFile(n)}, is writable by others (mode 0666), so root cannot trust it; check it, then "chmod go-w ${journalFile(n)}"`);
    chmodSync(journalFile(n), 0o600);
    chownSync(journalFile(n), 1000, 1000);
    refuse(`the journal, ${journalFile(n)}, is owned by uid 1000, not root, so root cannot trust it; check it, then "chown root: ${journalFile(n)}"`);
    chownSync(journalFile(n), 0, 0);
    chmodSync(journalDir, 0o777);
    refuse(`the folder of the journal, ${journalDir}, is writable by others (mode 0777), so root cannot trust it; check it, then "chmod go-w ${journalDir}"`);
    chmodSync(journalDir, 0o755);
    assert.equal(runCli(['disable', 'helm3', ...n.flags]).code, 0);

    // The agent CLI copy that `mk8s-addons cilium` runs as root.
    const journal = JSON.parse(readFileSync(journalFile(n), 'utf8'));
    journal.addons.cilium = { version: '1.16.19', requested: null, args: {}, options: {}, enabledAt: 'x', updatedAt: 'x', steps: [] };
    writeFileSync(journalFile(n), JSON.stringify(journal), { mode: 0o600 });
    const copy = path.join(n.snapData, 'bin', 'cilium-1.16.19');
    mkdirSync(path.dirname(copy), { recursive: true, mode: 0o755 });
    writeFileSync(copy, '#!/bin/sh\necho ran\n', { mode: 0o777 });
    chmodSync(copy, 0o777);
    const c = runCli(['cilium', ...n.flags, '--', 'status']);
    assert.equal(c.code, 3, c.stdout + c.stderr);
    assert.equal(c.stderr, `mk8s-addons: error: the agent's CLI, ${copy}, is writable by others (mode 0777), so root cannot trust it; check it, then "chmod go-w ${copy}"\n`);
    assert.equal(c.stdout, '');
    chmodSync(copy, 0o755);
    const ok = runCli(['cilium', ...n.flags, '--', 'status']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'ran\n');
  }),
);

// ------------------------------------------------------------------ 3: what counts as "API unreachable"

test(
  'an API server that does not answer is recognised in Helm\'s, the Kubernetes client\'s and our own errors; a refusal is not (3)',
  withNode('1.35', async (n) => {
    const dist = (m: string) => pathToFileURL(path.join(ROOT, 'dist', 'src', ...m.split('/'))).href;
    const { isApiUnreachable } = (await import(dist('adapters/kube-http.js'))) as typeof import('../../src/adapters/kube-http.js');
    const helm = (await import(dist('adapters/helm.js'))) as typeof import('../../src/adapters/helm.js');
    const kube = (await import(dist('adapters/kube.js'))) as typeof import('../../src/adapters/kube.js');
    // A kubeconfig pointing at a port where nothing listens.
    const kc = path.join(n.root, 'dead.kubeconfig');
    writeFileSync(kc, 'apiVersion: v1\nclusters:\n- cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}\n  name: c\ncontexts:\n- context: {cluster: c, user: u}\n  name: x\ncurrent-context: x\nusers:\n- name: u\n  user: {token: t}\n');
    const failure = async (p: Promise<unknown>) => p.then(() => assert.fail('expected a failure'), (e: unknown) => e);
    const helmErr = await failure(helm.status({ helm: path.join(ROOT, 'vendor', 'bin', 'helm'), kubeconfig: kc, env: { PATH: process.env.PATH, HOME: n.root } }, { release: 'cilium', namespace: 'kube-system' }));
    assert.ok(isApiUnreachable(helmErr), String(helmErr));
    const k = await kube.connect(kc);
    const readErr = await failure(kube.readObject(k, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' } }));
    assert.ok(isApiUnreachable(readErr), String(readErr));
    const deleteErr = await failure(kube.deleteObject(k, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' } }));
    assert.ok(isApiUnreachable(deleteErr), String(deleteErr));
    // Refusals and node conditions are not retried.
    assert.equal(isApiUnreachable(new Error('cannot delete configmap/x in default: configmaps "x" is forbidden: User "u" cannot delete resource')), false);
    assert.equal(isApiUnreachable(new Error('cannot write /x (EROFS): the file system is read-only')), false);
  }),
);
