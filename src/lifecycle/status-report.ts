/**
 * The status report: MicroK8s's `status` shape (`microk8s: {running}`, `high-availability: {enabled}`,
 * `addons: [{name, description, version, status}]`) with real booleans, where an addon's status comes
 * from the journal checked against the node (src/lifecycle/verify.ts): enabled, disabled, or degraded
 * with the reason. Rendering is pure.
 */
import yaml from 'js-yaml';
import type { Catalogue } from '../catalogue.js';
import type { Journal } from '../engine/journal.js';
import { verifyAddon, type Problem, type VerifyContext } from './verify.js';

export type AddonState = 'enabled' | 'disabled' | 'degraded';

export interface AddonStatus {
  name: string;
  description: string;
  /** The enabled version, else the version enable would install; null when the addon has none. */
  version: string | null;
  status: AddonState;
  /** Degraded: what does not hold, one entry per finding. */
  problems?: string[];
}

/** The datapath part (`status --datapath`): its verdict, or why it was not checked. */
export type DatapathStatus =
  | { checked: true; complete: boolean; era: string; ciliumVersion: string | null; problems: string[]; notes: string[] }
  | { checked: false; reason: string };

export interface StatusReport {
  microk8s: { running: boolean; reason?: string };
  'high-availability': { enabled: boolean };
  addons: AddonStatus[];
  datapath?: DatapathStatus;
  /** False when the API server could not be asked: addons are as the journal records them (not printed in YAML/JSON: `running` says it). */
  clusterChecked: boolean;
}

/** The addon statuses: every catalogue addon (and any the journal has that the catalogue lacks), by name. */
export async function addonStatuses(journal: Journal, catalogue: Catalogue, ctx: VerifyContext, opts: { only?: string; operationRunning?: boolean } = {}): Promise<AddonStatus[]> {
  const only = opts.only;
  const names = [...new Set([...catalogue.addons.map((a) => a.name), ...Object.keys(journal.addons)])].filter((n) => only === undefined || n === only).sort();
  const op = journal.operation;
  const inOperation = new Set(op ? (op.type === 'enable' ? op.steps.map((s) => s.addon) : (op.addons ?? [])) : []);
  const out: AddonStatus[] = [];
  for (const name of names) {
    const manifest = catalogue.get(name);
    const enabled = journal.addons[name];
    const description = manifest?.description ?? '(not in the catalogue of this mk8s-addons)';
    const problems: Problem[] = [];
    if (op && inOperation.has(name)) {
      problems.push({
        phase: `${op.type}/${name}`,
        message: opts.operationRunning
          ? `being changed by a running mk8s-addons (pid ${op.pid}: ${op.command}, started ${op.startedAt})`
          : op.type === 'enable'
            ? `an interrupted run (pid ${op.pid}: ${op.command}, started ${op.startedAt}) left ${op.steps.filter((s) => s.addon === name).length} step(s) applied; the next enable, disable or reset rolls them back`
            : `an interrupted disable (pid ${op.pid}, started ${op.startedAt}) left ${op.steps.length} step(s) to undo; run mk8s-addons disable ${name} to finish it`,
      });
    }
    if (enabled) problems.push(...(await verifyAddon(name, enabled, manifest, ctx, catalogue.folder(name))));
    const version = enabled ? enabled.version : (manifest?.versions?.default ?? manifest?.version ?? null);
    if (problems.length) out.push({ name, description, version, status: 'degraded', problems: problems.map((p) => `${p.phase}: ${p.message}`) });
    else out.push({ name, description, version, status: enabled ? 'enabled' : 'disabled' });
  }
  return out;
}

/** The report as data for YAML and JSON: MicroK8s's keys, in its order. */
function plain(report: StatusReport): Record<string, unknown> {
  return {
    microk8s: report.microk8s,
    'high-availability': report['high-availability'],
    addons: report.addons.map(({ problems, ...a }) => ({ ...a, ...(problems ? { reason: problems.join('; ') } : {}) })),
    ...(report.datapath ? { datapath: report.datapath } : {}),
  };
}

export function renderStatusYaml(report: StatusReport): string {
  return yaml.dump(plain(report), { lineWidth: -1, noRefs: true });
}

export function renderStatusJson(report: StatusReport): string {
  return `${JSON.stringify({ type: 'status', ...plain(report) })}\n`;
}

export function renderStatusPretty(report: StatusReport): string {
  const lines: string[] = [];
  const { running, reason } = report.microk8s;
  lines.push(running ? 'microk8s is running' : `microk8s is not running: ${reason ?? 'not ready'}`);
  lines.push(`high-availability: ${report['high-availability'].enabled ? 'yes' : 'no'}`);
  lines.push(report.clusterChecked ? 'addons:' : 'addons (as the journal records them; not checked against the cluster while MicroK8s is not running):');
  const width = Math.max(0, ...report.addons.map((a) => a.name.length));
  const vwidth = Math.max(0, ...report.addons.map((a) => (a.version ?? '-').length));
  for (const state of ['enabled', 'degraded', 'disabled'] as const) {
    const group = report.addons.filter((a) => a.status === state);
    if (group.length === 0 && state === 'degraded') continue;
    lines.push(`  ${state}:`);
    if (group.length === 0) lines.push('    (none)');
    for (const a of group) {
      lines.push(`    ${a.name.padEnd(width)}  ${(a.version ?? '-').padEnd(vwidth)}  ${a.description}`);
      for (const p of a.problems ?? []) lines.push(`      ${p}`);
    }
  }
  const dp = report.datapath;
  if (dp) {
    if (!dp.checked) lines.push(`datapath: not checked: ${dp.reason}`);
    else {
      lines.push(`datapath: ${dp.complete ? 'complete' : 'incomplete'} (Cilium ${dp.ciliumVersion ?? `naming era ${dp.era}`})`);
      for (const p of dp.problems) lines.push(`  ${p}`);
      for (const n of dp.notes) lines.push(`  note: ${n}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
