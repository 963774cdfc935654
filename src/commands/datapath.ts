/**
 * `mk8s-addons datapath`: reads what BPF programs are attached to which interface hooks (bpftool, falling
 * back to its text form, then to tc filter show per interface), judges that against Cilium, prints the
 * report. Exit 0 complete, 1 not complete; usage errors throw (2), missing tools or privileges throw a
 * PreconditionError (3).
 */
import type { Writable } from 'node:stream';
import type { GlobalOptions, OutputMode } from '../grammar.js';
import { PreconditionError, UsageError, EXIT } from '../errors.js';
import { printCommand } from '../adapters/process.js';
import {
  bpftoolNetList,
  bpftoolVersion,
  findTools,
  ipLinkShow,
  ipLinkShowCommand,
  kernelRelease,
  readSavedOutput,
  tcFilterShow,
  tcxQuery,
  bpftoolProgramNames,
  type ToolContext,
  type ToolPaths,
} from '../adapters/datapath-tools.js';
import type { Attachment, DatapathReport, Observation } from '../datapath/model.js';
import { parseBpftoolJson, parseBpftoolText } from '../datapath/bpftool.js';
import { parseTcFilterShow } from '../datapath/tc.js';
import { parseIpLinkJson, type ParsedLinks } from '../datapath/links.js';
import { parseSavedOutput, unparsedNote } from '../datapath/saved.js';
import { judgeDatapath, tcxBlindSpot } from '../datapath/judge.js';
import { makeAttachment, parseCiliumVersion } from '../datapath/naming.js';
import { datapathHelp, renderDatapath } from '../datapath/render.js';

/** The datapath command's own options. */
export interface DatapathArgs {
  /** Run every call inside this network namespace. */
  netns?: string;
  /** Analyse this saved output instead of the live node. */
  from?: string;
  /** Judge against this Cilium version; default: by the naming era found. */
  ciliumVersion?: string;
}

const OWN_OPTIONS = { '--netns': 'netns', '--from': 'from', '--cilium-version': 'ciliumVersion' } as const;
const PLACEHOLDER = { '--netns': 'NAME', '--from': 'FILE', '--cilium-version': 'V', '--output': 'pretty|plain|json' } as const;

/** Parses the words after `datapath`: its three options, --output, --help. */
export function parseDatapathArgs(words: readonly string[], globals: GlobalOptions): DatapathArgs {
  const args: DatapathArgs = {};
  for (let i = 0; i < words.length; ) {
    const word = words[i] as string;
    if (word === '--help' || word === '-h') {
      globals.help = true;
      i++;
      continue;
    }
    if (!word.startsWith('-')) throw new UsageError(`datapath takes no arguments; got "${word}" (run "mk8s-addons datapath --help")`);
    const eq = word.indexOf('=');
    const flag = eq > 0 && word.startsWith('--') ? word.slice(0, eq) : word;
    const inline = eq > 0 && word.startsWith('--') ? word.slice(eq + 1) : undefined;
    if (flag !== '--output' && !(flag in OWN_OPTIONS)) {
      throw new UsageError(`unknown option ${flag} for datapath; run "mk8s-addons datapath --help"`);
    }
    const known = flag as keyof typeof PLACEHOLDER;
    const value = inline ?? words[i + 1];
    if (value === undefined || value === '' || (inline === undefined && value.startsWith('-'))) {
      throw new UsageError(`${flag} needs a value: ${flag} ${PLACEHOLDER[known]}`);
    }
    if (known === '--output') {
      if (value !== 'pretty' && value !== 'plain' && value !== 'json') throw new UsageError(`invalid --output "${value}": use pretty, plain or json`);
      globals.output = value;
    } else {
      const key = OWN_OPTIONS[known];
      if (args[key] !== undefined) throw new UsageError(`${flag} is given twice; give it once`);
      if (key === 'ciliumVersion') parseCiliumVersion(value);
      args[key] = value;
    }
    i += inline === undefined ? 2 : 1;
  }
  if (args.from !== undefined && args.netns !== undefined) {
    throw new UsageError('--from reads saved output and --netns a live namespace: give one of them');
  }
  return args;
}

/** Where checkDatapath looks, and against what it judges. */
export interface CheckOptions {
  /** Network namespace to inspect; default: the caller's. */
  netns?: string | undefined;
  /** Cilium version to judge against (e.g. from the journal); default: by the naming era found. */
  ciliumVersion?: string | undefined;
  /** The agent's configuration (configmap/cilium-config data), when known: it says whether to-netdev is required. */
  ciliumConfig?: Readonly<Record<string, string>> | undefined;
  /** Tool paths instead of those found on PATH (null: treat as not installed). For tests of the fallbacks. */
  tools?: Partial<ToolPaths>;
}

async function linksOf(ctx: ToolContext): Promise<ParsedLinks | null> {
  if (ctx.paths.ip === null) return null;
  return parseIpLinkJson(await ipLinkShow(ctx), printCommand(ipLinkShowCommand(ctx)));
}

/** Reads the live attachments: bpftool JSON, else its text form, else tc filter show over ip's interfaces. */
export async function observeDatapath(ctx: ToolContext): Promise<Observation> {
  const links = await linksOf(ctx);
  const notes: string[] = [];
  if (links === null) notes.push('ip (iproute2) is not installed, so interfaces without programs cannot be seen: apt-get install iproute2');
  if (ctx.paths.bpftool !== null) {
    const json = await bpftoolNetList(ctx, 'json');
    if ('stdout' in json) {
      try {
        return { source: 'bpftool-json', attachments: parseBpftoolJson(json.stdout, 'bpftool -j net list'), links: links?.links ?? null, notes };
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        // Not JSON (a bpftool without -j for net): read the text form.
      }
      const text = await bpftoolNetList(ctx, 'text');
      if ('stdout' in text) {
        const parsed = parseBpftoolText(text.stdout);
        return { source: 'bpftool-text', attachments: parsed.attachments, links: links?.links ?? null, notes: [...notes, ...unparsedNote(parsed.unparsed)] };
      }
    } else {
      notes.push(json.unusable);
    }
  }
  if (ctx.paths.tc === null || links === null) {
    const missing = [ctx.paths.tc === null ? 'tc' : undefined, links === null ? 'ip' : undefined].filter((t) => t !== undefined);
    throw new PreconditionError(
      `neither bpftool nor ${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} installed, so the attachments cannot be read: apt-get install bpftool iproute2 (on Ubuntu: apt-get install iproute2 linux-tools-common linux-tools-$(uname -r))`,
    );
  }
  if (ctx.paths.bpftool === null) notes.push('bpftool is not installed, so tc filters were read instead: apt-get install bpftool');
  const attachments: Attachment[] = [...links.xdp];
  for (const link of links.links) {
    for (const hook of ['ingress', 'egress'] as const) {
      attachments.push(...parseTcFilterShow(await tcFilterShow(ctx, link.name, hook), link.name, hook, link.ifindex));
    }
  }
  return { source: 'tc', attachments, links: links.links, notes };
}

/**
 * Adds the tcx/netkit attachments that the kernel reports (scripts/tcx-query.py) and the listing did not
 * show: bpftool before 7.3 and `tc filter show` cannot see them. True when the kernel was asked.
 */
export async function addKernelTcx(obs: Observation, ctx: ToolContext): Promise<boolean> {
  const found = await tcxQuery(ctx);
  if (found === undefined) return false;
  const names = found.length > 0 ? await bpftoolProgramNames(ctx) : new Map<number, string>();
  const seen = new Set(obs.attachments.map((a) => `${a.interface}/${a.kind}/${a.hook}/${a.programId}`));
  let added = 0;
  for (const k of found) {
    if (seen.has(`${k.ifname}/${k.kind}/${k.hook}/${k.prog_id}`)) continue;
    obs.attachments.push(makeAttachment({ interface: k.ifname, ifindex: k.ifindex, kind: k.kind, hook: k.hook, name: names.get(k.prog_id) ?? k.kernel_name, programId: k.prog_id, linkId: k.link_id }));
    added++;
  }
  if (added > 0) obs.notes.push(`${added} tcx/netkit attachment(s) read from the kernel (BPF_PROG_QUERY), which ${obs.source === 'tc' ? 'tc filter show' : 'this bpftool'} cannot list`);
  return true;
}

/**
 * Checks the node's datapath (for `datapath` and `status --datapath`). Throws a PreconditionError when the
 * tools or privileges are missing, a UsageError for a namespace that does not exist.
 */
export async function checkDatapath(opts: CheckOptions): Promise<DatapathReport> {
  if (opts.ciliumVersion !== undefined) parseCiliumVersion(opts.ciliumVersion);
  const ctx: ToolContext = { paths: { ...findTools(), ...opts.tools }, netns: opts.netns };
  if (ctx.netns !== undefined && ctx.paths.ip === null) throw new PreconditionError('--netns needs ip from iproute2, which is not installed: apt-get install iproute2');
  const obs = await observeDatapath(ctx);
  const kernel = kernelRelease();
  const tool = obs.source === 'tc' ? 'tc' : 'bpftool';
  const version = tool === 'bpftool' ? await bpftoolVersion(ctx) : undefined;
  const visibility = { tool, kernelRelease: kernel, bpftoolVersion: version } as const;
  // Where the listing cannot show tcx, the kernel is asked directly; only without python3 is it a blind spot.
  const spot = tcxBlindSpot(obs, visibility);
  if ((spot.note ?? spot.fatal) !== undefined && (await addKernelTcx(obs, ctx))) return judgeDatapath(obs, { ciliumVersion: opts.ciliumVersion, ciliumConfig: opts.ciliumConfig });
  const blind = tcxBlindSpot(obs, visibility, opts.ciliumVersion);
  if (blind.fatal !== undefined) throw new PreconditionError(blind.fatal);
  if (blind.note !== undefined) obs.notes.push(blind.note);
  return judgeDatapath(obs, { ciliumVersion: opts.ciliumVersion, ciliumConfig: opts.ciliumConfig });
}

/** Analyses saved output (`--from FILE`). */
export async function checkSavedDatapath(file: string, ciliumVersion?: string): Promise<DatapathReport> {
  const text = await readSavedOutput(file);
  return judgeDatapath(parseSavedOutput(text, file), { ciliumVersion });
}

export async function runDatapath(words: string[], globals: GlobalOptions, outputOf: () => OutputMode, io: { stdout: Writable; stderr: Writable }): Promise<number> {
  const args = parseDatapathArgs(words, globals);
  if (globals.help) {
    io.stdout.write(datapathHelp());
    return EXIT.ok;
  }
  let report: DatapathReport;
  try {
    report = args.from !== undefined ? await checkSavedDatapath(args.from, args.ciliumVersion) : await checkDatapath({ netns: args.netns, ciliumVersion: args.ciliumVersion });
  } catch (err) {
    // Missing tools or privileges are this command's exit 3, said the way src/cli.ts says errors.
    if (!(err instanceof PreconditionError)) throw err;
    if (outputOf() === 'json') io.stdout.write(`${JSON.stringify({ type: 'error', code: err.code, phase: err.phase ?? null, message: err.message })}\n`);
    else io.stderr.write(`mk8s-addons: error: ${err.message}\n`);
    return EXIT.precondition;
  }
  io.stdout.write(renderDatapath(report, outputOf()));
  return report.complete ? EXIT.ok : EXIT.step;
}
