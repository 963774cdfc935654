/**
 * Exact undo of folders: a file that did not exist records how many of its folders did not exist either;
 * putting its absence back (undo, reset's snapshot) removes those folders again when they are empty.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileState, restoreState, writeAtomic } from '../../src/adapters/fs.js';
import { driftedFiles, restoreSummary, type DriftedFile } from '../../src/lifecycle/snapshot.js';
import { kindImpl } from '../../src/engine/kinds/index.js';
import type { StepContext } from '../../src/engine/step.js';

/** As reset restores a drifted file: the file kind's undo with the snapshot's state as its record. */
const restoreAsReset = (f: DriftedFile) =>
  kindImpl('file').undo({ requestRestart: () => assert.fail('no restart: no content changed') } as unknown as StepContext, { path: f.abs, previous: f.before });

function withDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'mk8s-folders-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'fileState counts the missing folders; restoreState removes them again, innermost first, only when empty',
  withDir(async (dir) => {
    const file = path.join(dir, 'bin', 'demo', 'cli');
    const state = await fileState(file);
    assert.deepEqual(state, { exists: false, missingParents: 2 });
    assert.deepEqual(await fileState(path.join(dir, 'absent')), { exists: false });

    await writeAtomic(file, 'x\n', { mode: 0o755 });
    await restoreState(file, state);
    assert.equal(existsSync(path.join(dir, 'bin')), false);

    await writeAtomic(file, 'x\n');
    writeFileSync(path.join(dir, 'bin', 'other'), 'mine\n');
    await restoreState(file, state);
    assert.equal(existsSync(path.join(dir, 'bin', 'demo')), false);
    assert.equal(existsSync(path.join(dir, 'bin', 'other')), true);

    // Idempotent: nothing left to remove.
    await restoreState(file, state);
    assert.equal(existsSync(path.join(dir, 'bin', 'other')), true);
  }),
);

test(
  'reset: a folder left behind after its file is gone is drift, restored and said',
  withDir(async (dir) => {
    const rel = path.join('bin', 'demo', 'cli');
    const snapshot = { [rel]: await fileState(path.join(dir, rel)) };
    mkdirSync(path.join(dir, 'bin', 'demo'), { recursive: true });
    const drifted = await driftedFiles(dir, snapshot);
    assert.deepEqual(
      drifted.map((f) => [f.rel, restoreSummary(f)]),
      [[rel, 'removed the folders bin/demo/, bin/ when empty (mk8s-addons created them)']],
    );
    // Only folders go, and that is a change (counted and reported as undone).
    assert.equal(await restoreAsReset(drifted[0] as DriftedFile), true);
    assert.equal(existsSync(path.join(dir, 'bin')), false);
    assert.deepEqual(await driftedFiles(dir, snapshot), []);

    // Only the outer folder left: one folder to remove.
    mkdirSync(path.join(dir, 'bin'));
    const outer = await driftedFiles(dir, snapshot);
    assert.deepEqual(outer.map(restoreSummary), ['removed the folder bin/ when empty (mk8s-addons created it)']);
    assert.equal(await restoreAsReset(outer[0] as DriftedFile), true);
    assert.equal(existsSync(path.join(dir, 'bin')), false);
    // Nothing left to put back: no change.
    assert.equal(await restoreAsReset(outer[0] as DriftedFile), false);
  }),
);
