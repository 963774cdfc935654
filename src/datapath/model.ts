/**
 * The data of the datapath check: what is attached where (parsed from bpftool or tc), and the verdict.
 * Pure types; the parsers, the judge and the renderer share them.
 */

/**
 * How a program is attached to an interface:
 * - `clsact`: a classic tc filter on the clsact qdisc (`tc filter add dev X ingress bpf da ...`);
 * - `tcx`: a tcx link (kernel 6.6+), invisible to `tc filter show`;
 * - `netkit`: a netkit device hook (`netkit/primary`, `netkit/peer`);
 * - `xdp`: an XDP program (the hook is its mode: driver, generic or offload);
 * - `qdisc`: a tc filter on another qdisc or class (htb, root...), which Cilium never uses.
 */
export type AttachKind = 'clsact' | 'tcx' | 'netkit' | 'xdp' | 'qdisc';

/**
 * How Cilium named its programs, which tells which loader attached them:
 * - `iproute2`: Cilium 1.11 and older load through iproute2: `bpf_lxc.o:[from-container]`;
 * - `cilium-ebpf`: the cilium/ebpf loader (some 1.12/1.13 nodes, all of 1.14+ on tc): `cil_from_container-lxc0a1b...`;
 * - `tcx`: tcx (or netkit) links of Cilium 1.16+ on kernel 6.6+: the bare function name `cil_from_container`.
 */
export type NamingEra = 'iproute2' | 'cilium-ebpf' | 'tcx';

/** Oldest first: when several eras show on one node, the newest is the running agent's. */
export const ERAS: readonly NamingEra[] = ['iproute2', 'cilium-ebpf', 'tcx'];

/** One program attached to one interface hook. */
export interface Attachment {
  interface: string;
  ifindex: number | null;
  kind: AttachKind;
  /** `ingress`/`egress` (clsact, tcx), `primary`/`peer` (netkit), the mode for xdp, the qdisc kind for `qdisc`. */
  hook: string;
  /** The name as bpftool or tc prints it (`bpf_lxc.o:[from-container]`), null when it shows none. */
  name: string | null;
  /** iproute2 era: the object file (`bpf_lxc.o`). */
  object: string | null;
  /** iproute2 era: the ELF section (`from-container`). */
  section: string | null;
  /** cilium/ebpf and tcx eras: the C function (`cil_from_container`). */
  function: string | null;
  /** What the program does, era-independent: `from-container`, `to-host`... null for a program that is not Cilium's. */
  role: string | null;
  programId: number | null;
  /** tcx and netkit: the BPF link holding the attachment. */
  linkId: number | null;
  /** The naming era recognised; null for a program that is not Cilium's (or shows no name, like XDP in bpftool). */
  era: NamingEra | null;
}

/** One interface of the namespace, from `ip -d -j link show`. */
export interface LinkInfo {
  name: string;
  ifindex: number;
  /** `linkinfo.info_kind` (veth, vxlan, netkit...); null for a physical device. */
  infoKind: string | null;
  /** `ether`, `loopback`, `none`... */
  linkType: string;
}

/** Where the attachments were read from. */
export type SourceFormat = 'bpftool-json' | 'bpftool-text' | 'tc';

/** One hook of one interface that a listing asked about. */
export interface QueriedHook {
  interface: string;
  hook: 'ingress' | 'egress';
}

/**
 * What a listing covers when it is less than every hook of the namespace:
 * - `hooks`: a transcript of `tc filter show dev IF HOOK` calls covers exactly the hooks it queried;
 * - `lines`: bpftool entry lines without bpftool's section headers (a `grep` of the listing) cover only
 *   the lines shown: a program not among them may exist.
 */
export type Coverage = { kind: 'hooks'; queried: QueriedHook[] } | { kind: 'lines' };

/** What was read, before judging. */
export interface Observation {
  source: SourceFormat;
  attachments: Attachment[];
  /** Every interface of the namespace when known (live: ip link); null when only interfaces with programs are seen (--from). */
  links: LinkInfo[] | null;
  /** Caveats about what could not be seen. */
  notes: string[];
  /** Less than a whole listing (see Coverage); absent: every hook of the interfaces listed. */
  coverage?: Coverage;
}

/** What an interface is to Cilium, by its name (and, for physical devices, its link kind). */
export type InterfaceType = 'endpoint' | 'cilium_host' | 'cilium_net' | 'overlay' | 'netdev' | 'other';

export interface InterfaceReport {
  name: string;
  ifindex: number | null;
  type: InterfaceType;
  attachments: Attachment[];
}

/** One missing or unexpected attachment, explained in a sentence. */
export interface Problem {
  /** The interface, or null for the whole datapath (e.g. a Cilium version mismatch). */
  interface: string | null;
  /** `ingress`, `egress`, `xdp`, or null when the problem is not about one hook. */
  hook: string | null;
  message: string;
}

/** The verdict of `mk8s-addons datapath`. */
export interface DatapathReport {
  /** True when every expected program is attached and nothing unexpected is. */
  complete: boolean;
  /** The running agent's naming era, `none` when no Cilium program is seen. */
  era: NamingEra | 'none';
  /** The Cilium version judged against (`--cilium-version` or the journal), null when judged by the era found. */
  ciliumVersion: string | null;
  source: SourceFormat;
  interfaces: InterfaceReport[];
  problems: Problem[];
  notes: string[];
}
