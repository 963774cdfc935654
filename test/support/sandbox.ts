/**
 * Sandbox nodes for integration tests, made and removed with the built CLI (`sandbox up` / `sandbox down`),
 * as a user would. `const node = useSandbox('1.20')` registers the teardown with after() in the calling
 * scope (a file or a describe) and returns a getter that brings the sandbox up on first use, so a file
 * only pays for the sandboxes its tests really reach. Each one lives in
 * SANDBOX_ROOT/<owner pid>-<random>/<name>; a start first reaps the folders of test processes that are
 * gone (a run killed with SIGKILL never cleans up), and at exit the daemons are killed without waiting.
 */
import { after } from 'node:test';
import { orphanedEntries } from './orphans.js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROXY_VARIABLES, run, runChecked, type RunResult } from '../../src/adapters/process.js';
import { isRunning, processStartTime, type ComponentState, type ControlPlane } from '../../src/sandbox/control-plane.js';
import { readServiceLog, type ServiceLogEntry } from '../../src/engine/services.js';
import { netnsFor, type SandboxInfo } from '../../src/sandbox/sandbox.js';
import { CLI, ROOT, type CliResult } from './cli.js';

export const SANDBOX_ROOT = path.join(os.tmpdir(), 'mk8s-addons-test-sb');
export const VENDOR_BIN = path.join(ROOT, 'vendor', 'bin');
export const KUBECTL = path.join(VENDOR_BIN, 'kubectl');

/** Every proxy variable unset: spawn leaves out variables whose value is undefined. */
export const NO_PROXY_ENV: NodeJS.ProcessEnv = Object.fromEntries(PROXY_VARIABLES.map((n) => [n, undefined]));

/** The built CLI with exactly `process.env` + `env` (an undefined value removes a variable); never a shell. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...NO_PROXY_ENV, ...env },
    cwd: ROOT,
    timeout: 240_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the CLI and fails with its output unless it exits 0. */
export function cliOk(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = cli(args, env);
  if (r.code !== 0) throw new Error(`mk8s-addons ${args.join(' ')} exited with ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

export interface TestSandbox {
  dir: string;
  info: SandboxInfo;
  /** What `sandbox env` exports, plus no proxy variables: for CLI calls that target this sandbox. */
  env: NodeJS.ProcessEnv;
  /** mk8s-addons against this sandbox; `env` is added to (or, with undefined values, removed from) this.env. */
  cli(args: string[], env?: NodeJS.ProcessEnv): CliResult;
  /** vendor/bin/kubectl against this sandbox; throws with its stderr when it fails. */
  kubectl(args: string[], opts?: { input?: string }): Promise<RunResult>;
  /** The same, resolving whatever the exit code (for NotFound checks). */
  kubectlAny(args: string[]): Promise<RunResult>;
  /** DIR/services/log.jsonl, parsed. */
  serviceLog(): Promise<ServiceLogEntry[]>;
  /** DIR/cp/control-plane.json. */
  controlPlane(): ControlPlane;
  /** The kube-apiserver process as recorded now. */
  apiserver(): ComponentState;
  /** `sandbox down` (idempotent; also run by after()). */
  down(): void;
}


function killNow(dir: string): void {
  try {
    const cp = JSON.parse(readFileSync(path.join(dir, 'cp', 'control-plane.json'), 'utf8')) as ControlPlane;
    for (const c of Object.values(cp.components)) if (c.pid > 0 && isRunning(c)) process.kill(c.pid, 'SIGKILL');
  } catch {
    // No control plane recorded yet, or already gone.
  }
  // The sandbox kubelet and the agents it ran (their process groups), then what the node mounted.
  try {
    const state = JSON.parse(readFileSync(path.join(dir, 'node', 'kubelet.json'), 'utf8')) as { pid: number; startTime: string; agents: { pid: number; startTime: string }[] };
    for (const p of [state, ...state.agents]) {
      if (p.pid > 0 && isRunning(p)) {
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch {
          process.kill(p.pid, 'SIGKILL');
        }
      }
    }
  } catch {
    // No kubelet (simulated agent), or already gone.
  }
  // The cluster nodes' stand-in agents (DIR/nodes/node-I/cluster-agent.json).
  const nodesDir = path.join(dir, 'nodes');
  for (const name of existsSync(nodesDir) ? readdirSync(nodesDir) : []) {
    try {
      const agent = JSON.parse(readFileSync(path.join(nodesDir, name, 'cluster-agent.json'), 'utf8')) as { pid: number; startTime: string };
      if (agent.pid > 0 && isRunning(agent)) process.kill(agent.pid, 'SIGKILL');
    } catch {
      // Not started, or already gone.
    }
  }
  for (const m of ['bpffs', 'cgroup']) spawnSync('umount', ['-l', path.join(dir, 'node', m)], { stdio: 'ignore' });
  const cgroupRoot = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
  // Named after the folder, so found even when `sandbox up` died before writing sandbox.json.
  const netns = netnsFor(dir);
  if (cgroupRoot) spawnSync('rmdir', [path.join(cgroupRoot, netns)], { stdio: 'ignore' });
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const name of list.split('\n').map((l) => l.split(' ')[0] ?? '')) if (name === netns || name.startsWith(`${netns}-`)) spawnSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
}

/** Takes down the sandboxes left by test processes that no longer run. */
export function reapOrphanedSandboxes(): string[] {
  const reaped: string[] = [];
  for (const base of orphanedEntries(SANDBOX_ROOT)) {
    for (const name of existsSync(base) ? readdirSync(base) : []) {
      const dir = path.join(base, name);
      if (name === 'owner.json') continue;
      if (!existsSync(path.join(dir, 'sandbox.json')) || cli(['sandbox', 'down', '--dir', dir]).code !== 0) killNow(dir);
    }
    rmSync(base, { recursive: true, force: true, maxRetries: 3 });
    reaped.push(base);
  }
  return reaped;
}

/** A fresh folder for sandboxes of this test process (owner.json lets a later run reap it). */
export function sandboxBase(): string {
  reapOrphanedSandboxes();
  mkdirSync(SANDBOX_ROOT, { recursive: true });
  const base = mkdtempSync(path.join(SANDBOX_ROOT, `${process.pid}-`));
  writeFileSync(path.join(base, 'owner.json'), `${JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) })}\n`);
  return base;
}

/** Opens the sandbox already up in `dir` (made with `sandbox up`). */
export function openSandbox(dir: string): TestSandbox {
  const info = JSON.parse(readFileSync(path.join(dir, 'sandbox.json'), 'utf8')) as SandboxInfo;
  const env: NodeJS.ProcessEnv = {
    ...NO_PROXY_ENV,
    SNAP: info.snap,
    SNAP_DATA: info.snapData,
    SNAP_COMMON: info.snapCommon,
    KUBECONFIG: info.kubeconfig,
    MK8S_ADDONS_SANDBOX: info.dir,
  };
  const toolEnv = { ...process.env, ...env, PATH: `${VENDOR_BIN}:${process.env.PATH ?? ''}` };
  const controlPlane = () => JSON.parse(readFileSync(path.join(dir, 'cp', 'control-plane.json'), 'utf8')) as ControlPlane;
  let isDown = false;
  return {
    dir,
    info,
    env,
    cli: (args, extra = {}) => cli(args, { ...env, ...extra }),
    kubectl: (args, o = {}) => runChecked([KUBECTL, args], { env: toolEnv, input: o.input }),
    kubectlAny: (args) => run([KUBECTL, args], { env: toolEnv }),
    serviceLog: () => readServiceLog(dir),
    controlPlane,
    apiserver: () => controlPlane().components['kube-apiserver'],
    down() {
      if (isDown || !existsSync(path.join(dir, 'sandbox.json'))) {
        isDown = true;
        return;
      }
      isDown = true;
      const r = cli(['sandbox', 'down', '--dir', dir]);
      if (r.code !== 0) {
        killNow(dir);
        throw new Error(`sandbox down --dir ${dir} exited with ${r.code}: ${r.stderr}`);
      }
    },
  };
}

/**
 * `sandbox up` in `dir`; fails with the CLI's output when it does not come up. The Cilium agent is
 * simulated unless `agent: 'real'` (test/integration/cilium-real.test.ts runs the real one): the other
 * tests are about what mk8s-addons does to the node, not about the agent.
 */
export function sandboxUp(dir: string, era: '1.20' | '1.35', nodes = 1, agent: 'real' | 'simulated' = 'simulated'): TestSandbox {
  const r = cli(['sandbox', 'up', '--dir', dir, '--layout', era, '--nodes', String(nodes), '--agent', agent]);
  if (r.code !== 0) {
    killNow(dir);
    throw new Error(`sandbox up --dir ${dir} --layout ${era} exited with ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return openSandbox(dir);
}

/**
 * A sandbox of `era` for the tests of the calling scope, brought up on first use and taken down after
 * them (after() of the scope; SIGKILL of its daemons at process exit if that never ran).
 */
export function useSandbox(era: '1.20' | '1.35', opts: { name?: string; nodes?: number; agent?: 'real' | 'simulated' } = {}): () => TestSandbox {
  let sandbox: TestSandbox | undefined;
  let dir: string | undefined;
  const onExit = () => {
    if (dir !== undefined) killNow(dir);
  };
  after(() => {
    process.off('exit', onExit);
    sandbox?.down();
    if (dir !== undefined) rmSync(path.dirname(dir), { recursive: true, force: true });
  });
  return () => {
    if (sandbox === undefined) {
      dir = path.join(sandboxBase(), opts.name ?? `sb-${era}`);
      process.on('exit', onExit);
      sandbox = sandboxUp(dir, era, opts.nodes, opts.agent);
    }
    return sandbox;
  };
}
