/**
 * External processes. A command is data, a `[file, args]` tuple: what --dry-run prints and what runs are
 * built from the same tuple, and nothing is ever run through a shell.
 */
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

/** Runs a command; resolves with its output whatever its exit code (see runChecked). */
export async function run(cmd: Command, opts: RunOptions = {}): Promise<RunResult> {
  const { execa } = await import('execa');
  const [file, args] = cmd;
  try {
    const r = await execa(file, args, {
      env: opts.env ?? process.env,
      extendEnv: false,
      cwd: opts.cwd,
      cancelSignal: opts.signal,
      input: opts.input,
      timeout: opts.timeoutMs,
      reject: false,
      stripFinalNewline: false,
    });
    if (r.isCanceled) throw new StepError(`${printCommand(cmd)} was cancelled`, { phase: opts.phase });
    if (r.timedOut) throw new StepError(`${printCommand(cmd)} did not finish within ${opts.timeoutMs} ms`, { phase: opts.phase });
    if (r.failed && r.exitCode === undefined) {
      const reason = (r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? `${file} is not installed or not on PATH` : r.shortMessage;
      throw new StepError(`cannot run ${printCommand(cmd)}: ${reason}`, { phase: opts.phase });
    }
    return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
  } catch (err) {
    if (err instanceof StepError) throw err;
    throw new StepError(`cannot run ${printCommand(cmd)}: ${(err as Error).message}`, { phase: opts.phase, cause: err });
  }
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
export async function runAttached(cmd: Command, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<number> {
  const { execa } = await import('execa');
  const r = await execa(cmd[0], cmd[1], { env: opts.env ?? process.env, extendEnv: false, stdio: 'inherit', reject: false });
  if (r.failed && r.exitCode === undefined) {
    const reason = (r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? `${cmd[0]} is not installed or not on PATH` : r.shortMessage;
    throw new StepError(`cannot run ${printCommand(cmd)}: ${reason}`);
  }
  return r.exitCode ?? 1;
}
