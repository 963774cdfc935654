/** Renders the datapath report (pretty/plain table, or one JSON line) and the command's help. Pure. */
import type { OutputMode } from '../grammar.js';
import type { Attachment, DatapathReport, SourceFormat } from './model.js';
import { ERA_TITLE } from './naming.js';
import { placeOf } from './judge.js';

const SOURCE_TITLE: Readonly<Record<SourceFormat, string>> = {
  'bpftool-json': 'bpftool -j net list',
  'bpftool-text': 'bpftool net list',
  tc: 'tc filter show',
};

function idText(a: Attachment): string {
  if (a.programId === null) return '-';
  return a.linkId === null ? String(a.programId) : `${a.programId} (link ${a.linkId})`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

/** The headline: verdict, era and what it was judged against. */
export function headline(report: DatapathReport): string {
  const programs = report.interfaces.reduce((n, i) => n + i.attachments.length, 0);
  const era = report.era === 'none' ? 'no Cilium program seen' : `${ERA_TITLE[report.era]} naming`;
  const against = report.ciliumVersion === null ? 'judged by the naming found' : `judged against Cilium ${report.ciliumVersion}`;
  const verdict = report.complete
    ? `complete: ${report.interfaces.length} interface${report.interfaces.length === 1 ? '' : 's'}, ${programs} program${programs === 1 ? '' : 's'}`
    : `incomplete: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`;
  return `Cilium datapath ${verdict} (${era}, ${against}; read with ${SOURCE_TITLE[report.source]})`;
}

export function renderDatapath(report: DatapathReport, mode: OutputMode): string {
  if (mode === 'json') {
    const { complete, era, interfaces, problems, ciliumVersion, source, notes } = report;
    return `${JSON.stringify({ type: 'datapath', complete, era, interfaces, problems, ciliumVersion, source, notes })}\n`;
  }
  const rows: string[][] = [['INTERFACE', 'TYPE', 'HOOK', 'PROGRAM', 'NAME', 'ID']];
  for (const i of report.interfaces) {
    const label = i.ifindex === null ? i.name : `${i.name}(${i.ifindex})`;
    if (i.attachments.length === 0) rows.push([label, i.type, '-', '-', '(none)', '-']);
    for (const a of i.attachments) rows.push([label, i.type, placeOf(a), a.role ?? '-', a.name ?? a.function ?? '-', idText(a)]);
  }
  const out = [headline(report), '', ...table(rows)];
  if (report.problems.length > 0) {
    out.push('', 'Problems:');
    for (const p of report.problems) out.push(`  - ${p.message}`);
  }
  if (report.notes.length > 0) {
    out.push('', 'Notes:');
    for (const n of report.notes) out.push(`  - ${n}`);
  }
  return `${out.join('\n')}\n`;
}

export function datapathHelp(): string {
  return `Usage: mk8s-addons datapath [--output pretty|plain|json] [--netns NAME] [--from FILE] [--cilium-version V]

Checks that Cilium's BPF programs are attached where they belong: from-container on every lxc
interface and lxc_health, to-host/from-host on cilium_host, to-host on cilium_net, from-overlay/
to-overlay on cilium_vxlan or cilium_geneve (tunnel mode), from-netdev on the physical devices
Cilium manages (to-netdev too when its configuration needs the devices: kube-proxy replacement,
NodePort, host firewall, BPF masquerading). A listing that covers less (a tc transcript, grep'd
bpftool lines) is judged for what it covers, and a note says what it does not. Reads bpftool -j net list (its text form, or tc filter show per interface
when bpftool is missing) and recognises the naming era: bpf_lxc.o:[from-container] (iproute2
loader, Cilium 1.11 and older), cil_from_container-lxc... (cilium/ebpf loader), cil_from_container
on tcx (Cilium 1.16 and newer on kernel 6.6+).

Options:
  --netns NAME          run every call inside this network namespace (ip netns exec NAME ...)
  --from FILE           analyse saved output instead: bpftool -j net list, bpftool net list (or
                        its entry lines alone), or tc filter show dev IF ingress|egress with its
                        command lines
  --cilium-version V    judge against this Cilium version (default: by the naming found)
  --output MODE         pretty, plain or json (one line: {"type":"datapath",...})

Needs root (CAP_BPF and CAP_NET_ADMIN) and bpftool: apt-get install bpftool iproute2.

Exit codes: 0 complete, 1 something missing or unexpected, 2 invalid input, 3 tools or privileges missing.
`;
}
