/** Parser for `ip -d -j link show`: the interfaces of a namespace and their XDP programs. Pure. */
import { StepError } from '../errors.js';
import type { Attachment, LinkInfo } from './model.js';
import { makeAttachment } from './naming.js';

/** Link kinds that are physical as far as Cilium's device detection goes (bonds and VLANs on top of NICs). */
const PHYSICAL_KINDS = new Set(['bond', 'team', 'vlan']);

/** True for a device Cilium may manage as a native device: a NIC (no link kind), a bond or a VLAN. */
export function isPhysical(link: LinkInfo): boolean {
  return link.linkType === 'ether' && (link.infoKind === null || PHYSICAL_KINDS.has(link.infoKind));
}

/** XDP modes in `ip -j` (the kernel's XDP_ATTACHED_* values). */
const XDP_MODE: Readonly<Record<number, string>> = { 1: 'driver', 2: 'generic', 3: 'offload' };

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ParsedLinks {
  links: LinkInfo[];
  /** XDP programs, which `tc filter show` cannot list (used when bpftool is missing). */
  xdp: Attachment[];
}

function xdpAttachments(name: string, ifindex: number, xdp: Json): Attachment[] {
  const list = Array.isArray(xdp.attached) ? xdp.attached.filter(isObject) : [xdp];
  return list.flatMap((a) => {
    const prog = isObject(a.prog) ? a.prog : undefined;
    const mode = typeof a.mode === 'number' ? XDP_MODE[a.mode] : undefined;
    if (!prog || mode === undefined) return [];
    return [
      makeAttachment({
        interface: name,
        ifindex,
        kind: 'xdp',
        hook: mode,
        name: null,
        programId: typeof prog.id === 'number' ? prog.id : null,
        kernelName: typeof prog.name === 'string' ? prog.name : null,
      }),
    ];
  });
}

/** Parses `ip -d -j link show`; `command` names the call for the error message. */
export function parseIpLinkJson(text: string, command: string): ParsedLinks {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new StepError(`${command} did not print JSON (${(err as Error).message}); iproute2 4.14 or newer is needed: apt-get install iproute2`);
  }
  if (!Array.isArray(doc)) throw new StepError(`${command} did not print a list of interfaces; iproute2 4.14 or newer is needed: apt-get install iproute2`);
  const links: LinkInfo[] = [];
  const xdp: Attachment[] = [];
  for (const entry of doc) {
    if (!isObject(entry) || typeof entry.ifname !== 'string' || typeof entry.ifindex !== 'number') continue;
    const info = isObject(entry.linkinfo) ? entry.linkinfo : undefined;
    links.push({
      name: entry.ifname,
      ifindex: entry.ifindex,
      infoKind: info && typeof info.info_kind === 'string' ? info.info_kind : null,
      linkType: typeof entry.link_type === 'string' ? entry.link_type : 'unknown',
    });
    if (isObject(entry.xdp)) xdp.push(...xdpAttachments(entry.ifname, entry.ifindex, entry.xdp));
  }
  return { links, xdp };
}
