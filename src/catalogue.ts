/**
 * The addon catalogue: one manifest per addon (addons/NAME/manifest.yaml), validated when loaded.
 * Pure: takes already-parsed manifest data; reading the files is src/adapters/catalogue-files.ts.
 */
import type { AddonManifest } from './catalogue-schema.js';
import compareVersions from 'semver/functions/compare.js';
import { CatalogueError } from './errors.js';

/** Step kinds the engine knows how to check, apply and undo. */
export const STEP_KINDS = [
  'file', // atomic write of a file, previous content kept for undo
  'args-flag', // a --flag=value line in $SNAP_DATA/args/<service>
  'lock', // $SNAP_DATA/var/lock/<name>
  'rename', // set a file aside and back
  'service', // start / stop / restart a MicroK8s service
  'process', // an external command given as a [file, args] tuple
  'link', // network links (vxlan clean-up)
  'kube-apply', // server-side apply / delete of objects
  'kube-configmap', // read-modify-replace of a ConfigMap
  'kube-wait', // wait for a rollout or for pods to go
  'kube-restart-pods', // restart pods not managed by the new CNI
  'helm-release', // helm upgrade --install / uninstall / rollback
  'pod-file', // a program copied out of a running pod's image (exec tar, as kubectl cp)
  'node-fanout', // node steps on a cluster's other nodes, through their cluster agents (made by src/cluster/fan-out.ts, never by a manifest)
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** One entry per step kind (params schema, status check): a kind added without its entry does not compile. */
export type KindTable<T> = { readonly [K in StepKind]: T };

export type { AddonArgument, AddonOption, ChartPin, StepSpec, AddonManifest } from './catalogue-schema.js';

export interface Catalogue {
  /** Addons in catalogue order (sorted by name). */
  readonly addons: readonly AddonManifest[];
  get(name: string): AddonManifest | undefined;
  /** The folder an addon was loaded from (its manifest, values templates and, outside the package, pinned charts). */
  folder(name: string): string | undefined;
}

/** One validated manifest: `file` names it in errors, `dir` is its folder (absent for in-memory catalogues). */
export interface CatalogueEntry {
  file: string;
  manifest: AddonManifest;
  dir?: string;
}

/** Compares plain x.y.z versions (pins are validated as such), oldest first: semver's order. */
export { compareVersions };

/** The pinned versions of an addon, oldest first. */
export function pinnedVersions(addon: AddonManifest): string[] {
  return (addon.versions?.pins ?? []).map((p) => p.version).sort(compareVersions);
}

/** Builds the catalogue and checks references between manifests (requires, conflicts). */
export function buildCatalogue(entries: readonly CatalogueEntry[]): Catalogue {
  const byName = new Map<string, AddonManifest>();
  const folders = new Map<string, string>();
  for (const { file, manifest, dir } of entries) {
    if (byName.has(manifest.name)) throw new CatalogueError(`invalid addon manifest ${file}: field name: addon "${manifest.name}" is defined twice`);
    byName.set(manifest.name, manifest);
    if (dir !== undefined) folders.set(manifest.name, dir);
  }
  for (const { file, manifest } of entries) {
    for (const field of ['requires', 'conflicts'] as const) {
      for (const [i, dep] of manifest[field].entries()) {
        if (!byName.has(dep)) throw new CatalogueError(`invalid addon manifest ${file}: field ${field}.${i}: no addon named "${dep}" in the catalogue`);
        if (dep === manifest.name) throw new CatalogueError(`invalid addon manifest ${file}: field ${field}.${i}: an addon cannot name itself`);
      }
    }
  }
  // A dependency cycle would make the plan order undefined.
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (name: string, trail: string[]): void => {
    if (done.has(name)) return;
    if (visiting.has(name)) throw new CatalogueError(`addon catalogue: dependency cycle ${[...trail, name].join(' -> ')}`);
    visiting.add(name);
    for (const dep of byName.get(name)?.requires ?? []) visit(dep, [...trail, name]);
    visiting.delete(name);
    done.add(name);
  };
  for (const name of byName.keys()) visit(name, []);
  const addons = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); // not localeCompare: ICU's collator costs ms at start-up
  return { addons, get: (name) => byName.get(name), folder: (name) => folders.get(name) };
}
