/**
 * The planner: pure. Turns `enable cilium:v1.8` into an ordered plan: versions resolved over the pinned
 * charts, the dependency closure, conflicts, and the steps with their stable phase names. It reads only
 * the catalogue and what the caller tells it about the node (installed addons, layout); no I/O.
 */
import semverMaxSatisfying from 'semver/ranges/max-satisfying.js';
import semverSatisfies from 'semver/functions/satisfies.js';
import type { AddonManifest, Catalogue, StepKind, StepSpec } from './catalogue.js';
import { pinnedVersions } from './catalogue.js';
import type { AddonSpec } from './grammar.js';
import { UsageError } from './errors.js';

export type Layout = '1.20' | 'kubelite';
export type PlanCommand = 'enable' | 'disable';

export interface PlannedStep {
  /** Stable hierarchical name, e.g. `enable/cilium/helm-release`. */
  phase: string;
  name: string;
  kind: StepKind;
  description: string;
  params: Record<string, unknown>;
  /** Node-local (`node: true` in the manifest): on a cluster it runs on every node (src/cluster/fan-out.ts). */
  node?: boolean;
}

export interface PlannedAddon {
  name: string;
  /** The version argument as the user wrote it, or null. */
  requested: string | null;
  /** The resolved version (a pinned chart version, or the addon's fixed version), or null. */
  version: string | null;
  /** Why it is in the plan: `requested`, or `required by cilium`. */
  reason: string;
  /** Positional and flag arguments by argument name (`servers`, `ui`, ...). */
  args: Record<string, string | boolean>;
  /** Flag-only options by flag (`--set` -> [...]). */
  options: Record<string, string | boolean | string[]>;
  steps: PlannedStep[];
}

export interface Plan {
  command: PlanCommand;
  /** Dependencies before dependants for enable; dependants first for disable. */
  addons: PlannedAddon[];
}

export interface PlanInput {
  command: PlanCommand;
  specs: readonly AddonSpec[];
  catalogue: Catalogue;
  /** Addons enabled on the node, by name, with their versions (from the journal); empty when unknown. */
  installed?: ReadonlyMap<string, string | null>;
  /** The node's MicroK8s era; when unknown, layout-specific steps are all listed. */
  layout?: Layout;
}

export { pinnedVersions };

const VERSION_RE = /^v?(\d+)(?:\.(\d+)(?:\.(\d+))?)?$/;

/**
 * Resolves a version argument against an addon's pinned versions: `v1.8`/`1.8` -> newest bundled 1.8.x,
 * `1.9.18`/`v1.8.0` -> exactly that, `1` -> newest 1.x, nothing -> the manifest's default.
 */
export function resolveVersion(addon: AddonManifest, requested: string | undefined): string {
  const pins = pinnedVersions(addon);
  const available = `available: ${pins.join(', ')}`;
  if (!addon.versions) throw new UsageError(`${addon.name} has no versions to choose from; write ${addon.name} without a version`);
  if (requested === undefined) return addon.versions.default;
  const m = VERSION_RE.exec(requested);
  if (!m) {
    throw new UsageError(`invalid ${addon.name} version "${requested}": write it as v1.8 (newest 1.8.x) or 1.9.18 (exactly); ${available}`);
  }
  const [, major, minor, patch] = m;
  const range = patch !== undefined ? `=${major}.${minor}.${patch}` : minor !== undefined ? `~${major}.${minor}.0` : `^${major}.0.0`;
  const found = semverMaxSatisfying(pins, range);
  if (found === null) {
    const wanted = patch !== undefined ? `${major}.${minor}.${patch}` : minor !== undefined ? `${major}.${minor}.x` : `${major}.x`;
    throw new UsageError(`${addon.name} ${wanted} is not bundled with mk8s-addons; ${available}`);
  }
  return found;
}

/** Binds positional (`:` style) or flag-style values to the addon's declared arguments. */
function bindArguments(addon: AddonManifest, spec: AddonSpec): { args: Record<string, string | boolean>; options: PlannedAddon['options']; requested: string | null } {
  const declared = addon.arguments;
  if (spec.positional.length > declared.length) {
    const shape = declared.length === 0 ? 'no arguments' : `at most ${declared.length} argument${declared.length > 1 ? 's' : ''} (${addon.name}:${declared.map((a) => a.placeholder).join(':')})`;
    throw new UsageError(`${addon.name} takes ${shape}; got ${spec.positional.length}: ${spec.positional.map((p) => JSON.stringify(p)).join(', ')}`);
  }
  const argFlags = declared.filter((a) => spec.flags.has(a.flag));
  if (spec.positional.length > 0 && argFlags.length > 0) {
    throw new UsageError(
      `${addon.name}: give arguments either as ${addon.name}:${declared.map((a) => a.placeholder).join(':')} or with ${declared.map((a) => a.flag).join(', ')}, not both styles`,
    );
  }
  const args: Record<string, string | boolean> = {};
  let requested: string | null = null;
  for (const [i, a] of declared.entries()) {
    // An empty positional argument means "the default" (dns::10.152.183.20 keeps the default servers).
    const raw = spec.positional[i] === '' ? undefined : (spec.positional[i] ?? spec.flags.get(a.flag));
    if (raw === undefined) continue;
    if (Array.isArray(raw)) throw new UsageError(`${a.flag} is given twice for ${addon.name}; give it once`);
    if (a.type === 'switch') {
      if (raw !== true && raw !== a.name) throw new UsageError(`invalid ${addon.name} argument "${raw}": the only argument is "${a.name}" (${addon.name}:${a.name})`);
      args[a.name] = true;
      continue;
    }
    if (raw === true || raw === '') {
      throw new UsageError(`empty ${a.placeholder} for ${addon.name}: ${a.description}`);
    }
    if (a.pattern !== undefined && !new RegExp(`^(?:${a.pattern})$`).test(raw)) {
      const like = a.example === undefined ? '' : `write it like ${addon.name}:${a.example} or ${a.flag} ${a.example}; `;
      throw new UsageError(`invalid ${addon.name} ${a.placeholder} "${raw}": ${like}it must match ${a.pattern}`);
    }
    args[a.name] = raw;
    if (a.type === 'version') requested = raw;
  }
  const options: PlannedAddon['options'] = {};
  for (const o of addon.options) {
    const value = spec.flags.get(o.flag);
    if (value !== undefined) options[o.flag] = value;
  }
  return { args, options, requested };
}

/** The manifest steps for a resolved version on a layout (all of them where either is unknown). */
export function selectSteps(addon: AddonManifest, version: string | null, layout: Layout | undefined): StepSpec[] {
  return addon.steps.filter(
    (s) => (s.versions === undefined || version === null || semverSatisfies(version, s.versions)) && (s.layouts === undefined || layout === undefined || s.layouts.includes(layout)),
  );
}

function stepsFor(command: PlanCommand, addon: AddonManifest, version: string | null, layout: Layout | undefined): PlannedStep[] {
  const selected = selectSteps(addon, version, layout);
  // Disable is the exact inverse: the same steps undone, last first.
  const ordered = command === 'enable' ? selected : [...selected].reverse();
  return ordered.map((s) => ({
    phase: `${command}/${addon.name}/${s.name}`,
    name: s.name,
    kind: s.kind,
    description: command === 'enable' ? s.description : `Undo: ${s.description}`,
    params: s.params ?? {},
    ...(s.node ? { node: true } : {}),
  }));
}

/** Builds the plan, or throws a UsageError that says what to change. */
export function plan(input: PlanInput): Plan {
  const { command, specs, catalogue } = input;
  const installed = input.installed ?? new Map<string, string | null>();
  const bySpec = new Map(specs.map((s) => [s.name, s]));
  const order: { addon: AddonManifest; reason: string }[] = [];
  const placed = new Set<string>();

  if (command === 'enable') {
    // Depth-first: each addon after its dependencies, requested ones in the order given.
    const place = (addon: AddonManifest, reason: string): void => {
      if (placed.has(addon.name)) return;
      placed.add(addon.name);
      for (const dep of addon.requires) place(catalogue.get(dep) as AddonManifest, `required by ${addon.name}`);
      order.push({ addon, reason });
    };
    for (const spec of specs) place(catalogue.get(spec.name) as AddonManifest, 'requested');
  } else {
    // Dependants first: an installed addon that requires one being disabled goes before it.
    const dependants = (name: string): AddonManifest[] => catalogue.addons.filter((a) => a.requires.includes(name) && installed.has(a.name));
    const place = (addon: AddonManifest, reason: string): void => {
      if (placed.has(addon.name)) return;
      placed.add(addon.name);
      for (const d of dependants(addon.name)) place(d, `requires ${addon.name}`);
      order.push({ addon, reason });
    };
    // Requested addons that others in the request depend on go after them.
    const requested = specs.map((s) => catalogue.get(s.name) as AddonManifest);
    const dependsOn = (a: AddonManifest, b: string, seen = new Set<string>()): boolean =>
      a.requires.some((r) => r === b || (!seen.has(r) && (seen.add(r), dependsOn(catalogue.get(r) as AddonManifest, b, seen))));
    const sorted = [...requested].sort((a, b) => (dependsOn(a, b.name) ? -1 : dependsOn(b, a.name) ? 1 : 0));
    for (const addon of sorted) place(addon, 'requested');
  }

  const names = new Set(order.map((o) => o.addon.name));
  if (command === 'enable') {
    for (const { addon } of order) {
      for (const other of [...names, ...installed.keys()]) {
        const a = catalogue.get(other);
        if (other !== addon.name && (addon.conflicts.includes(other) || a?.conflicts.includes(addon.name))) {
          const fix = installed.has(other) ? `disable ${other} first` : `enable only one of them`;
          throw new UsageError(`${addon.name} conflicts with ${other}; ${fix}`);
        }
      }
    }
  }

  const addons = order.map(({ addon, reason }): PlannedAddon => {
    const spec = bySpec.get(addon.name) ?? { raw: addon.name, name: addon.name, positional: [], flags: new Map() };
    if (command === 'disable' && (spec.positional.length > 0 || spec.flags.size > 0)) {
      throw new UsageError(`disable takes no arguments for ${addon.name}; write mk8s-addons disable ${addon.name}`);
    }
    const bound = command === 'enable' ? bindArguments(addon, spec) : { args: {}, options: {}, requested: null };
    let version: string | null;
    if (addon.versions) {
      // No version asked for and the addon is installed: it stays at its version (an upgrade is asked for
      // with a version: cilium:v1.9). A dependency pulled in by another addon never changes version.
      const current = installed.get(addon.name) ?? null;
      if (command === 'disable' || (current !== null && bound.requested === null)) version = current;
      else version = resolveVersion(addon, bound.requested ?? undefined);
    } else {
      version = addon.version ?? null;
    }
    return { name: addon.name, requested: bound.requested, version, reason, args: bound.args, options: bound.options, steps: stepsFor(command, addon, version, input.layout) };
  });
  return { command, addons };
}
