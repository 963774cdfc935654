/**
 * What a node reports after a node-local check (on its Node object, src/cluster/node-local.ts): the
 * phases that would change, and which of them `configure` can do there exactly (args-flag steps whose
 * file the agent's edit and its undo reproduce byte for byte, src/cluster/configure-args.ts) with their
 * current and wanted values; the rest (`hook`) needs the node-local hook run. A restart step is in
 * neither: its restarts are those of the steps before it, done by `configure` for its args and by the
 * hook run for the rest.
 */
import type { Catalogue } from '../catalogue.js';
import type { Layout } from '../planner.js';
import { readText } from '../adapters/fs.js';
import { nodeFiles, type SnapPaths } from '../node/node.js';
import { agentDaemon, agentKindFor, exactThroughConfigure, type ArgsChange } from './configure-args.js';

/** What a node reports after a check. */
export interface NodeCheckReport {
  nonce: string;
  /** Whether the addon is in this node's journal. */
  enabled: boolean;
  /** Phases that would change (empty: the node is as wanted). */
  changes: string[];
  /** The args-flag changes `configure` can make exactly, with their current values (absent in reports of older versions). */
  args?: ArgsChange[];
  /** Phases only the node-local hook run can do (absent in reports of older versions: every change). */
  hook?: string[];
}

/** One dry-run event of the node-local check (the JSON line, parsed). */
export interface CheckEvent {
  type?: string;
  status?: string;
  phase?: string;
  args?: { service: string; flag: string; to: string | null };
}

export async function nodeCheckReport(events: readonly CheckEvent[], opts: { nonce: string; enabled: boolean; paths: SnapPaths; layout: Layout; catalogue: Catalogue }): Promise<NodeCheckReport> {
  const would = events.filter((e) => e.type === 'step' && e.status === 'would-change' && typeof e.phase === 'string');
  const changes = would.map((e) => e.phase as string);
  const byService = new Map<string, { phase: string; service: string; flag: string; to: string | null }[]>();
  for (const e of would) if (e.args) byService.set(e.args.service, [...(byService.get(e.args.service) ?? []), { phase: e.phase as string, ...e.args }]);
  const kind = agentKindFor(opts.layout);
  const args: ArgsChange[] = [];
  for (const [service, steps] of byService) {
    const text = await readText(nodeFiles(opts.paths).args(service));
    args.push(...(exactThroughConfigure(kind, text, steps, agentDaemon(kind, service, opts.layout === 'kubelite')) ?? []));
  }
  const viaConfigure = new Set(args.map((a) => a.phase));
  const isRestart = (phase: string) => {
    const [, addon, name] = phase.split('/');
    const step = opts.catalogue.get(addon ?? '')?.steps.find((s) => s.name === name);
    return step?.kind === 'service' && step.params?.action === 'restart';
  };
  return { nonce: opts.nonce, enabled: opts.enabled, changes, args, hook: changes.filter((p) => !viaConfigure.has(p) && !isRestart(p)) };
}
