/**
 * External processes. A command is data, a `[file, args]` tuple: what --dry-run prints and what runs are
 * built from the same tuple, and nothing is ever run through a shell.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { StepError } from '../errors.js';

/** A process call as data: the executable and its arguments. */
export type Command = readonly [file: string, args: readonly string[]];

export interface RunOptions {
  /** The whole environment of the child (not merged with ours); default: ours. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Cancels the child (e.g. Listr2's task.signal on Ctrl+C). */
  signal?: AbortSignal;
  input?: string;
  timeoutMs?: number;
  /** Phase for the error message when the command fails. */
  phase?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const SAFE = /^[A-Za-z0-9_./:=,@%+-]+$/;

/** Shell-quotes one word for display only (never executed through a shell). */
export function quoteWord(word: string): string {
  return word !== '' && SAFE.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The command as a person would type it. */
export function printCommand([file, args]: Command): string {
  return [file, ...args].map(quoteWord).join(' ');
}

/** The proxy variables that break in-cluster traffic when they leak into MicroK8s services. */
export const PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY'] as const;

/** A copy of `env` without the proxy variables, and the names of those it dropped. */
export function withoutProxy(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; dropped: string[] } {
  const out: NodeJS.ProcessEnv = { ...env };
  const dropped: string[] = [];
  for (const name of PROXY_VARIABLES) {
    if (name in out) {
      delete out[name];
      dropped.push(name);
    }
  }
  return { env: out, dropped };
}

/** After a cancel or a timeout, a child that ignores SIGTERM this long is killed with SIGKILL. */
const FORCE_KILL_AFTER_MS = 5_000;

const cannotRun = (cmd: Command, err: NodeJS.ErrnoException): string =>
  err.code === 'ENOENT' ? `${cmd[0]} is not installed or not on PATH` : err.message;

/**
 * Runs a command; resolves with its output whatever its exit code (see runChecked). node:child_process
 * directly, no shell: a dry-run starts a handful of processes, and a process library costs more to
 * import (~0.1 s) than the processes it would start. stdin is the `input`, else empty (/dev/null).
 */
export function run(cmd: Command, opts: RunOptions = {}): Promise<RunResult> {
  const [file, args] = cmd;
  return new Promise<RunResult>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new StepError(`${printCommand(cmd)} was cancelled`, { phase: opts.phase }));
      return;
    }
    let child: ChildProcess;
    try {
      child = spawn(file, [...args], { env: opts.env ?? process.env, cwd: opts.cwd, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    } catch (err) {
      reject(new StepError(`cannot run ${printCommand(cmd)}: ${cannotRun(cmd, err as NodeJS.ErrnoException)}`, { phase: opts.phase, cause: err }));
      return;
    }
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => stdout.push(b));
    child.stderr?.on('data', (b: Buffer) => stderr.push(b));
    let stopped: 'cancelled' | 'timed out' | undefined;
    let forceKill: NodeJS.Timeout | undefined;
    const stop = (why: 'cancelled' | 'timed out') => {
      if (stopped || child.exitCode !== null) return;
      stopped = why;
      child.kill('SIGTERM');
      forceKill = setTimeout(() => child.kill('SIGKILL'), FORCE_KILL_AFTER_MS);
      forceKill.unref();
    };
    const onAbort = () => stop('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => stop('timed out'), opts.timeoutMs);
    const done = () => {
      opts.signal?.removeEventListener('abort', onAbort);
      clearTimeout(timer);
      clearTimeout(forceKill);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      done();
      reject(new StepError(`cannot run ${printCommand(cmd)}: ${cannotRun(cmd, err)}`, { phase: opts.phase, cause: err }));
    });
    child.on('close', (code, signal) => {
      done();
      if (stopped === 'cancelled') return reject(new StepError(`${printCommand(cmd)} was cancelled`, { phase: opts.phase }));
      if (stopped === 'timed out') return reject(new StepError(`${printCommand(cmd)} did not finish within ${opts.timeoutMs} ms`, { phase: opts.phase }));
      if (code === null) return reject(new StepError(`${printCommand(cmd)} was killed by ${signal ?? 'a signal'}`, { phase: opts.phase }));
      resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), exitCode: code });
    });
    if (opts.input !== undefined && child.stdin) {
      // A child that exits without reading its input closes the pipe: that is its answer, not our error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Runs a command and throws a StepError carrying its stderr when it exits non-zero. */
export async function runChecked(cmd: Command, opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, opts);
  if (r.exitCode !== 0) {
    const detail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join(' | ');
    throw new StepError(`${printCommand(cmd)} exited with ${r.exitCode}${detail ? `: ${detail}` : ''}`, { phase: opts.phase });
  }
  return r;
}

/** Runs a command attached to our terminal (stdin, stdout, stderr inherited); resolves with its exit code. */
export function runAttached(cmd: Command, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const child = spawn(cmd[0], [...cmd[1]], { env: opts.env ?? process.env, stdio: 'inherit' });
    child.on('error', (err: NodeJS.ErrnoException) => reject(new StepError(`cannot run ${printCommand(cmd)}: ${cannotRun(cmd, err)}`)));
    child.on('close', (code) => resolve(code ?? 1));
  });
}
