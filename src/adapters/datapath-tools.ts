/**
 * The datapath check's outside things: bpftool, tc and ip, as `[file, args]` tuples run through
 * adapters/process.ts (with `--netns NAME`, each inside `ip netns exec NAME ...`), the kernel release, and
 * saved output read for `--from`. Failures become what the user should do: install a tool, run as root,
 * name an existing namespace.
 */
import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import path from 'node:path';
import { PreconditionError, StepError, UsageError } from '../errors.js';
import { printCommand, run, type Command, type RunResult } from './process.js';
import { packagePath } from './package-files.js';

export type Tool = 'bpftool' | 'tc' | 'ip' | 'python3';

/** Absolute paths of the tools; null where not installed. */
export type ToolPaths = Record<Tool, string | null>;

/** Where the tools run: their paths, and the network namespace (default: ours). */
export interface ToolContext {
  paths: ToolPaths;
  netns?: string | undefined;
}

// bpftool, tc and ip live in sbin, which is not on a normal user's PATH on Debian: look there too, so that a
// user without root is told to run as root rather than to install what is installed.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** The executable `name` on PATH or in the sbin folders, or null. */
export function findTool(name: string, searchPath: string = process.env.PATH ?? ''): string | null {
  for (const dir of [...searchPath.split(path.delimiter).filter(Boolean), ...SBIN]) {
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

export function findTools(): ToolPaths {
  return { bpftool: findTool('bpftool'), tc: findTool('tc'), ip: findTool('ip'), python3: findTool('python3') };
}

/** The tuple run inside the namespace: `ip netns exec NAME FILE ARGS...`. */
export function inNetns(cmd: Command, ctx: ToolContext): Command {
  if (ctx.netns === undefined) return cmd;
  if (ctx.paths.ip === null) throw new PreconditionError('--netns needs ip from iproute2, which is not installed: apt-get install iproute2');
  return [ctx.paths.ip, ['netns', 'exec', ctx.netns, cmd[0], ...cmd[1]]];
}

function need(ctx: ToolContext, tool: Tool): string {
  const file = ctx.paths[tool];
  if (file === null) throw new PreconditionError(`${tool} is not installed: apt-get install ${tool === 'bpftool' ? 'bpftool' : 'iproute2'}`);
  return file;
}

export const bpftoolNetListCommand = (ctx: ToolContext, form: 'json' | 'text'): Command =>
  inNetns([need(ctx, 'bpftool'), form === 'json' ? ['-j', 'net', 'list'] : ['net', 'list']], ctx);
export const bpftoolVersionCommand = (ctx: ToolContext): Command => inNetns([need(ctx, 'bpftool'), ['version']], ctx);
export const ipLinkShowCommand = (ctx: ToolContext): Command => inNetns([need(ctx, 'ip'), ['-d', '-j', 'link', 'show']], ctx);
export const tcFilterShowCommand = (ctx: ToolContext, dev: string, hook: 'ingress' | 'egress'): Command =>
  inNetns([need(ctx, 'tc'), ['filter', 'show', 'dev', dev, hook]], ctx);

/** The useful line of a failed call: bpftool -j puts `{"error":"..."}` on stdout, others write to stderr. */
function failureDetail(stdout: string, stderr: string): string {
  try {
    const doc = JSON.parse(stdout) as unknown;
    if (typeof doc === 'object' && doc !== null && typeof (doc as { error?: unknown }).error === 'string') return (doc as { error: string }).error;
  } catch {
    // not JSON
  }
  const lines = `${stderr}\n${stdout}`
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => /error|fail|cannot|denied|not permitted/i.test(l)) ?? lines[0] ?? 'no output';
}

/** Runs one tool call; returns its stdout, or throws what the user should do about the failure. */
async function runTool(cmd: Command, ctx: ToolContext): Promise<string> {
  return stdoutOf(cmd, await run(cmd, { phase: 'datapath' }), ctx);
}

/** A call's stdout when it succeeded; otherwise throws what the user should do about the failure. */
function stdoutOf(cmd: Command, r: RunResult, ctx: ToolContext): string {
  if (r.exitCode === 0) return r.stdout;
  const detail = failureDetail(r.stdout, r.stderr);
  const all = `${r.stderr}\n${r.stdout}`;
  if (ctx.netns !== undefined && /Cannot open network namespace/.test(all)) {
    throw new UsageError(`network namespace "${ctx.netns}" does not exist (${detail}); list them with ip netns list`);
  }
  if (ctx.netns !== undefined && /setting the network namespace .* failed|mount.*not permitted/i.test(all)) {
    throw new PreconditionError(`entering network namespace "${ctx.netns}" was refused (${detail}): ip netns exec needs root; run as root, e.g. sudo mk8s-addons datapath --netns ${ctx.netns}`);
  }
  if (/Operation not permitted|Permission denied/i.test(all)) {
    throw new PreconditionError(
      `${printCommand(cmd)} was refused (${detail}): reading BPF attachments needs root (CAP_BPF and CAP_NET_ADMIN, or CAP_SYS_ADMIN before kernel 5.8); run as root, e.g. sudo mk8s-addons datapath`,
    );
  }
  throw new StepError(`${printCommand(cmd)} exited with ${r.exitCode}: ${detail}`, { phase: 'datapath' });
}

/** bpftool's listing, or `unusable` when bpftool is Ubuntu's wrapper without linux-tools for this kernel. */
export async function bpftoolNetList(ctx: ToolContext, form: 'json' | 'text'): Promise<{ stdout: string } | { unusable: string }> {
  const cmd = bpftoolNetListCommand(ctx, form);
  const r = await run(cmd, { phase: 'datapath' });
  if (r.exitCode !== 0 && /not found for kernel/.test(r.stderr)) {
    return { unusable: `bpftool is only Ubuntu's wrapper here, without the tools for kernel ${release()}: apt-get install linux-tools-${release()}` };
  }
  return { stdout: stdoutOf(cmd, r, ctx) };
}

/** `bpftool version` -> `7.1.0` (bpftool before 7.0 printed the kernel's version). */
export async function bpftoolVersion(ctx: ToolContext): Promise<string> {
  const out = await runTool(bpftoolVersionCommand(ctx), ctx);
  return /v?(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1] ?? out.trim();
}

export async function ipLinkShow(ctx: ToolContext): Promise<string> {
  return runTool(ipLinkShowCommand(ctx), ctx);
}

export async function tcFilterShow(ctx: ToolContext, dev: string, hook: 'ingress' | 'egress'): Promise<string> {
  return runTool(tcFilterShowCommand(ctx, dev, hook), ctx);
}

/** The running kernel's release (`uname -r`); the same inside any network namespace. */
export function kernelRelease(): string {
  return release();
}

/** One tcx or netkit attachment as the kernel reports it (scripts/tcx-query.py). */
export interface KernelTcxAttachment {
  ifname: string;
  ifindex: number;
  kind: 'tcx' | 'netkit';
  hook: string;
  prog_id: number;
  link_id: number | null;
  /** The kernel's copy of the program name: 15 characters at most. */
  kernel_name: string | null;
}

export const TCX_QUERY_SCRIPT = packagePath('scripts', 'tcx-query.py');
export const tcxQueryCommand = (ctx: ToolContext): Command => inNetns([ctx.paths.python3 ?? 'python3', [TCX_QUERY_SCRIPT]], ctx);

/**
 * The tcx and netkit attachments of every interface, asked of the kernel (BPF_PROG_QUERY) by
 * scripts/tcx-query.py: for hosts whose bpftool (before 7.3) cannot list them. Undefined without python3.
 */
export async function tcxQuery(ctx: ToolContext): Promise<KernelTcxAttachment[] | undefined> {
  if (ctx.paths.python3 === null) return undefined;
  const cmd = tcxQueryCommand(ctx);
  const r = await run(cmd, { phase: 'datapath' });
  let doc: { attachments?: KernelTcxAttachment[]; error?: string };
  try {
    doc = JSON.parse(r.stdout) as typeof doc;
  } catch {
    if (r.exitCode !== 0) stdoutOf(cmd, r, ctx); // throws what to do
    throw new StepError(`${printCommand(cmd)} printed no JSON: ${r.stdout.slice(0, 200)}`, { phase: 'datapath' });
  }
  if (doc.error !== undefined) {
    if (r.exitCode === 3) throw new PreconditionError(`${printCommand(cmd)}: ${doc.error}, e.g. sudo mk8s-addons datapath`);
    throw new StepError(`${printCommand(cmd)}: ${doc.error}`, { phase: 'datapath' });
  }
  return doc.attachments ?? [];
}

/** Program names by id from `bpftool -j prog show` (full names, where the kernel keeps 15 characters). */
export async function bpftoolProgramNames(ctx: ToolContext): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  if (ctx.paths.bpftool === null) return names;
  const r = await run(inNetns([ctx.paths.bpftool, ['-j', 'prog', 'show']], ctx), { phase: 'datapath' });
  if (r.exitCode !== 0) return names;
  try {
    for (const p of JSON.parse(r.stdout) as { id?: number; name?: string }[]) if (typeof p.id === 'number' && p.name) names.set(p.id, p.name);
  } catch {
    // not JSON: names stay the kernel's
  }
  return names;
}

/** Reads a file given with --from. */
export async function readSavedOutput(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new UsageError(`cannot read --from ${file}: ${why}; give the file holding the saved bpftool or tc output`);
  }
}
