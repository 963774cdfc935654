/**
 * Parsers for `bpftool net list`, JSON (`-j`) and text. Pure.
 *
 * Text form, per bpftool's net.c and netlink_dumper.c (all versions since 4.19):
 *
 *     xdp:
 *     eth0(2) driver id 198                         (multi mode: eth0(2) generic id 5 driver id 6)
 *
 *     tc:
 *     lxc0a1b(956) clsact/ingress bpf_lxc.o:[from-container] id 12110
 *     eth0(2) clsact/ingress cil_from_netdev-eth0 id 1223 act []
 *     eth0(2) tcx/ingress cil_from_netdev prog_id 2408 link_id 59        (bpftool 7.3+)
 *
 *     flow_dissector:
 *
 *     netfilter:                                    (bpftool 7.2+)
 *
 * Sections end at a blank line; lines outside a section (a pasted prompt, the command) are skipped.
 */
import { UsageError } from '../errors.js';
import type { Attachment } from './model.js';
import { kindAndHook, makeAttachment } from './naming.js';

/** Parsed text output: the attachments and the lines inside a section that are not entries. */
export interface ParsedText {
  attachments: Attachment[];
  unparsed: string[];
}

const SECTION = /^(xdp|tc|flow_dissector|netfilter):$/;
const DEVICE = /^(.*?)\((\d+)\)\s+(.*)$/;
const XDP_MODES = new Set(['driver', 'generic', 'offload']);

/** A tc entry line of bpftool: `DEV(IFINDEX) clsact/ingress ...`, `DEV(IFINDEX) tcx/egress ...`. */
const TC_ENTRY = /^\S+\(\d+\)\s+(clsact|tcx|netkit)\/\S+\s/;

/** True when the text has bpftool's tc entry lines, with or without the section headers (a `grep` of a listing). */
export function looksLikeBpftoolEntries(text: string): boolean {
  return text.split('\n').some((line) => TC_ENTRY.test(line.trim()));
}

/**
 * Parses bpftool tc entry lines pasted without their section headers (`bpftool net show | grep lxc`):
 * every line that is an entry; the others (the command, blank lines) are skipped. Lines that start like an
 * entry but are not one are returned as unparsed.
 */
export function parseBpftoolEntries(text: string): ParsedText {
  const attachments: Attachment[] = [];
  const unparsed: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!TC_ENTRY.test(line)) continue;
    const found = parseTcLine(line);
    if (found) attachments.push(found);
    else unparsed.push(line);
  }
  return { attachments, unparsed };
}

/** True when the text has bpftool's section headers (`tc:` alone on a line). */
export function looksLikeBpftoolText(text: string): boolean {
  return text.split('\n').some((line) => /^\s*(xdp|tc):\s*$/.test(line));
}

function parseXdpLine(line: string): Attachment[] | undefined {
  const m = DEVICE.exec(line);
  if (!m) return undefined;
  const [, devname = '', ifindex = '', rest = ''] = m;
  const words = rest.split(/\s+/).filter(Boolean);
  const out: Attachment[] = [];
  for (let i = 0; i < words.length; i += 3) {
    const [mode, idWord, id] = [words[i], words[i + 1], words[i + 2]];
    if (mode === undefined || !XDP_MODES.has(mode) || idWord !== 'id' || id === undefined || !/^\d+$/.test(id)) return undefined;
    out.push(makeAttachment({ interface: devname, ifindex: Number(ifindex), kind: 'xdp', hook: mode, name: null, programId: Number(id) }));
  }
  return out.length > 0 ? out : undefined;
}

function parseTcLine(line: string): Attachment | undefined {
  const m = DEVICE.exec(line);
  if (!m) return undefined;
  const [, devname = '', ifindex = '', rest = ''] = m;
  const words = rest.split(/\s+/).filter(Boolean);
  const [bpftoolKind, ...tail] = words;
  if (bpftoolKind === undefined) return undefined;
  const { kind, hook } = kindAndHook(bpftoolKind);
  const link = kind === 'tcx' || kind === 'netkit';
  const idWord = link ? 'prog_id' : 'id';
  const at = tail.indexOf(idWord);
  const id = at >= 0 ? tail[at + 1] : undefined;
  if (at < 0 || id === undefined || !/^\d+$/.test(id)) return undefined;
  const name = tail.slice(0, at).join(' ') || null;
  const linkAt = tail.indexOf('link_id', at);
  const linkId = linkAt >= 0 && /^\d+$/.test(tail[linkAt + 1] ?? '') ? Number(tail[linkAt + 1]) : null;
  return makeAttachment({ interface: devname, ifindex: Number(ifindex), kind, hook, name, programId: Number(id), linkId });
}

/** Parses the text form of `bpftool net list`. */
export function parseBpftoolText(text: string): ParsedText {
  const attachments: Attachment[] = [];
  const unparsed: string[] = [];
  let section: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const header = SECTION.exec(line);
    if (header) {
      section = header[1];
      continue;
    }
    if (line === '') {
      section = undefined;
      continue;
    }
    if (section === 'xdp') {
      const found = parseXdpLine(line);
      if (found) attachments.push(...found);
      else unparsed.push(line);
    } else if (section === 'tc') {
      const found = parseTcLine(line);
      if (found) attachments.push(found);
      else unparsed.push(line);
    }
    // flow_dissector and netfilter entries are not per interface: Cilium's datapath does not use them.
  }
  return { attachments, unparsed };
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) ? v : null;
}

function entries(section: unknown, key: string, origin: string): Json[] {
  if (section === undefined) return [];
  if (!Array.isArray(section) || !section.every(isObject)) {
    throw new UsageError(`${origin}: "${key}" is not a list of entries; give the unchanged output of bpftool -j net list`);
  }
  return section;
}

/** Parses `bpftool -j net list` (or `-jp`): `[{"xdp":[...],"tc":[...],"flow_dissector":[...]}]`. */
export function parseBpftoolJson(text: string, origin: string): Attachment[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${origin} is not valid JSON (${(err as Error).message}); give the unchanged output of bpftool -j net list`);
  }
  if (isObject(doc) && typeof doc.error === 'string') {
    throw new UsageError(`${origin} holds a bpftool error, not a listing: "${doc.error}"; run bpftool -j net list as root and save its output`);
  }
  const parts = Array.isArray(doc) ? doc : [doc];
  if (parts.length === 0 || !parts.every((p) => isObject(p) && ('tc' in p || 'xdp' in p))) {
    throw new UsageError(`${origin} is JSON but not bpftool -j net list output (expected [{"xdp":[...],"tc":[...]}]); give the unchanged output of bpftool -j net list`);
  }
  const attachments: Attachment[] = [];
  for (const part of parts as Json[]) {
    for (const x of entries(part.xdp, 'xdp', origin)) {
      const devname = typeof x.devname === 'string' ? x.devname : '';
      const ifindex = num(x.ifindex);
      const modes = Array.isArray(x.multi_attachments) ? x.multi_attachments.filter(isObject) : [x];
      for (const m of modes) {
        attachments.push(
          makeAttachment({ interface: devname, ifindex, kind: 'xdp', hook: typeof m.mode === 'string' ? m.mode : 'unknown', name: null, programId: num(m.id) }),
        );
      }
    }
    for (const t of entries(part.tc, 'tc', origin)) {
      if (typeof t.kind !== 'string') throw new UsageError(`${origin}: a "tc" entry has no "kind"; give the unchanged output of bpftool -j net list`);
      const { kind, hook } = kindAndHook(t.kind);
      attachments.push(
        makeAttachment({
          interface: typeof t.devname === 'string' ? t.devname : '',
          ifindex: num(t.ifindex),
          kind,
          hook,
          name: typeof t.name === 'string' ? t.name : null,
          programId: num(t.prog_id) ?? num(t.id),
          linkId: num(t.link_id) || null,
        }),
      );
    }
  }
  return attachments;
}
