/**
 * Parser for `tc filter show dev IF ingress|egress`. Pure.
 *
 *     filter protocol all pref 1 bpf chain 0
 *     filter protocol all pref 1 bpf chain 0 handle 0x1 bpf_lxc.o:[from-container] direct-action not_in_hw id 12110 tag ae4beb8ed518b348 jited
 *
 * iproute2 prints the filter's name after its handle (and flowid), then flags, then the program: `id N`,
 * `name F` (the kernel's name, cut to 15 characters; iproute2 5.x+), `tag T`, `jited`. Older iproute2 has
 * no `chain`; a long line pasted from a terminal may continue on the next line (as in the field notes).
 * tcx attachments are not filters: tc does not show them.
 */
import { UsageError } from '../errors.js';
import type { Attachment, QueriedHook } from './model.js';
import { linkName, makeAttachment } from './naming.js';

/** The words that end a filter's name: flags and program fields of f_bpf.c. */
const AFTER_NAME = new Set(['direct-action', 'not_in_hw', 'in_hw', 'in_hw_count', 'skip_hw', 'skip_sw', 'id', 'name', 'tag', 'jited', 'action']);

/** A pasted command line `[sudo] [ip netns exec NS] tc filter show dev IF ingress|egress`. */
const COMMAND_LINE = /\btc\s+(?:-\S+\s+)*filter\s+(?:show|list|ls)\s+dev\s+(\S+)\s+(ingress|egress)\b/;

/** True when the text has tc filter lines, or `tc filter show dev IF HOOK` command lines (whose output may be empty). */
export function looksLikeTcFilterShow(text: string): boolean {
  return text.split('\n').some((line) => /^\s*filter\s/.test(line) || COMMAND_LINE.test(line));
}

/** Joins continuation lines (wrapped `tag ... jited`) to their filter line; drops action blocks. */
function filterLines(lines: readonly string[]): string[] {
  const out: string[] = [];
  let inAction = false;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('filter ')) {
      out.push(line);
      inAction = false;
    } else if (/^action\b/.test(line)) {
      inAction = true;
    } else if (!inAction && out.length > 0) {
      out[out.length - 1] = `${out[out.length - 1] as string} ${line}`;
    }
  }
  return out;
}

function parseFilterLine(line: string, dev: string, hook: string, ifindex: number | null): Attachment | undefined {
  const words = line.split(/\s+/);
  // Only BPF filters with a handle are attachments; the first line of each pref is a header.
  if (!words.includes('bpf')) return undefined;
  const h = words.indexOf('handle');
  if (h < 0) return undefined;
  let i = h + 2;
  if (words[i] === 'flowid' || words[i] === 'classid') i += 2;
  const nameWords: string[] = [];
  while (i < words.length && !AFTER_NAME.has(words[i] as string)) nameWords.push(words[i++] as string);
  const field = (key: string): string | undefined => {
    const at = words.indexOf(key, i);
    return at >= 0 ? words[at + 1] : undefined;
  };
  const id = field('id');
  return makeAttachment({
    interface: dev,
    ifindex,
    kind: 'clsact',
    hook,
    name: nameWords.length > 0 ? nameWords.join(' ') : null,
    programId: id !== undefined && /^\d+$/.test(id) ? Number(id) : null,
    kernelName: field('name') ?? null,
  });
}

/** Parses the output of `tc filter show dev DEV HOOK` (the device and hook are not in the output). */
export function parseTcFilterShow(text: string, dev: string, hook: string, ifindex: number | null = null): Attachment[] {
  return filterLines(text.split('\n'))
    .map((line) => parseFilterLine(line, dev, hook, ifindex))
    .filter((a): a is Attachment => a !== undefined);
}

/**
 * Parses a saved transcript of several `tc filter show dev IF ingress|egress` calls, each preceded by its
 * command line (which names the device and hook that the output itself does not).
 */
export function parseTcTranscript(text: string, origin: string): Attachment[] {
  return readTcTranscript(text, origin).attachments;
}

/**
 * A transcript's attachments and the hooks it queried (each command line, output or not), in order: the
 * transcript says nothing about any other hook. Device names are taken without `ip link`'s `@ifN`.
 */
export function readTcTranscript(text: string, origin: string): { attachments: Attachment[]; queried: QueriedHook[] } {
  const out: Attachment[] = [];
  const queried: QueriedHook[] = [];
  let current: { dev: string; hook: string; lines: string[] } | undefined;
  const flush = () => {
    if (current) out.push(...parseTcFilterShow(current.lines.join('\n'), current.dev, current.hook));
  };
  for (const line of text.split('\n')) {
    const cmd = COMMAND_LINE.exec(line);
    if (cmd) {
      flush();
      current = { dev: linkName(cmd[1] as string), hook: cmd[2] as string, lines: [] };
      if (!queried.some((q) => q.interface === current?.dev && q.hook === current.hook)) queried.push({ interface: current.dev, hook: cmd[2] as 'ingress' | 'egress' });
    } else if (current) {
      current.lines.push(line);
    } else if (/^\s*filter\s/.test(line)) {
      throw new UsageError(
        `${origin} has tc filter lines without the command that printed them, so the device is unknown; save each as "tc filter show dev IF ingress" followed by its output`,
      );
    }
  }
  flush();
  return { attachments: out, queried };
}
