/**
 * Recognises Cilium's programs by name and tells the naming era, and names what each era would attach.
 * Pure.
 *
 * The three eras (see shared/reference/cilium-chart-values.md, "Datapath attachments"):
 * - iproute2 loader (Cilium <= 1.11): the tc filter is named `OBJECT.o:[SECTION]`, e.g. `bpf_lxc.o:[from-container]`;
 * - cilium/ebpf loader (1.12+ on tc): `FUNCTION-INTERFACE`, e.g. `cil_from_netdev-eth0`;
 * - tcx (1.16+ on kernel 6.6+): the link shows the program's own name, `cil_from_netdev`.
 */
import { UsageError } from '../errors.js';
import type { AttachKind, Attachment, InterfaceType, NamingEra } from './model.js';

/** The roles of Cilium's attached programs: the iproute2-era section names. */
export const CILIUM_ROLES = [
  'from-container',
  'to-container',
  'to-host',
  'from-host',
  'from-overlay',
  'to-overlay',
  'from-netdev',
  'to-netdev',
  'from-wireguard',
  'to-wireguard',
] as const;

const ROLE_SET: ReadonlySet<string> = new Set(CILIUM_ROLES);
/** The XDP entry program (`cil_xdp_entry`; `bpf_xdp.o:[from-netdev]` in the iproute2 era). */
export const XDP_ROLE = 'xdp-entry';

const IPROUTE2_NAME = /^(.+\.o):\[([^\]]+)\]$/;
const CILIUM_FUNCTION = /^cil_[a-z0-9_]+$/;
const CILIUM_EBPF_NAME = /^(cil_[a-z0-9_]+)-(.+)$/;

/** The C function of a role in the cilium/ebpf and tcx eras: `from-container` -> `cil_from_container`. */
export function functionOf(role: string): string {
  return role === XDP_ROLE ? 'cil_xdp_entry' : `cil_${role.replaceAll('-', '_')}`;
}

/** The role of a Cilium function: `cil_from_container` -> `from-container`. */
export function roleOfFunction(fn: string): string {
  return fn === 'cil_xdp_entry' ? XDP_ROLE : fn.slice('cil_'.length).replaceAll('_', '-');
}

const KNOWN_FUNCTIONS = [...CILIUM_ROLES, XDP_ROLE].map(functionOf);

/**
 * The full function name of a kernel program name that the kernel cut to 15 characters (`tc filter show`
 * prints `name cil_from_contai`), when exactly one of Cilium's functions starts with it.
 */
export function expandKernelName(kernelName: string): string | undefined {
  if (KNOWN_FUNCTIONS.includes(kernelName)) return kernelName;
  if (kernelName.length < 15) return undefined;
  const matches = KNOWN_FUNCTIONS.filter((fn) => fn.startsWith(kernelName));
  return matches.length === 1 ? matches[0] : undefined;
}

export interface Naming {
  object: string | null;
  section: string | null;
  function: string | null;
  role: string | null;
  era: NamingEra | null;
}

const UNKNOWN: Naming = { object: null, section: null, function: null, role: null, era: null };

/**
 * Recognises a program by the name bpftool or tc prints for it. `kernelName` is tc's `name` field (the
 * kernel's program name, at most 15 characters), used only when the filter itself has no name.
 */
export function recogniseProgram(name: string | null, kind: AttachKind, kernelName: string | null = null): Naming {
  if (name !== null) {
    const old = IPROUTE2_NAME.exec(name);
    if (old) {
      const [, object = '', section = ''] = old;
      const role = kind === 'xdp' && section === 'from-netdev' ? XDP_ROLE : ROLE_SET.has(section) ? section : null;
      return { object, section, function: null, role, era: role === null ? null : 'iproute2' };
    }
    if (kind === 'tcx' || kind === 'netkit') {
      if (CILIUM_FUNCTION.test(name)) return { ...UNKNOWN, function: name, role: roleOfFunction(name), era: 'tcx' };
      return UNKNOWN;
    }
    const modern = CILIUM_EBPF_NAME.exec(name);
    const fn = modern ? (modern[1] as string) : CILIUM_FUNCTION.test(name) ? name : null;
    if (fn !== null) return { ...UNKNOWN, function: fn, role: roleOfFunction(fn), era: kind === 'xdp' ? null : 'cilium-ebpf' };
    return UNKNOWN;
  }
  if (kernelName !== null) {
    const fn = expandKernelName(kernelName);
    if (fn !== undefined) {
      const era: NamingEra | null = kind === 'tcx' || kind === 'netkit' ? 'tcx' : kind === 'xdp' ? null : 'cilium-ebpf';
      return { ...UNKNOWN, function: fn, role: roleOfFunction(fn), era };
    }
  }
  return UNKNOWN;
}

/** What an interface is to Cilium, from its name. Physical devices are told by the caller (link kind). */
/**
 * An interface's name without the peer suffix `ip link` prints (`lxc81bb9e5d5ed7@if9`, `eth0@if12`,
 * `cilium_net@cilium_host`): the suffix is not part of the name.
 */
export function linkName(name: string): string {
  const at = name.indexOf('@');
  return at > 0 ? name.slice(0, at) : name;
}

export function interfaceTypeByName(name: string): InterfaceType | undefined {
  // `lxc` + hex is an endpoint's host-side veth; LXC's own bridge `lxcbr0` is not Cilium's.
  if (/^lxc([0-9a-f]+|_health)$/.test(name)) return 'endpoint';
  if (name === 'cilium_host') return 'cilium_host';
  if (name === 'cilium_net') return 'cilium_net';
  if (name === 'cilium_vxlan' || name === 'cilium_geneve') return 'overlay';
  return undefined;
}

/** A Cilium version as given with --cilium-version or recorded in the journal. */
export interface CiliumVersion {
  major: number;
  minor: number;
  /** As given, without a leading `v`. */
  text: string;
}

/** Parses `1.8`, `v1.16.3`, `1.17.0-rc.1`; throws a UsageError naming the flag otherwise. */
export function parseCiliumVersion(text: string, flag = '--cilium-version'): CiliumVersion {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.-]+)?$/.exec(text.trim());
  if (!m) throw new UsageError(`invalid ${flag} "${text}": give a Cilium version such as 1.8 or 1.16.3`);
  return { major: Number(m[1]), minor: Number(m[2]), text: text.trim().replace(/^v/, '') };
}

/** The naming eras a Cilium version can show, oldest first. */
export function erasForVersion(v: CiliumVersion): NamingEra[] {
  if (v.major < 1 || (v.major === 1 && v.minor <= 11)) return ['iproute2'];
  if (v.major === 1 && v.minor <= 13) return ['iproute2', 'cilium-ebpf'];
  if (v.major === 1 && v.minor <= 15) return ['cilium-ebpf'];
  // 1.16+: tcx on kernel 6.6+ (bpf.enableTCX, default on), classic tc filters below that.
  return ['cilium-ebpf', 'tcx'];
}

/** Short names for the era, as printed. */
export const ERA_TITLE: Readonly<Record<NamingEra, string>> = {
  iproute2: 'iproute2 loader',
  'cilium-ebpf': 'cilium/ebpf loader',
  tcx: 'tcx',
};

/** The era in a sentence: "the iproute2-loader naming of Cilium 1.11 and older". */
export const ERA_PHRASE: Readonly<Record<NamingEra, string>> = {
  iproute2: 'the iproute2-loader naming of Cilium 1.11 and older',
  'cilium-ebpf': 'the cilium/ebpf-loader naming of Cilium 1.12 and newer on tc',
  tcx: 'the tcx naming of Cilium 1.16 and newer on kernel 6.6+',
};

/** The object file Cilium's iproute2 loader used for a role on an interface (as in `bpftool net list` of 1.8). */
function objectFor(role: string, iface: string): string {
  if (role === 'from-container' || role === 'to-container') return 'bpf_lxc.o';
  if (role === 'from-overlay' || role === 'to-overlay') return 'bpf_overlay.o';
  if (role === 'from-netdev' || role === 'to-netdev') return `bpf_netdev_${iface}.o`;
  if (iface === 'cilium_net') return 'bpf_host_cilium_net.o';
  return 'bpf_host.o';
}

/** What an era attaches for a role on an interface hook: "bpf_lxc.o:[from-container] on clsact/ingress". */
export function expectedAttachment(era: NamingEra, role: string, iface: string, hook: string): string {
  if (era === 'iproute2') return `${objectFor(role, iface)}:[${role}] on clsact/${hook}`;
  if (era === 'cilium-ebpf') return `${functionOf(role)}-${iface} on clsact/${hook}`;
  return `${functionOf(role)} on tcx/${hook}`;
}

/** The fields of an attachment as read, before recognition. */
export interface RawAttachment {
  interface: string;
  ifindex: number | null;
  kind: AttachKind;
  hook: string;
  name: string | null;
  programId: number | null;
  linkId?: number | null;
  /** tc's `name` field: the kernel's (15-character) program name. */
  kernelName?: string | null;
}

/** An attachment with its program recognised. */
export function makeAttachment(raw: RawAttachment): Attachment {
  const naming = recogniseProgram(raw.name, raw.kind, raw.kernelName ?? null);
  return {
    interface: raw.interface,
    ifindex: raw.ifindex,
    kind: raw.kind,
    hook: raw.hook,
    name: raw.name,
    ...naming,
    programId: raw.programId,
    linkId: raw.linkId ?? null,
  };
}

/** Splits bpftool's `kind` (`clsact/ingress`, `tcx/egress`, `netkit/peer`, `htb`) into attach kind and hook. */
export function kindAndHook(bpftoolKind: string): { kind: AttachKind; hook: string } {
  const [prefix = '', hook] = bpftoolKind.split('/', 2);
  if (hook !== undefined) {
    if (prefix === 'clsact') return { kind: 'clsact', hook };
    if (prefix === 'tcx') return { kind: 'tcx', hook };
    // bpftool 7.4 printed netkit hooks as meta/primary and meta/peer before renaming them.
    if (prefix === 'netkit' || prefix === 'meta') return { kind: 'netkit', hook };
  }
  return { kind: 'qdisc', hook: bpftoolKind };
}
