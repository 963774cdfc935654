/**
 * What a run on a node loads: a dry-run and a no-op re-run only read the cluster, over plain HTTPS, and
 * must not import @kubernetes/client-node (0.8 s); a run that changes the cluster does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { useSandbox } from '../support/sandbox.js';
import { spawnSync } from 'node:child_process';
import { CLI, ROOT } from '../support/cli.js';

const sandbox = useSandbox('1.35', { name: 'imports' });

function loaded(env: NodeJS.ProcessEnv, args: string[]): { code: number | null; modules: string; stdout: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'mk8s-imports-'));
  try {
    const file = path.join(dir, 'imports.txt');
    const r = spawnSync(process.execPath, ['--import', path.join(ROOT, 'test', 'support', 'record-imports.mjs'), CLI, ...args], {
      encoding: 'utf8',
      env: { ...env, MK8S_RECORD_IMPORTS: file, NO_COLOR: '1' },
    });
    return { code: r.status, modules: readFileSync(file, 'utf8'), stdout: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('dry-run and no-op re-run read over HTTPS; only a change loads the Kubernetes client', () => {
  const sb = sandbox();
  const env = { ...process.env, ...sb.env } as NodeJS.ProcessEnv;
  const dry = loaded(env, ['enable', 'dns:1.1.1.1', '--dry-run', '--output', 'json']);
  assert.equal(dry.code, 0, dry.stdout);
  assert.ok(!dry.modules.includes('node_modules/@kubernetes/client-node/'), 'a dry-run does not load the client');
  const first = loaded(env, ['enable', 'dns:1.1.1.1', '--output', 'json']);
  assert.equal(first.code, 0, first.stdout);
  assert.ok(first.modules.includes('node_modules/@kubernetes/client-node/'), 'applying objects loads the client');
  const again = loaded(env, ['enable', 'dns:1.1.1.1', '--output', 'json']);
  assert.equal(again.code, 0, again.stdout);
  assert.match(again.stdout, /"type":"result","ok":true,"changed":0,"restarts":\{\}/);
  assert.ok(!again.modules.includes('node_modules/@kubernetes/client-node/'), 'a no-op re-run does not load the client');
  assert.equal(sb.cli(['disable', 'dns']).code, 0);
});
