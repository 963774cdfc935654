/**
 * One real control plane per test file: `const cp = await useControlPlane({ nodes: 2 })` at the top of
 * the file. It is stopped and its folder removed after the file's tests, on SIGINT/SIGTERM, and (SIGKILL,
 * no waiting) at process exit. Control planes live under CONTROL_PLANE_ROOT/<pid>-…; each start first
 * reaps those whose owning test process is gone (a run killed with SIGKILL never gets to clean up).
 */
import { after } from 'node:test';
import { orphanedEntries, type Owner } from './orphans.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runChecked, withoutProxy, type RunResult } from '../../src/adapters/process.js';
import {
  controlPlaneStatus,
  logTail,
  processStartTime,
  startControlPlane,
  stopControlPlane,
  type ControlPlane,
} from '../../src/sandbox/control-plane.js';
import { ROOT } from './cli.js';

/** Where test control planes live, one folder per start: `<owner pid>-<random>`. */
export const CONTROL_PLANE_ROOT = path.join(os.tmpdir(), 'mk8s-addons-test-cp');

export const KUBECTL = path.join(ROOT, 'vendor', 'bin', 'kubectl');
export const HELM = path.join(ROOT, 'vendor', 'bin', 'helm');

/** Who started a test control plane: a pid and its start time, so that a reused pid does not count. */

export interface TestControlPlane extends ControlPlane {
  /** The environment the daemons were started with. */
  env: NodeJS.ProcessEnv;
  /** vendor/bin/kubectl against this control plane; throws with its stderr when it fails. */
  kubectl(args: string[], opts?: { input?: string }): Promise<RunResult>;
  /** vendor/bin/helm against this control plane, with its own helm cache and config folders. */
  helm(args: string[]): Promise<RunResult>;
  /** Stops the daemons and removes the folder (idempotent; also run by after()). */
  teardown(): Promise<void>;
}

/** Stops and removes the control planes left by test processes that no longer run. */
export async function reapOrphanedControlPlanes(): Promise<string[]> {
  const reaped: string[] = [];
  for (const dir of orphanedEntries(CONTROL_PLANE_ROOT)) {
    await stopControlPlane(dir, { graceMs: 5_000 });
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    reaped.push(dir);
  }
  return reaped;
}

function killNow(dir: string): void {
  try {
    for (const c of controlPlaneStatus(dir)) if (c.alive) process.kill(c.pid, 'SIGKILL');
  } catch {
    // No state yet, or already gone: nothing to kill.
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Starts a control plane for this test file and registers its teardown. After the file's tests it
 * fails if a daemon died during them, naming it with the tail of its log.
 */
export async function useControlPlane(opts: { nodes?: number; env?: NodeJS.ProcessEnv; readinessTimeoutMs?: number } = {}): Promise<TestControlPlane> {
  await reapOrphanedControlPlanes();
  mkdirSync(CONTROL_PLANE_ROOT, { recursive: true });
  const dir = mkdtempSync(path.join(CONTROL_PLANE_ROOT, `${process.pid}-`));
  const owner: Owner = { pid: process.pid, startTime: processStartTime(process.pid)! };
  writeFileSync(path.join(dir, 'owner.json'), `${JSON.stringify(owner)}\n`);
  const env = opts.env ?? withoutProxy(process.env).env;

  let tornDown = false;
  const onExit = () => killNow(dir);
  const onSignal = (sig: NodeJS.Signals) => {
    void teardown().finally(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.kill(process.pid, sig);
    });
  };
  async function teardown(): Promise<void> {
    if (tornDown) return;
    tornDown = true;
    process.off('exit', onExit);
    await stopControlPlane(dir);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
  process.on('exit', onExit);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let cp: ControlPlane;
  try {
    cp = await startControlPlane({ dir, nodes: opts.nodes ?? 1, env, readinessTimeoutMs: opts.readinessTimeoutMs });
  } catch (err) {
    await teardown();
    throw err;
  }

  after(async () => {
    if (tornDown) return;
    const dead = controlPlaneStatus(dir).filter((c) => !c.alive);
    const logs = dead.map((c) => `${c.name} (pid ${c.pid}) died during the tests; last lines of its log: ${logTail(c.log)}`);
    await teardown();
    if (logs.length > 0) throw new Error(logs.join('\n'));
  });

  const toolEnv = {
    ...withoutProxy(process.env).env,
    KUBECONFIG: cp.kubeconfig,
    HELM_CACHE_HOME: path.join(dir, 'helm', 'cache'),
    HELM_CONFIG_HOME: path.join(dir, 'helm', 'config'),
    HELM_DATA_HOME: path.join(dir, 'helm', 'data'),
  };
  return {
    ...cp,
    env,
    kubectl: (args, o = {}) => runChecked([KUBECTL, args], { env: toolEnv, input: o.input }),
    helm: (args) => runChecked([HELM, args], { env: toolEnv }),
    teardown,
  };
}
