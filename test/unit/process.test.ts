/**
 * The process adapter (src/adapters/process.ts) with real processes: output and exit codes, input on
 * stdin, an empty stdin otherwise, the environment given and nothing else, and the errors for a missing
 * program, a timeout, a cancel and a kill.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, runAttached, runChecked } from '../../src/adapters/process.js';

const node = process.execPath;

test('process: stdout, stderr and the exit code come back whatever the code', async () => {
  const r = await run([node, ['-e', 'process.stdout.write("out\\n"); process.stderr.write("err"); process.exitCode = 3']]);
  assert.deepEqual(r, { stdout: 'out\n', stderr: 'err', exitCode: 3 });
  await assert.rejects(runChecked([node, ['-e', 'process.stderr.write("no such release\\n"); process.exitCode = 1']], { phase: 'enable/x/y' }), {
    name: 'StepError',
    message: `${node} -e 'process.stderr.write("no such release\\n"); process.exitCode = 1' exited with 1: no such release`,
    phase: 'enable/x/y',
  });
});

test('process: input goes to stdin; without input stdin is empty, not a pipe left open', async () => {
  const echo = [node, ['-e', 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => process.stdout.write(`[${s}]`))']] as const;
  assert.equal((await run(echo, { input: 'a\nb' })).stdout, '[a\nb]');
  assert.equal((await run(echo, { timeoutMs: 20_000 })).stdout, '[]');
  // A child that exits without reading its input is an answer, not an EPIPE.
  assert.equal((await run([node, ['-e', 'process.exitCode = 4']], { input: 'x'.repeat(1 << 20) })).exitCode, 4);
});

test('process: the child gets exactly the environment given', async () => {
  const r = await run([node, ['-e', 'process.stdout.write(JSON.stringify(Object.keys(process.env).filter((k) => k.startsWith("MK8S_T"))))']], {
    env: { MK8S_T_ONE: '1', PATH: process.env.PATH },
  });
  assert.deepEqual(JSON.parse(r.stdout), ['MK8S_T_ONE']);
});

test('process: a missing program, a timeout, a cancel and a kill are StepErrors that say so', async () => {
  await assert.rejects(run(['mk8s-no-such-program', ['a b']], { phase: 'p' }), {
    name: 'StepError',
    message: "cannot run mk8s-no-such-program 'a b': mk8s-no-such-program is not installed or not on PATH",
  });
  const sleeper = [node, ['-e', 'setTimeout(() => {}, 60_000)']] as const;
  await assert.rejects(run(sleeper, { timeoutMs: 200 }), { name: 'StepError', message: `${node} -e 'setTimeout(() => {}, 60_000)' did not finish within 200 ms` });
  const controller = new AbortController();
  const cancelled = run(sleeper, { signal: controller.signal });
  setTimeout(() => controller.abort(), 200);
  await assert.rejects(cancelled, { name: 'StepError', message: `${node} -e 'setTimeout(() => {}, 60_000)' was cancelled` });
  await assert.rejects(run(sleeper, { signal: controller.signal }), { message: `${node} -e 'setTimeout(() => {}, 60_000)' was cancelled` });
  await assert.rejects(run([node, ['-e', 'process.kill(process.pid, "SIGKILL")']]), { name: 'StepError', message: `${node} -e 'process.kill(process.pid, "SIGKILL")' was killed by SIGKILL` });
});

test('process: a child that ignores SIGTERM on cancel is killed with SIGKILL', { timeout: 60_000 }, async () => {
  // The child says when its SIGTERM handler is in place; it never ends by itself, so only the SIGKILL
  // that follows an ignored SIGTERM (after 5 s) ends this test (the timeout above only guards a hang).
  const dir = mkdtempSync(path.join(os.tmpdir(), 'process-test-'));
  try {
    const ready = path.join(dir, 'ready');
    const stubborn = [node, ['-e', `process.on("SIGTERM", () => {}); require("fs").writeFileSync(${JSON.stringify(ready)}, ""); setInterval(() => {}, 1000)`]] as const;
    const controller = new AbortController();
    const p = run(stubborn, { signal: controller.signal });
    while (!existsSync(ready)) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    await assert.rejects(p, { message: /was cancelled$/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('process: runAttached gives the exit code, and a missing program is a StepError', async () => {
  assert.equal(await runAttached([node, ['-e', 'process.exitCode = 5']]), 5);
  await assert.rejects(runAttached(['mk8s-no-such-program', []]), { name: 'StepError', message: 'cannot run mk8s-no-such-program: mk8s-no-such-program is not installed or not on PATH' });
});
