/**
 * What converging a node to an apply file means, per addon: pure comparisons of the planned addons
 * with the journal's records, before the run (what will happen) and after it (what did).
 */
import type { PlannedAddon } from '../planner.js';
import type { EnabledAddon } from '../engine/journal.js';
import type { Catalogue } from '../catalogue.js';
import compareVersions from 'semver/functions/compare.js';

export type ChangeAction = 'enable' | 'upgrade' | 'downgrade' | 'reconfigure' | 'check' | 'disable';

export interface AddonChange {
  name: string;
  action: ChangeAction;
  /** One line: `reconfigure dns: servers 8.8.8.8 -> 1.1.1.1`. */
  text: string;
}

const show = (v: unknown) => (v === undefined ? '(default)' : Array.isArray(v) ? v.join(' ') : String(v));

/**
 * `servers 8.8.8.8 -> 1.1.1.1, --set hubble.enabled=true -> (default)`: what differs between two maps,
 * leaving out `skip` (the version argument: the resolved versions are compared instead).
 */
function differences(before: Record<string, unknown>, after: Record<string, unknown>, skip?: string): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => k !== skip).sort();
  return keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).map((k) => `${k} ${show(before[k])} -> ${show(after[k])}`);
}

/** The name of an addon's version argument (`version` for cilium), if it has one. */
const versionArg = (catalogue: Catalogue, name: string) => catalogue.get(name)?.arguments.find((a) => a.type === 'version')?.name;

/** What applying will do to each addon: planned ones in plan order, then the pruned ones. */
export function plannedChanges(planned: readonly PlannedAddon[], installed: Readonly<Record<string, EnabledAddon>>, prune: readonly string[], catalogue: Catalogue): AddonChange[] {
  const out: AddonChange[] = [];
  for (const a of planned) {
    const before = installed[a.name];
    const version = a.version ? ` ${a.version}` : '';
    if (!before) {
      out.push({ name: a.name, action: 'enable', text: `enable ${a.name}${version}${a.reason === 'requested' ? '' : ` (${a.reason})`}` });
      continue;
    }
    if (before.version && a.version && before.version !== a.version) {
      const down = compareVersions(a.version, before.version) < 0;
      out.push({ name: a.name, action: down ? 'downgrade' : 'upgrade', text: `${down ? 'downgrade' : 'upgrade'} ${a.name} ${before.version} -> ${a.version}` });
      continue;
    }
    const diff = [...differences(before.args, a.args, versionArg(catalogue, a.name)), ...differences(before.options, a.options)];
    if (diff.length) out.push({ name: a.name, action: 'reconfigure', text: `reconfigure ${a.name}: ${diff.join(', ')}` });
    else out.push({ name: a.name, action: 'check', text: `${a.name}${version} is enabled as wanted; its steps are checked against the node` });
  }
  for (const name of prune) out.push({ name, action: 'disable', text: `disable ${name} (not in the file; --prune)` });
  return out;
}

/** What a run did, per addon, from the journal before and after: `dns reconfigured`, `helm3 disabled`. */
export function outcomes(before: Readonly<Record<string, EnabledAddon>>, after: Readonly<Record<string, EnabledAddon>>, catalogue: Catalogue): string[] {
  const out: string[] = [];
  for (const name of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const b = before[name];
    const a = after[name];
    if (!b && a) out.push(`${name} enabled`);
    else if (b && !a) out.push(`${name} disabled`);
    else if (a && b && a.version !== b.version) out.push(`${name} ${b.version} -> ${a.version}`);
    else if (a && b && (differences(b.args, a.args, versionArg(catalogue, name)).length || differences(b.options, a.options).length)) out.push(`${name} reconfigured`);
    else if (a && b && a.updatedAt !== b.updatedAt) out.push(`${name} repaired`);
  }
  return out;
}
