/**
 * Which Kubernetes versions each minor of an addon's software supports. Pure and generic: the table is
 * data (the `compatibility:` key of an addon's manifest), the check a function of the table, the
 * software's name and two versions. Cilium's table (addons/cilium/manifest.yaml) is the first user.
 *
 * Two sources per minor:
 * - `requires`: the chart's own `kubeVersion` (Chart.yaml): helm refuses any other Kubernetes, so outside
 *   it is not ok;
 * - `tested`: the Kubernetes minors the software's documentation lists as tested for that release. Newer
 *   Kubernetes is untested (a warning). Older Kubernetes is `unsupported` or only `untested`, as the
 *   documentation of that release says (Cilium: unsupported up to 1.14, "Older Kubernetes versions not
 *   listed here do not have Cilium support"; untested from 1.15).
 */
import semverCoerce from 'semver/functions/coerce.js';
import semverSatisfies from 'semver/functions/satisfies.js';

export const MINOR_RE = /^(\d+)\.(\d+)$/;
export const TESTED_RE = /^(\d+\.\d+)\s*-\s*(\d+\.\d+)$/;

/** One minor's entry (its schema, validated where the manifest is loaded: compatibility-schema.ts). */
export interface CompatibilityEntry {
  /** The software's minor, e.g. `"1.16"`. */
  minor: string;
  /** The chart's kubeVersion constraint, a semver range, e.g. `">= 1.21.0-0"`. */
  requires?: string | undefined;
  /** Kubernetes minors e2e tested, inclusive, e.g. `"1.27 - 1.30"`. */
  tested: string;
  /** What the docs say of Kubernetes older than tested. */
  older: 'unsupported' | 'untested';
}

export type CompatibilityTable = readonly CompatibilityEntry[];

/** Whose table it is: the software's name in messages (`Cilium`) and the addon whose manifest holds it. */
export interface Software {
  name: string;
  addon: string;
}

/**
 * The result: `ok` false means do not install (helm or Cilium's docs rule it out); `ok` true with a
 * `reason` means untested (warn); `ok` true alone means tested.
 */
export interface CompatibilityResult {
  ok: boolean;
  reason?: string;
}

type Minor = readonly [number, number];

function minorOf(text: string): Minor | undefined {
  const m = MINOR_RE.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const cmp = (a: Minor, b: Minor): number => a[0] - b[0] || a[1] - b[1];
const show = (m: Minor): string => `${m[0]}.${m[1]}`;

function testedRange(e: CompatibilityEntry): [Minor, Minor] {
  const m = TESTED_RE.exec(e.tested);
  const lo = minorOf(m?.[1] ?? '');
  const hi = minorOf(m?.[2] ?? '');
  if (!lo || !hi) throw new Error(`compatibility entry ${e.minor}: bad tested range "${e.tested}"`);
  return [lo, hi];
}

/** A version's x.y.z (`v1.31.2`, `1.20.15-34+c5e47ad60ec3a0`, `1.8`), or undefined. */
function coerce(version: string): string | undefined {
  return semverCoerce(version)?.version;
}

/** Whether `kubernetesVersion` passes the entry's chart constraint (prerelease builds included, as helm's `-0` ranges intend). */
function meetsChart(e: CompatibilityEntry, k8s: string): boolean {
  return e.requires === undefined || semverSatisfies(k8s, e.requires, { includePrerelease: true });
}

function testedOrBetter(e: CompatibilityEntry, k8s: string, k8sMinor: Minor): boolean {
  const [lo, hi] = testedRange(e);
  return meetsChart(e, k8s) && cmp(k8sMinor, lo) >= 0 && cmp(k8sMinor, hi) <= 0;
}

/** Whether `version` of the software suits Kubernetes `kubernetesVersion`, by the table. */
export function checkCompatibility(table: CompatibilityTable, software: Software, version: string, kubernetesVersion: string): CompatibilityResult {
  const name = software.name;
  const coerced = coerce(version);
  const k8s = coerce(kubernetesVersion);
  if (!coerced) return { ok: false, reason: `"${version}" is not a ${name} version` };
  if (!k8s) return { ok: false, reason: `"${kubernetesVersion}" is not a Kubernetes version` };
  const ownMinor = coerced.split('.').slice(0, 2).join('.');
  const k8sMinor = minorOf(k8s.split('.').slice(0, 2).join('.')) as Minor;
  const entry = table.find((e) => e.minor === ownMinor);
  if (!entry) return { ok: false, reason: `${name} ${ownMinor} is not in the compatibility table; add it to addons/${software.addon}/manifest.yaml` };

  const alternative = (): string => {
    const better = [...table]
      .filter((e) => testedOrBetter(e, k8s, k8sMinor))
      .sort((a, b) => cmp(minorOf(b.minor) as Minor, minorOf(a.minor) as Minor))[0];
    return better ? `${name} ${better.minor} is tested with Kubernetes ${show(k8sMinor)}` : `no bundled ${name} is tested with Kubernetes ${show(k8sMinor)}`;
  };

  if (!meetsChart(entry, k8s)) {
    return { ok: false, reason: `the ${name} ${ownMinor} chart requires Kubernetes ${entry.requires} and this cluster runs ${k8s}; ${alternative()}` };
  }
  const [lo, hi] = testedRange(entry);
  if (cmp(k8sMinor, lo) < 0) {
    const tail = `${name} ${ownMinor} is tested with Kubernetes ${show(lo)} - ${show(hi)}, and ${show(k8sMinor)} is older`;
    if (entry.older === 'unsupported') return { ok: false, reason: `${tail}, which its documentation does not support; ${alternative()}` };
    return { ok: true, reason: `${tail}: it depends on Kubernetes' compatibility (untested); ${alternative()}` };
  }
  if (cmp(k8sMinor, hi) > 0) {
    return { ok: true, reason: `${name} ${ownMinor} is tested with Kubernetes ${show(lo)} - ${show(hi)}, and ${show(k8sMinor)} is newer: it depends on Kubernetes' backward compatibility (untested); ${alternative()}` };
  }
  return { ok: true };
}
