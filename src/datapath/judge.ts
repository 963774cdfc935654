/**
 * The judge: is Cilium's datapath completely attached? Pure: an observation in, a report out.
 *
 * A healthy node, per interface (role names; see naming.ts for how each era spells them):
 * - `lxc*` and `lxc_health`: from-container at ingress (to-container at egress is allowed, older setups);
 * - `cilium_host`: to-host at ingress, from-host at egress; `cilium_net`: to-host at ingress;
 * - `cilium_vxlan` / `cilium_geneve` (tunnel mode, when the device exists): from-overlay / to-overlay;
 * - physical devices Cilium manages (those carrying any netdev program): from-netdev at ingress, and
 *   to-netdev at egress only when Cilium needs its devices (kube-proxy replacement, NodePort, the host
 *   firewall, BPF masquerading: Cilium's loader, reloadHostDatapath, attaches to-netdev only when
 *   AreDevicesRequired() and otherwise removes the egress filters). Unless the Cilium configuration is
 *   given, to-netdev is allowed but not required. A physical device without programs is fine.
 * A listing that covers less than every hook (a tc transcript, grep'd bpftool lines: Observation.coverage)
 * is judged for what it covers only, and a note says what it does not cover.
 * The running agent's era is the newest one seen (or the one the Cilium version implies); programs of an
 * older era are left over from an earlier agent.
 */
import type { Attachment, DatapathReport, InterfaceReport, InterfaceType, LinkInfo, NamingEra, Observation, Problem } from './model.js';
import { ERAS } from './model.js';
import { isPhysical } from './links.js';
import { ERA_PHRASE, erasForVersion, expectedAttachment, interfaceTypeByName, linkName, parseCiliumVersion, type CiliumVersion } from './naming.js';

type Direction = 'ingress' | 'egress';

interface Expectation {
  hook: Direction;
  role: string;
  /** False: allowed but not needed. */
  required: boolean;
}

const NETDEV_ROLES = new Set(['from-netdev', 'to-netdev']);

const CHECK_AGENT = 'microk8s kubectl -n kube-system get pods -l k8s-app=cilium -o wide';

function expectationsFor(type: InterfaceType, managed: boolean, devicesRequired: boolean): Expectation[] {
  switch (type) {
    case 'endpoint':
      return [
        { hook: 'ingress', role: 'from-container', required: true },
        { hook: 'egress', role: 'to-container', required: false },
      ];
    case 'cilium_host':
      return [
        { hook: 'ingress', role: 'to-host', required: true },
        { hook: 'egress', role: 'from-host', required: true },
      ];
    case 'cilium_net':
      return [{ hook: 'ingress', role: 'to-host', required: true }];
    case 'overlay':
      return [
        { hook: 'ingress', role: 'from-overlay', required: true },
        { hook: 'egress', role: 'to-overlay', required: true },
      ];
    case 'netdev':
      return managed
        ? [
            { hook: 'ingress', role: 'from-netdev', required: true },
            { hook: 'egress', role: 'to-netdev', required: devicesRequired },
          ]
        : [];
    case 'other':
      return [];
  }
}

/** What it costs when an interface lacks a program, and what to do. */
function consequence(iface: string, type: InterfaceType): string {
  if (iface === 'lxc_health') return "the node's health endpoint is cut off, so cilium-health reports failures: restart the cilium agent";
  switch (type) {
    case 'endpoint':
      return "packets from this pod bypass Cilium's policy and routing: restart the pod, or the cilium agent to regenerate its endpoint";
    case 'cilium_host':
    case 'cilium_net':
      return 'traffic between the host and the pods is not handled by Cilium: restart the cilium agent';
    case 'overlay':
      return 'traffic to and from pods on other nodes (tunnel mode) is not handled: restart the cilium agent';
    default:
      return 'the device is managed in one direction only, which breaks NodePort, host-firewall and BPF-masquerading traffic: restart the cilium agent';
  }
}

/** Where Cilium attaches a role, for "belongs on" sentences. */
function roleHome(role: string): string {
  if (role === 'from-container' || role === 'to-container') return 'lxc interfaces';
  if (role === 'to-host') return 'cilium_host and cilium_net';
  if (role === 'from-host') return 'cilium_host';
  if (role === 'from-overlay' || role === 'to-overlay') return 'cilium_vxlan or cilium_geneve';
  if (NETDEV_ROLES.has(role)) return 'physical devices';
  if (role === 'from-wireguard' || role === 'to-wireguard') return 'cilium_wg0';
  return 'no interface directly (it is a tail call or socket program)';
}

function typeLabel(iface: string, type: InterfaceType): string {
  if (type === 'endpoint') return iface === 'lxc_health' ? 'the health endpoint' : 'a pod endpoint';
  if (type === 'overlay') return 'the tunnel device';
  if (type === 'netdev') return 'a physical device';
  return iface;
}

/** The hook direction of a tc, tcx or netkit attachment (netkit's peer hook sees what the pod sends). */
function direction(a: Attachment): Direction | undefined {
  if (a.kind === 'clsact' || a.kind === 'tcx') return a.hook === 'ingress' || a.hook === 'egress' ? a.hook : undefined;
  if (a.kind === 'netkit') return a.hook === 'peer' ? 'ingress' : a.hook === 'primary' ? 'egress' : undefined;
  return undefined;
}

/** Where an attachment sits, as bpftool says it: `clsact/ingress`, `tcx/egress`, `xdp (driver)`. */
export function placeOf(a: Attachment): string {
  if (a.kind === 'xdp') return `xdp (${a.hook})`;
  if (a.kind === 'qdisc') return a.hook;
  return `${a.kind}/${a.hook}`;
}

function display(a: Attachment): string {
  return a.name ?? (a.function ? `${a.function} (id ${a.programId ?? '?'})` : `program id ${a.programId ?? '?'}`);
}

function removal(a: Attachment): string {
  if (a.kind === 'tcx') return `bpftool net detach tcx_${a.hook} dev ${a.interface}`;
  return `tc filter del dev ${a.interface} ${a.hook} pref N, N being its pref in tc filter show dev ${a.interface} ${a.hook}`;
}

function expectedClause(eras: readonly NamingEra[], role: string, iface: string, hook: string): string {
  if (eras.length === 0) return '';
  const alternatives = [...eras].reverse().map((era) => `${expectedAttachment(era, role, iface, hook)}, in ${ERA_PHRASE[era]}`);
  return ` (expected ${alternatives.join(', or ')})`;
}

function sortInterfaces(a: InterfaceReport, b: InterfaceReport): number {
  return (a.ifindex ?? Number.MAX_SAFE_INTEGER) - (b.ifindex ?? Number.MAX_SAFE_INTEGER) || a.name.localeCompare(b.name);
}

export interface JudgeOptions {
  /** Judge against this Cilium version (`--cilium-version`, or the journal); default: by the era found. */
  ciliumVersion?: string | undefined;
  /**
   * The agent's configuration (the keys of configmap/cilium-config, e.g. `kube-proxy-replacement: "true"`),
   * when known: it says whether Cilium attaches to-netdev at egress (see devicesRequired). Unknown: to-netdev
   * is not required.
   */
  ciliumConfig?: Readonly<Record<string, string>> | undefined;
}

const on = (v: string | undefined): boolean => v !== undefined && ['true', 'strict', 'partial', 'probe'].includes(v.trim().toLowerCase());

/**
 * Whether Cilium needs its native devices, and so attaches to-netdev at egress (Cilium's
 * option.Config.AreDevicesRequired): kube-proxy replacement, NodePort, the host firewall or BPF
 * masquerading, read from the agent's configuration keys. Undefined when no configuration is given.
 */
export function devicesRequired(config: Readonly<Record<string, string>> | undefined): boolean | undefined {
  if (config === undefined) return undefined;
  return ['kube-proxy-replacement', 'enable-node-port', 'enable-host-firewall', 'enable-bpf-masquerade'].some((key) => on(config[key]));
}

/** What a listing with partial coverage leaves out, for the note. */
function coverageNote(obs: Observation, interfaces: readonly string[]): string | undefined {
  const coverage = obs.coverage;
  if (coverage === undefined) return undefined;
  if (coverage.kind === 'lines') {
    return 'these are bpftool entry lines without the section headers (a filtered listing, as grep leaves it): only duplicated, misplaced and foreign programs are judged; a program missing from them may only have been left out';
  }
  const hooks = new Map<string, string[]>();
  for (const q of coverage.queried) hooks.set(q.interface, [...(hooks.get(q.interface) ?? []), q.hook]);
  const queried = [...hooks].map(([iface, list]) => `${iface} (${list.join(', ')})`).join(', ');
  const host = ['cilium_host', 'cilium_net'].filter((n) => !hooks.has(n) && !interfaces.includes(n));
  return `this transcript queried only ${queried || 'no interface'}: nothing is judged about the interfaces and hooks it did not query${host.length > 0 ? ` (${host.join(' and ')} among them)` : ''}`;
}

/** Judges what is attached against what Cilium attaches. */
export function judgeDatapath(obs: Observation, opts: JudgeOptions = {}): DatapathReport {
  const version: CiliumVersion | undefined = opts.ciliumVersion === undefined ? undefined : parseCiliumVersion(opts.ciliumVersion);
  const problems: Problem[] = [];
  const notes = [...obs.notes];
  const linkByIndex = new Map<number, LinkInfo>((obs.links ?? []).map((l) => [l.ifindex, l]));
  const linkByName = new Map<string, LinkInfo>((obs.links ?? []).map((l) => [l.name, l]));

  // bpftool leaves the name out when it has none for the device: take it from the link list.
  // `ip link` prints a veth as lxc81bb9e5d5ed7@if9: the name is the part before "@".
  const attachments = obs.attachments.map((a) =>
    a.interface === '' && a.ifindex !== null ? { ...a, interface: linkByIndex.get(a.ifindex)?.name ?? `ifindex ${a.ifindex}` } : { ...a, interface: linkName(a.interface) },
  );
  const queried = obs.coverage?.kind === 'hooks' ? obs.coverage.queried : undefined;
  /** Whether the listing says anything about this hook (a whole listing covers every hook). */
  const covered = (iface: string, hook: Direction): boolean =>
    obs.coverage === undefined ? true : queried !== undefined && queried.some((q) => q.interface === iface && q.hook === hook);
  const needDevices = devicesRequired(opts.ciliumConfig) === true;

  const interfaces = new Map<string, InterfaceReport>();
  const entry = (name: string, ifindex: number | null): InterfaceReport => {
    let r = interfaces.get(name);
    if (!r) {
      r = { name, ifindex, type: 'other', attachments: [] };
      interfaces.set(name, r);
    }
    r.ifindex ??= ifindex;
    return r;
  };
  for (const l of obs.links ?? []) {
    if (interfaceTypeByName(l.name) !== undefined || isPhysical(l)) entry(l.name, l.ifindex);
  }
  for (const q of queried ?? []) entry(q.interface, linkByName.get(q.interface)?.ifindex ?? null);
  for (const a of attachments) entry(a.interface, a.ifindex ?? linkByName.get(a.interface)?.ifindex ?? null).attachments.push(a);
  for (const r of interfaces.values()) {
    const link = linkByName.get(r.name);
    const carriesNetdev = r.attachments.some((a) => a.era !== null && a.role !== null && NETDEV_ROLES.has(a.role));
    r.type = interfaceTypeByName(r.name) ?? ((link && isPhysical(link)) || carriesNetdev ? 'netdev' : 'other');
  }

  // The running agent's era: the newest seen that the version allows.
  const found = ERAS.filter((era) => attachments.some((a) => a.era === era));
  let current: NamingEra | undefined = found.at(-1);
  let expectedEras: NamingEra[] = current ? [current] : [];
  if (version) {
    const allowed = erasForVersion(version);
    const fitting = found.filter((era) => allowed.includes(era));
    if (fitting.length > 0) {
      current = fitting.at(-1);
      expectedEras = [current as NamingEra];
    } else if (current) {
      const wanted = [...allowed].reverse().map((era) => ERA_PHRASE[era]).join(' or ');
      problems.push({
        interface: null,
        hook: null,
        message: `the programs are in ${ERA_PHRASE[current]}, but Cilium ${version.text} uses ${wanted}: this node runs another Cilium version than expected; check the agent's image with microk8s kubectl -n kube-system get ds cilium -o jsonpath='{.spec.template.spec.containers[0].image}'`,
      });
    } else {
      expectedEras = allowed;
    }
  }

  const listing = obs.links === null;
  const exists = (name: string) => interfaces.has(name);
  const reports = [...interfaces.values()].sort(sortInterfaces);
  const anyCilium = reports.some((r) => r.type !== 'other' && r.type !== 'netdev') || found.length > 0;
  if (!anyCilium) {
    problems.push({
      interface: null,
      hook: null,
      message: `no Cilium interface or program ${listing ? 'is in this listing' : 'exists in this network namespace'}: Cilium's datapath is not set up here; check that cilium is enabled and that its pod on this node runs (${CHECK_AGENT})`,
    });
  } else if (obs.coverage === undefined) {
    for (const name of ['cilium_host', 'cilium_net']) {
      if (exists(name)) continue;
      problems.push({
        interface: name,
        hook: null,
        message: listing
          ? `${name} carries no program in this listing: Cilium's host datapath is not attached, or its agent is not running; check the cilium pod on this node (${CHECK_AGENT})`
          : `${name} does not exist: Cilium's agent has not set up this node's datapath; check that the cilium pod on this node runs (${CHECK_AGENT})`,
      });
    }
  }

  for (const r of reports) {
    if (r.type === 'other') continue;
    const managed = r.attachments.some((a) => a.era !== null && a.role !== null && NETDEV_ROLES.has(a.role));
    const expectations = expectationsFor(r.type, managed, needDevices);
    const fitsEra = (a: Attachment) => a.era !== null && (current === undefined || a.era === current);
    for (const exp of expectations) {
      const matches = r.attachments.filter((a) => fitsEra(a) && a.role === exp.role && direction(a) === exp.hook);
      if (matches.length === 0 && exp.required && covered(r.name, exp.hook)) {
        problems.push({
          interface: r.name,
          hook: exp.hook,
          message: `${r.name}: no ${exp.role} program at ${exp.hook}${expectedClause(expectedEras, exp.role, r.name, exp.hook)}; ${consequence(r.name, r.type)}`,
        });
      } else if (matches.length > 1) {
        problems.push({
          interface: r.name,
          hook: exp.hook,
          message: `${r.name}: ${exp.role} is attached ${matches.length} times at ${exp.hook} (program ids ${matches.map((a) => a.programId ?? '?').join(', ')}); only the first decides and the others are stale copies: restart the cilium agent`,
        });
      }
    }
    for (const a of r.attachments) {
      if (a.kind === 'xdp') {
        // Cilium's XDP acceleration lives on physical devices; bpftool shows no name for XDP programs.
        if (r.type === 'netdev') continue;
        const off = a.hook === 'generic' ? 'xdpgeneric' : a.hook === 'offload' ? 'xdpoffload' : 'xdpdrv';
        problems.push({
          interface: r.name,
          hook: 'xdp',
          message: `${r.name}: an XDP program (id ${a.programId ?? '?'}, ${a.hook} mode) is attached, but Cilium attaches XDP programs only to physical devices: unless you put it there on purpose, remove it with ip link set dev ${r.name} ${off} off`,
        });
        continue;
      }
      const hook = direction(a) ?? a.hook;
      if (a.era === null) {
        if (r.type === 'netdev') continue; // a physical device is shared with the host's other tools
        problems.push({
          interface: r.name,
          hook,
          message: `${r.name}: ${display(a)} on ${placeOf(a)} is not a Cilium program; another tool attached it to an interface that Cilium owns: unless you put it there on purpose, remove it with ${removal(a)}`,
        });
        continue;
      }
      if (current !== undefined && a.era !== current) {
        problems.push({
          interface: r.name,
          hook,
          message: `${r.name}: ${display(a)} on ${placeOf(a)} is in ${ERA_PHRASE[a.era]}, but the running agent uses ${ERA_PHRASE[current]}: it is left over from an older agent; restart the cilium agent, and if it stays, remove it with ${removal(a)}, then restart the agent again`,
        });
        continue;
      }
      const dir = direction(a);
      if (expectations.some((e) => e.role === a.role && e.hook === dir)) continue;
      const elsewhere = expectations.find((e) => e.role === a.role);
      problems.push({
        interface: r.name,
        hook,
        message: elsewhere
          ? `${r.name}: ${display(a)} is attached on ${placeOf(a)} but belongs at ${elsewhere.hook}: restart the cilium agent`
          : `${r.name}: ${display(a)} on ${placeOf(a)} is a ${a.role} program, which Cilium attaches to ${roleHome(a.role ?? '')}, not to ${typeLabel(r.name, r.type)}: restart the cilium agent`,
      });
    }
  }

  const partial = coverageNote(obs, reports.map((r) => r.name));
  if (partial !== undefined) notes.push(partial);
  const physical = reports.filter((r) => r.type === 'netdev');
  if (obs.links !== null && physical.length > 0 && !physical.some((r) => r.attachments.some((a) => a.era !== null))) {
    notes.push(
      `no physical device (${physical.map((r) => r.name).join(', ')}) carries Cilium's from-netdev program: expected unless kube-proxy replacement, NodePort, the host firewall or BPF masquerading is on`,
    );
  }

  return {
    complete: problems.length === 0,
    era: current ?? 'none',
    ciliumVersion: version?.text ?? null,
    source: obs.source,
    interfaces: reports,
    problems,
    notes,
  };
}

/** A kernel release's major.minor, e.g. `6.18.44-fc` -> [6, 18]. */
function kernelVersion(release: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** A bpftool version's major.minor; bpftool before 7.0 printed the kernel's version (`v5.15.0`). */
function toolVersion(text: string): [number, number] | undefined {
  const m = /(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const atLeast = (v: [number, number] | undefined, major: number, minor: number) => v !== undefined && (v[0] > major || (v[0] === major && v[1] >= minor));

export interface Visibility {
  /** What listed the attachments live. */
  tool: 'bpftool' | 'tc';
  /** `bpftool version`, e.g. `7.1.0`. */
  bpftoolVersion?: string | undefined;
  /** `uname -r` of the node. */
  kernelRelease: string;
}

/**
 * tcx attachments (Cilium 1.16+ on kernel 6.6+) are invisible to tc and to bpftool before 7.3. When that may
 * hide the whole datapath, judging would report everything missing: `fatal` says so instead (exit 3);
 * otherwise `note` records the blind spot.
 */
export function tcxBlindSpot(obs: Observation, vis: Visibility, ciliumVersion?: string): { fatal?: string; note?: string } {
  if (!atLeast(kernelVersion(vis.kernelRelease), 6, 6)) return {};
  if (vis.tool === 'bpftool' && atLeast(toolVersion(vis.bpftoolVersion ?? ''), 7, 3)) return {};
  if (ciliumVersion !== undefined && !erasForVersion(parseCiliumVersion(ciliumVersion)).includes('tcx')) return {};
  const tool = vis.tool === 'tc' ? 'tc filter show' : `bpftool ${vis.bpftoolVersion ?? '(unknown version)'}`;
  const ciliumHere = (obs.links ?? []).some((l) => l.name === 'cilium_host');
  const nothingSeen = !obs.attachments.some((a) => a.era !== null);
  if (ciliumHere && nothingSeen) {
    return {
      fatal: `${tool} cannot list tcx attachments, and on this kernel (${vis.kernelRelease}) Cilium 1.16 and newer attaches its programs that way, so nothing can be judged: install bpftool 7.3 or newer (apt-get install bpftool from a current release; on Ubuntu apt-get install linux-tools-$(uname -r)) and run again`,
    };
  }
  return { note: `${tool} cannot list tcx attachments (Cilium 1.16 and newer on kernel 6.6+): install bpftool 7.3 or newer to see them` };
}
