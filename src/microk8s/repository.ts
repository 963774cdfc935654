/**
 * A MicroK8s addons repository (MicroK8s 1.24+) whose hooks run mk8s-addons. Pure: the catalogue and the
 * launcher in, the repository's files out. MicroK8s's contract (scripts/wrappers/common/utils.py):
 *
 * - it reads `$SNAP_COMMON/addons/<repo>/addons.yaml`:
 *   `microk8s-addons: {addons: [{name, description, version, check_status, supported_architectures}]}`;
 * - `microk8s enable NAME:A:B` runs `addons/NAME/enable A B`, `microk8s enable NAME --x y` runs
 *   `enable --x y` (never both); `disable` likewise; the hook's exit code is microk8s's;
 * - `microk8s status` calls an addon enabled when `check_status` is in a line of `kubectl get all,ingress`
 *   or, after `$VAR` expansion, names an existing file. Ours names
 *   `${SNAP_DATA}/var/mk8s-addons/enabled/<name>`, which the journal keeps in step (src/engine/journal.ts).
 */
import yaml from 'js-yaml';
import type { Catalogue } from '../catalogue.js';
import { UsageError } from '../errors.js';
import { NODE_ADDON } from '../cluster/payload.js';

export const DEFAULT_REPOSITORY_NAME = 'mk8s-addons';

/** The file that marks a repository as written by mk8s-addons (MicroK8s ignores it). */
export const OWNER_FILE = '.mk8s-addons-repository.json';

export const MICROK8S_ARCHITECTURES = ['amd64', 'arm64', 's390x', 'ppc64le'] as const;
export type Microk8sArch = (typeof MICROK8S_ARCHITECTURES)[number];

/** Node's process.arch as MicroK8s names it (undefined: an architecture MicroK8s has no snap for). */
export function microk8sArch(nodeArch: string): Microk8sArch | undefined {
  return ({ x64: 'amd64', arm64: 'arm64', s390x: 's390x', ppc64: 'ppc64le' } as Record<string, Microk8sArch>)[nodeArch];
}

/** A repository name MicroK8s can address as `NAME/ADDON`: no `/`, no `:`, not hidden. */
export function checkRepositoryName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new UsageError(`invalid repository name "${name}": use letters, digits, ".", "_" and "-" only (MicroK8s addresses addons as REPOSITORY/ADDON), e.g. --name ${DEFAULT_REPOSITORY_NAME}`);
  }
  return name;
}

/** How a hook starts mk8s-addons: the argv before mk8s-addons's own arguments. */
export type Launcher = readonly string[];

/** Quotes a word for sh (single quotes). */
const sh = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

/** The marker file MicroK8s's status checks for `name` (expanded by MicroK8s in its own environment). */
export const checkStatusFor = (name: string) => `\${SNAP_DATA}/var/mk8s-addons/enabled/${name}`;

export interface RepositoryFiles {
  /** Relative path -> content; hooks are the files under addons/ (mode 0755). */
  files: Record<string, string>;
}

/** The repository for `catalogue`, whose hooks start mk8s-addons with `launcher`. */
export function repositoryFiles(p: { catalogue: Catalogue; launcher: Launcher; arch: Microk8sArch; version: string; name: string }): RepositoryFiles {
  const addons = p.catalogue.addons.map((a) => ({
    name: a.name,
    description: `${a.description} (mk8s-addons)`,
    version: a.versions?.default ?? a.version ?? p.version,
    check_status: checkStatusFor(a.name),
    supported_architectures: [p.arch],
    confinement: 'classic',
  }));
  // Not for users: what another node's fan-out enables through this node's cluster agent (node-local
  // mode, src/cluster/node-local.ts). Its check_status never exists, so MicroK8s always runs it.
  addons.push({
    name: NODE_ADDON,
    description: 'Node steps of an mk8s-addons run on another node of the cluster (run through the cluster agent; not for enabling by hand)',
    version: p.version,
    check_status: checkStatusFor(`${NODE_ADDON}-never`),
    supported_architectures: [p.arch],
    confinement: 'classic',
  });
  const files: Record<string, string> = {
    'addons.yaml': `# Written by mk8s-addons ${p.version} (mk8s-addons microk8s-repo install --name ${p.name}); remove it with\n# mk8s-addons microk8s-repo remove --name ${p.name}.\n${yaml.dump({ 'microk8s-addons': { description: 'Cilium, Hubble, CoreDNS and Helm 3 through mk8s-addons', addons } }, { lineWidth: -1 })}`,
    [OWNER_FILE]: `${JSON.stringify({ writtenBy: 'mk8s-addons', version: p.version, name: p.name, launcher: p.launcher }, null, 2)}\n`,
  };
  for (const name of [...p.catalogue.addons.map((a) => a.name), NODE_ADDON]) {
    for (const action of ['enable', 'disable'] as const) {
      files[`addons/${name}/${action}`] = hookScript({ launcher: p.launcher, action, addon: name, version: p.version });
    }
  }
  return { files };
}

/**
 * A hook: MicroK8s's own paths passed as flags (when mk8s-addons is itself a snap, `snap run` replaces
 * SNAP* with its own), MicroK8s's library path dropped (our node, helm and kubectl need none of it).
 */
export function hookScript(p: { launcher: Launcher; action: 'enable' | 'disable'; addon: string; version: string }): string {
  return `#!/bin/sh
# Written by mk8s-addons ${p.version} (microk8s-repo install). MicroK8s runs this for
# \`microk8s ${p.action} ${p.addon}[:ARG...]\`; it hands over to mk8s-addons with MicroK8s's paths.
unset LD_LIBRARY_PATH
exec ${p.launcher.map(sh).join(' ')} --snap "\${SNAP:-/snap/microk8s/current}" --snap-data "\${SNAP_DATA:-/var/snap/microk8s/current}" --snap-common "\${SNAP_COMMON:-/var/snap/microk8s/common}" microk8s-repo hook ${p.action} ${p.addon} "$@"
`;
}

/**
 * What a hook's arguments mean to mk8s-addons: MicroK8s split `NAME:A:B` at every `:`, so the positional
 * arguments joined with `:` give back exactly what the user wrote; flag-style arguments pass as they are.
 */
export function hookWords(addon: string, args: readonly string[]): string[] {
  if (args.length === 0) return [addon];
  if (args.some((a) => a.startsWith('-'))) return [addon, ...args];
  return [[addon, ...args].join(':')];
}
