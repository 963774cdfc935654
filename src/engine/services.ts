/**
 * MicroK8s service managers: one interface, three variants.
 * - snapctl: inside the snap (`snapctl restart microk8s.daemon-X`);
 * - host: as root on the host (`snap restart microk8s.daemon-X`, falling back to
 *   `systemctl restart snap.microk8s.daemon-X` when snap is missing);
 * - sandbox: a sandbox node (see src/sandbox/): each service has a state file and an append-only log.
 * Daemon names are MicroK8s's without the `daemon-` prefix: kubelite, apiserver, kubelet, containerd, flanneld.
 */
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import type { Command, RunOptions, RunResult } from '../adapters/process.js';
import { StepError } from '../errors.js';

export type ServiceAction = 'start' | 'stop' | 'restart';

export interface ServiceManager {
  readonly variant: 'snapctl' | 'host' | 'sandbox';
  /** The command that performs the action (for --dry-run), or a description for the sandbox. */
  describe(action: ServiceAction, daemon: string): string;
  isActive(daemon: string): Promise<boolean>;
  act(action: ServiceAction, daemon: string, opts: { signal?: AbortSignal; env: NodeJS.ProcessEnv }): Promise<void>;
}

type Runner = (cmd: Command, opts?: RunOptions) => Promise<RunResult>;

export function snapctlManager(run: Runner): ServiceManager {
  const unit = (d: string) => `microk8s.daemon-${d}`;
  const cmd = (action: ServiceAction, d: string): Command => ['snapctl', [action, unit(d)]];
  return {
    variant: 'snapctl',
    describe: (a, d) => cmd(a, d).flat().join(' '),
    async isActive(d) {
      const r = await run(['snapctl', ['services', unit(d)]]);
      return /\bactive\b/.test(r.stdout.split('\n')[1] ?? '') && !/\binactive\b/.test(r.stdout.split('\n')[1] ?? '');
    },
    async act(a, d, opts) {
      const r = await run(cmd(a, d), { signal: opts.signal, env: opts.env });
      if (r.exitCode !== 0) throw new StepError(`snapctl ${a} ${unit(d)} failed: ${r.stderr.trim()}`);
    },
  };
}

export function hostManager(run: Runner, hasSnap: boolean): ServiceManager {
  const cmd = (action: ServiceAction, d: string): Command =>
    hasSnap ? ['snap', [action, `microk8s.daemon-${d}`]] : ['systemctl', [action, `snap.microk8s.daemon-${d}.service`]];
  return {
    variant: 'host',
    describe: (a, d) => [cmd(a, d)[0], ...cmd(a, d)[1]].join(' '),
    async isActive(d) {
      const r = await run(['systemctl', ['is-active', `snap.microk8s.daemon-${d}.service`]]);
      return r.stdout.trim() === 'active';
    },
    async act(a, d, opts) {
      const c = cmd(a, d);
      const r = await run(c, { signal: opts.signal, env: opts.env });
      if (r.exitCode !== 0) throw new StepError(`${[c[0], ...c[1]].join(' ')} failed: ${r.stderr.trim() || `exit ${r.exitCode}`}; check "journalctl -u snap.microk8s.daemon-${d}"`);
    },
  };
}

/** A hook the sandbox gives for services it runs for real (the control plane) and for start conditions. */
export interface SandboxServiceHooks {
  /** Throws (with the reason) when the service may not start, e.g. flanneld while no-flanneld exists. */
  beforeStart?(daemon: string): Promise<void>;
  /** Performs the real side of an action (restarting real processes, creating links); may be absent. */
  perform?(action: ServiceAction, daemon: string, env: NodeJS.ProcessEnv): Promise<void>;
}

/** One log line: ISO time, action, daemon, result. */
export interface ServiceLogEntry {
  at: string;
  action: ServiceAction;
  daemon: string;
  result: 'ok' | 'refused';
  detail?: string;
}

export const sandboxServiceLog = (dir: string) => path.join(dir, 'services', 'log.jsonl');
const stateFile = (dir: string, daemon: string) => path.join(dir, 'services', `${daemon}.state`);

export async function readServiceLog(dir: string): Promise<ServiceLogEntry[]> {
  try {
    const text = await fsp.readFile(sandboxServiceLog(dir), 'utf8');
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ServiceLogEntry);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The sandbox variant: state and log files under `<sandbox dir>/services/`. */
export function sandboxManager(dir: string, hooks: SandboxServiceHooks = {}): ServiceManager {
  const log = async (entry: Omit<ServiceLogEntry, 'at'>) => {
    await fsp.mkdir(path.join(dir, 'services'), { recursive: true });
    await fsp.appendFile(sandboxServiceLog(dir), `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
  };
  const setState = async (daemon: string, active: boolean) => {
    await fsp.mkdir(path.join(dir, 'services'), { recursive: true });
    await fsp.writeFile(stateFile(dir, daemon), active ? 'active\n' : 'inactive\n');
  };
  const manager: ServiceManager = {
    variant: 'sandbox',
    describe: (a, d) => `sandbox: ${a} ${d}`,
    async isActive(d) {
      try {
        return (await fsp.readFile(stateFile(dir, d), 'utf8')).trim() === 'active';
      } catch {
        return false;
      }
    },
    async act(a, d, opts) {
      if (a !== 'stop' && hooks.beforeStart) {
        try {
          await hooks.beforeStart(d);
        } catch (err) {
          await log({ action: a, daemon: d, result: 'refused', detail: (err as Error).message });
          // MicroK8s's start scripts exit at once in this case; the service just stays down.
          await setState(d, false);
          return;
        }
      }
      await hooks.perform?.(a, d, opts.env);
      await setState(d, a !== 'stop');
      await log({ action: a, daemon: d, result: 'ok' });
    },
  };
  return manager;
}
