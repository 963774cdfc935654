/**
 * The engine against real temporary folders laid out like MicroK8s nodes of both eras, through the built
 * binary, with the tests' data-only addons (test/fixtures/addons): every node step kind's check, apply and
 * undo; idempotency; coalesced restarts; dry-run; rollback; crash safety at every step boundary; the lock
 * with real concurrent processes; Ctrl+C mid-run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { runCli, spawnCli as spawnWith, waitFor } from '../support/cli.js';
import { withNode, oldContainerdTemplate, nodeTree, serviceLog, jsonEvents, TEST_ADDONS, type TestNode } from '../support/node.js';

const env = { MK8S_ADDONS_ADDONS_DIR: TEST_ADDONS };
const cli = (n: TestNode, args: string[], extraEnv: NodeJS.ProcessEnv = {}) => runCli([...args, ...n.flags, '--output', 'json'], { env: { ...env, ...extraEnv } });

const spawnCli = (args: string[]) => spawnWith(args, env);

const NETDEMO_PHASES = ['apiserver-flag', 'kubelet-domain', 'flanneld-stop', 'flannel-lock', 'cni-config', 'cni-set-aside', 'containerd-bin-dir', 'marker', 'restarts'].map((s) => `enable/netdemo/${s}`);

for (const era of ['1.20', '1.35'] as const) {
  test(
    `${era}: enable applies every step kind, a second enable changes nothing, disable restores byte-identical files`,
    withNode(era, (n) => {
      oldContainerdTemplate(n.snapData);
      const before = nodeTree(n);
      const r = cli(n, ['enable', 'netdemo']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const events = jsonEvents(r.stdout);
      const result = events.at(-1)!;
      const daemonsRestarted = era === '1.20' ? { apiserver: 1, kubelet: 1 } : { kubelite: 1 };
      assert.deepEqual(result, { type: 'result', ok: true, changed: 9, restarts: daemonsRestarted });
      assert.deepEqual(events.filter((e) => e.status === 'done').map((e) => e.phase), NETDEMO_PHASES);

      const args = (f: string) => readFileSync(path.join(n.snapData, 'args', f), 'utf8');
      assert.match(args('kube-apiserver'), /\n--demo-flag=on\n$/);
      assert.match(args('kubelet'), /\n--cluster-domain=demo.local\n$/);
      assert.match(args('containerd-template.toml'), /bin_dir = "\$\{SNAP_DATA\}\/opt\/cni\/bin"/);
      assert.ok(existsSync(path.join(n.snapData, 'var', 'lock', 'no-flanneld')));
      assert.deepEqual(readdirSync(path.join(n.snapData, 'args', 'cni-network')), ['05-demo.conf', 'flannel.conflist.mk8s-addons-aside']);
      const log = serviceLog(n).map((e) => `${e.action} ${e.daemon}`);
      assert.deepEqual(log, era === '1.20' ? ['stop flanneld', 'restart apiserver', 'restart kubelet'] : ['stop flanneld', 'restart kubelite']);

      // Idempotent: nothing changes, nothing restarts, it says so.
      const afterEnable = nodeTree(n);
      const journalFile = path.join(n.snapData, 'var', 'mk8s-addons', 'journal.json');
      const journalTimes = [journalFile, `${journalFile}.bak`].map((f) => statSync(f).mtimeMs);
      const again = cli(n, ['enable', 'netdemo']);
      assert.equal(again.code, 0, again.stderr);
      const againEvents = jsonEvents(again.stdout);
      assert.deepEqual(againEvents.at(-1), { type: 'result', ok: true, changed: 0, restarts: {} });
      assert.ok(againEvents.some((e) => e.type === 'note' && e.message === 'netdemo is already enabled'));
      assert.deepEqual(nodeTree(n), afterEnable);
      assert.equal(serviceLog(n).length, log.length, 'no service action on a no-op run');
      assert.deepEqual([journalFile, `${journalFile}.bak`].map((f) => statSync(f).mtimeMs), journalTimes, 'a no-op run writes nothing, not even the journal');

      // Disable: the exact inverse.
      const d = cli(n, ['disable', 'netdemo']);
      assert.equal(d.code, 0, d.stdout + d.stderr);
      assert.deepEqual(nodeTree(n), before);
      const after = serviceLog(n).slice(log.length).map((e) => `${e.action} ${e.daemon} ${e.result}`);
      // flanneld starts again only once its lock is gone; the args restore restarts each service once.
      assert.deepEqual(after, era === '1.20' ? ['start flanneld ok', 'restart kubelet ok', 'restart apiserver ok'] : ['start flanneld ok', 'restart kubelite ok']);
      const journal = JSON.parse(readFileSync(path.join(n.snapData, 'var', 'mk8s-addons', 'journal.json'), 'utf8'));
      assert.deepEqual(journal.addons, {});
      assert.equal(journal.operation, null);
      // Disabling again: nothing to do.
      const d2 = cli(n, ['disable', 'netdemo']);
      assert.equal(d2.code, 0);
      assert.ok(jsonEvents(d2.stdout).some((e) => e.message === 'netdemo is not enabled; nothing to do'));
    }),
  );
}

test(
  'dry-run runs every check, shows diffs and before/after lines, and changes nothing',
  withNode('1.35', (n) => {
    oldContainerdTemplate(n.snapData);
    const before = nodeTree(n);
    const r = cli(n, ['enable', 'netdemo', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    const events = jsonEvents(r.stdout);
    assert.equal(events[0]!.type, 'plan');
    const would = Object.fromEntries(events.filter((e) => e.status === 'would-change').map((e) => [e.phase, e]));
    assert.equal(would['enable/netdemo/apiserver-flag']!.detail, '- (absent)\n+ --demo-flag=on');
    assert.match(String(would['enable/netdemo/containerd-bin-dir']!.detail), /^- {4}bin_dir = "\$\{SNAP\}\/opt\/cni\/bin"\n\+ {4}bin_dir = "\$\{SNAP_DATA\}\/opt\/cni\/bin"$/m);
    assert.equal(would['enable/netdemo/restarts']!.summary, 'restart kubelite');
    // The checks run side by side, but are reported in plan order, each started before its answer.
    assert.deepEqual(
      events.filter((e) => e.type === 'step').map((e) => `${e.status} ${e.phase}`),
      NETDEMO_PHASES.flatMap((p) => [`started ${p}`, `${p in would ? 'would-change' : 'skipped'} ${p}`]),
    );
    assert.deepEqual(events.at(-1), { type: 'result', ok: true, changed: 0, restarts: {}, dryRun: true });
    assert.deepEqual(nodeTree(n), before);
    assert.deepEqual(serviceLog(n), []);
  }),
);

test(
  'a failing step rolls back every step of the run, dependencies included',
  withNode('1.20', (n) => {
    const before = nodeTree(n);
    const r = cli(n, ['enable', 'faildemo']);
    assert.equal(r.code, 1);
    const events = jsonEvents(r.stdout);
    const error = events.find((e) => e.type === 'error')!;
    assert.equal(error.phase, 'enable/faildemo/broken');
    assert.match(String(error.message), /^ls \/nonexistent-mk8s-addons-test exited with 2: .*No such file or directory \(rolled back\)$/);
    assert.deepEqual(
      events.filter((e) => e.status === 'undone').map((e) => e.phase),
      [...NETDEMO_PHASES].reverse().filter((p) => p !== 'enable/netdemo/containerd-bin-dir' && p !== 'enable/netdemo/restarts'),
    );
    // The failed step was journaled before it ran, so its undo runs too; like the restart step's, it has
    // nothing to put back and is reported as skipped, not counted.
    assert.deepEqual(
      events.filter((e) => e.status === 'skipped' && String(e.phase).match(/broken|restarts/)).map((e) => e.phase),
      ['enable/faildemo/broken', 'enable/netdemo/restarts'],
    );
    // 8 steps applied, then 7 undone: each changed the node (the result is the node as before).
    assert.deepEqual(events.at(-1), { type: 'result', ok: false, changed: 15, restarts: { apiserver: 2, kubelet: 2 } });
    assert.deepEqual(nodeTree(n), before);
  }),
);

test(
  'crash safety: killed at every step boundary, the next run converges and disable restores the tree',
  withNode('1.35', (n) => {
    oldContainerdTemplate(n.snapData);
    const pristine = nodeTree(n);
    const clean = cli(n, ['enable', 'netdemo']);
    assert.equal(clean.code, 0, clean.stderr);
    const wanted = nodeTree(n);
    assert.equal(cli(n, ['disable', 'netdemo']).code, 0);
    assert.deepEqual(nodeTree(n), pristine);

    for (const phase of NETDEMO_PHASES) {
      for (const when of ['before', 'after']) {
        const crashed = cli(n, ['enable', 'netdemo'], { MK8S_ADDONS_CRASH_AT: `${phase}:${when}` });
        assert.equal(crashed.code, null, `killed at ${phase}:${when}`);
        const journal = JSON.parse(readFileSync(path.join(n.snapData, 'var', 'mk8s-addons', 'journal.json'), 'utf8'));
        assert.notEqual(journal.operation, null, 'the journal has the interrupted operation');
        const next = cli(n, ['enable', 'netdemo']);
        assert.equal(next.code, 0, `after ${phase}:${when}: ${next.stdout}`);
        assert.ok(jsonEvents(next.stdout).some((e) => e.phase === 'recover' && String(e.message).includes('was interrupted')));
        assert.deepEqual(nodeTree(n), wanted, `converged after a crash at ${phase}:${when}`);
        assert.equal(cli(n, ['disable', 'netdemo']).code, 0);
        assert.deepEqual(nodeTree(n), pristine, `byte-identical after a crash at ${phase}:${when}`);
      }
    }
    // A disable killed midway is finished by the next run.
    assert.equal(cli(n, ['enable', 'netdemo']).code, 0);
    const killed = cli(n, ['disable', 'netdemo'], { MK8S_ADDONS_CRASH_AT: 'disable/netdemo/cni-config:before' });
    assert.equal(killed.code, null);
    const finish = cli(n, ['disable', 'netdemo']);
    assert.equal(finish.code, 0, finish.stdout);
    assert.deepEqual(nodeTree(n), pristine);
  }),
);


for (const era of ['1.20', '1.35'] as const) {
  test(
    `${era}: a disable killed after undoing args but before its restarts: the next run does the restarts it owed`,
    withNode(era, (n) => {
      oldContainerdTemplate(n.snapData);
      const pristine = nodeTree(n);
      const restarts = (from: number) => serviceLog(n).slice(from).filter((e) => e.action === 'restart').map((e) => e.daemon).sort();
      // What a disable that is not interrupted restarts.
      assert.equal(cli(n, ['enable', 'netdemo']).code, 0);
      let mark = serviceLog(n).length;
      assert.equal(cli(n, ['disable', 'netdemo']).code, 0);
      const wanted = restarts(mark);
      assert.deepEqual(wanted, era === '1.20' ? ['apiserver', 'kubelet'] : ['kubelite']);

      assert.equal(cli(n, ['enable', 'netdemo']).code, 0);
      mark = serviceLog(n).length;
      // Undone newest first: kubelet-domain is undone (kubelet owed a restart), then killed before apiserver-flag.
      const killed = cli(n, ['disable', 'netdemo'], { MK8S_ADDONS_CRASH_AT: 'disable/netdemo/apiserver-flag:before' });
      assert.equal(killed.code, null);
      assert.deepEqual(restarts(mark), [], 'killed before any restart');
      const journal = JSON.parse(readFileSync(path.join(n.snapData, 'var', 'mk8s-addons', 'journal.json'), 'utf8'));
      assert.deepEqual([journal.operation.type, journal.operation.steps.map((s: { phase: string }) => s.phase), journal.operation.restarts], ['disable', ['enable/netdemo/apiserver-flag'], [era === '1.20' ? 'kubelet' : 'kubelite']]);

      const next = cli(n, ['disable', 'netdemo']);
      assert.equal(next.code, 0, next.stdout);
      assert.ok(jsonEvents(next.stdout).some((e) => e.phase === 'recover' && /was interrupted; finishing its 1 step\(s\)$/.test(String(e.message))));
      assert.deepEqual(restarts(mark), wanted, 'the interrupted disable and the run that finished it restart what one disable restarts');
      assert.deepEqual(nodeTree(n), pristine);
    }),
  );
}

test(
  'the lock: a second operation waits, then exits 3 naming the holder; a dead holder is taken over',
  withNode('1.35', async (n) => {
    const holder = spawnCli(['enable', 'slowdemo:4', ...n.flags, '--output', 'json']);
    await waitFor(() => holder.out().includes('"phase":"enable/slowdemo/slow","status":"started"'), 'the slow step');
    const blocked = cli(n, ['enable', 'netdemo', '--lock-timeout', '500ms']);
    assert.equal(blocked.code, 3);
    const error = jsonEvents(blocked.stdout).find((e) => e.type === 'error')!;
    assert.equal(error.code, 'precondition');
    assert.match(String(error.message), new RegExp(`^another mk8s-addons operation holds the node lock: pid ${holder.child.pid} \\(mk8s-addons enable slowdemo:4\\) since \\S+; wait for it to finish or give a longer --lock-timeout$`));
    // A patient one waits for the holder and then finds everything done.
    const patient = spawnCli(['enable', 'netdemo', ...n.flags, '--output', 'json', '--lock-timeout', '60s']);
    assert.equal(await holder.done, 0, holder.err());
    assert.equal(await patient.done, 0, patient.err());
    assert.deepEqual(jsonEvents(patient.out()).at(-1), { type: 'result', ok: true, changed: 0, restarts: {} });

    // A lock left by a process that no longer exists is taken over.
    const lock = path.join(n.snapData, 'var', 'lock', 'mk8s-addons.lock');
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 12345, command: 'mk8s-addons enable ghost', token: 'x', since: 'then' }));
    const r = cli(n, ['disable', 'slowdemo', '--lock-timeout', '1s']);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(existsSync(lock), false, 'released');
  }),
);

test(
  'SIGINT mid-run cancels the running child and rolls back',
  withNode('1.20', async (n) => {
    const before = nodeTree(n);
    const run = spawnCli(['enable', 'slowdemo:30', ...n.flags, '--output', 'json']);
    await waitFor(() => run.out().includes('"phase":"enable/slowdemo/slow","status":"started"'), 'the slow step');
    // The sleep child is running now.
    run.child.kill('SIGINT');
    const code = await run.done;
    assert.equal(code, 1, run.out() + run.err());
    const events = jsonEvents(run.out());
    assert.ok(events.some((e) => e.type === 'note' && e.message === 'SIGINT received: cancelling the running step and rolling back'));
    assert.match(String(events.find((e) => e.type === 'error')!.message), /^sleep 30 was cancelled \(rolled back\)$/);
    assert.deepEqual(nodeTree(n), before);
    const journal = JSON.parse(readFileSync(path.join(n.snapData, 'var', 'mk8s-addons', 'journal.json'), 'utf8'));
    assert.equal(journal.operation, null);
    assert.deepEqual(journal.addons, {});
  }),
);

test(
  'folders a step created are removed again: disable and a crash leave the tree as it was, folders and modes included',
  withNode('1.35', (n) => {
    const bin = path.join(n.snapData, 'bin');
    assert.equal(existsSync(bin), false, 'the test node has no $SNAP_DATA/bin');
    const before = nodeTree(n);
    const file = path.join(bin, 'demo', 'bindemo');

    assert.equal(cli(n, ['enable', 'bindemo']).code, 0);
    assert.equal((statSync(file).mode & 0o7777).toString(8), '755');
    assert.ok(nodeTree(n)['bin/demo/'] !== undefined);
    const journalFile = path.join(n.snapData, 'var', 'mk8s-addons', 'journal.json');
    assert.deepEqual(JSON.parse(readFileSync(journalFile, 'utf8')).snapshot[path.join('bin', 'demo', 'bindemo')], { exists: false, missingParents: 2 });
    const d = cli(n, ['disable', 'bindemo']);
    assert.equal(d.code, 0, d.stdout);
    assert.deepEqual(nodeTree(n), before);

    // A folder mk8s-addons created but something else put a file in since stays, with that file.
    assert.equal(cli(n, ['enable', 'bindemo']).code, 0);
    writeFileSync(path.join(bin, 'other'), 'mine\n');
    assert.equal(cli(n, ['disable', 'bindemo']).code, 0);
    assert.deepEqual(readdirSync(bin), ['other']);
    rmSync(bin, { recursive: true });
    assert.deepEqual(nodeTree(n), before);

    // Killed right after the file was written: the next run rolls back, folders included.
    const killed = cli(n, ['enable', 'bindemo'], { MK8S_ADDONS_CRASH_AT: 'enable/bindemo/command:after' });
    assert.equal(killed.code, null);
    assert.ok(existsSync(file));
    assert.equal(cli(n, ['disable', 'bindemo']).code, 0);
    assert.deepEqual(nodeTree(n), before);
  }),
);
