/**
 * mk8s-addons' own chart values for Cilium on MicroK8s, rendered from the Handlebars templates under
 * templates/cilium/ (index.yaml picks the template by the chart version's semver range).
 *
 * A template gets values only through the `json` helper, which writes a JSON scalar (valid YAML), so
 * a value can never change the structure of the YAML; the result is read back with Helm's own YAML 1.1
 * rules, so it is exactly what helm would read from the same text.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import semverSatisfies from 'semver/functions/satisfies.js';
import semverValid from 'semver/functions/valid.js';
import { InternalError, PreconditionError, UsageError } from '../errors.js';
import { packagePath } from '../adapters/package-files.js';
import { codeOf, digestOf, readDerived, writeDerived } from '../adapters/derived-cache.js';
import { parseValuesYaml, type HelmValues } from './helm-values.js';

/** MicroK8s's default pod network when args/cni-env does not say (IPv4_CLUSTER_CIDR). */
export const DEFAULT_POD_CIDR = '10.1.0.0/16';

export interface CiliumValuesParams {
  /** The resolved chart version, e.g. `1.8.13`. */
  version: string;
  /** $SNAP_DATA, e.g. `/var/snap/microk8s/current` (absolute). */
  snapData: string;
  /**
   * $SNAP_COMMON, e.g. `/var/snap/microk8s/common` (absolute). Given to the templates; no bundled
   * chart reads containerRuntime.socketPath, so none uses it today.
   */
  snapCommon: string;
  /** The IPv4 pod CIDR (see podCidrFromCniEnv). */
  podCidr: string;
  /** Hubble with its relay (and UI); default: Hubble off. The UI needs the relay, so `ui` turns it on too. */
  hubble?: { relay: boolean; ui: boolean };
}

/** One entry of templates/cilium/index.yaml. */
export interface ValuesTemplateEntry {
  /** Semver range of chart versions. */
  versions: string;
  /** File name under templates/cilium/. */
  template: string;
}

/** The template for a chart version: the first entry whose range contains it. */
export function valuesTemplateFor(index: readonly ValuesTemplateEntry[], version: string): ValuesTemplateEntry | undefined {
  return index.find((e) => semverSatisfies(version, e.versions));
}

const TEMPLATE_DIR = packagePath('templates', 'cilium');

let indexCache: Promise<ValuesTemplateEntry[]> | undefined;

/** templates/cilium/index.yaml, checked. */
export function loadValuesTemplateIndex(): Promise<ValuesTemplateEntry[]> {
  indexCache ??= readFile(path.join(TEMPLATE_DIR, 'index.yaml'), 'utf8').then((text) => {
    const data = yaml.load(text);
    const ok =
      Array.isArray(data) &&
      data.every((e: unknown) => typeof e === 'object' && e !== null && typeof (e as ValuesTemplateEntry).versions === 'string' && typeof (e as ValuesTemplateEntry).template === 'string');
    if (!ok) throw new InternalError('templates/cilium/index.yaml must be a list of { versions, template }');
    return data as ValuesTemplateEntry[];
  });
  return indexCache;
}

type Render = (data: object) => string;
const compiled = new Map<string, Promise<Render>>();

async function compile(file: string, version: string, source: string): Promise<Render> {
  const Handlebars = (await import('handlebars')).default;
  const hb = Handlebars.create();
  hb.registerHelper('json', (value: unknown) => {
    if (value === undefined) throw new InternalError(`templates/cilium/${file}: json of an undefined value`);
    return new hb.SafeString(JSON.stringify(value));
  });
  hb.registerHelper('join', (...args: unknown[]) => {
    const parts = args.slice(0, -1); // the last argument is Handlebars' options
    if (parts.some((a) => a === undefined)) throw new InternalError(`templates/cilium/${file}: join of an undefined value`);
    return parts.map(String).join('');
  });
  hb.registerHelper('ifVersion', function (this: unknown, range: string, options: Handlebars.HelperOptions) {
    return semverSatisfies(version, range) ? options.fn(this) : options.inverse(this);
  });
  // strict: a missing name is an error (helper arguments are not checked by it, hence the helpers' own checks);
  // knownHelpersOnly: a misspelt helper is a compile error.
  return hb.compile(source, { strict: true, knownHelpersOnly: true, knownHelpers: { json: true, join: true, ifVersion: true } });
}

/**
 * Renders a values template to YAML text (exported for tests and for `--dry-run` output). The text is
 * kept in the derived cache (dist/) under the digest of the template's bytes, the version, the data and
 * this module's code, so a run with the same inputs as the last one loads no template engine.
 */
export async function renderValuesTemplate(file: string, version: string, data: object): Promise<string> {
  const source = await readFile(path.join(TEMPLATE_DIR, file), 'utf8');
  const name = `cilium-values-${file}-${version}`;
  const key = digestOf([source, version, JSON.stringify(data), ...codeOf(import.meta.url)]);
  const cached = readDerived<unknown>(name, key);
  if (typeof cached === 'string') return cached;
  const ckey = `${file}\0${version}\0${source}`;
  let render = compiled.get(ckey);
  if (!render) {
    render = compile(file, version, source);
    compiled.set(ckey, render);
  }
  const text = (await render)(data);
  writeDerived(name, key, text);
  return text;
}

function absolute(name: string, value: string): string {
  if (!path.posix.isAbsolute(value)) {
    throw new PreconditionError(`${name} is "${value}", not an absolute path: point it at the MicroK8s directory, e.g. /var/snap/microk8s/${name === 'SNAP_DATA' ? 'current' : 'common'}`);
  }
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}

/** mk8s-addons' values for the Cilium chart of `version` on a MicroK8s node. */
export async function ciliumValues(p: CiliumValuesParams): Promise<HelmValues> {
  const version = semverValid(p.version);
  if (!version) throw new UsageError(`"${p.version}" is not a Cilium version; give one such as 1.16.19`);
  const index = await loadValuesTemplateIndex();
  const entry = valuesTemplateFor(index, version);
  if (!entry) {
    throw new UsageError(`no values template for Cilium ${version} in templates/cilium/index.yaml; choose a bundled version (${index.map((e) => e.versions).join(', ')})`);
  }
  const relay = (p.hubble?.relay ?? false) || (p.hubble?.ui ?? false);
  const data = {
    snapData: absolute('SNAP_DATA', p.snapData),
    snapCommon: absolute('SNAP_COMMON', p.snapCommon),
    podCidr: checkPodCidr(p.podCidr, 'the pod CIDR'),
    hubble: { enabled: p.hubble !== undefined, relay, ui: p.hubble?.ui ?? false },
  };
  const text = await renderValuesTemplate(entry.template, version, data);
  return parseValuesYaml(text, `templates/cilium/${entry.template}`);
}

/** An IPv4 CIDR with octets and prefix in range, or a PreconditionError naming where it came from. */
export function checkPodCidr(cidr: string, from: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const ok = m !== null && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
  if (!ok) throw new PreconditionError(`${from} "${cidr}" is not an IPv4 CIDR such as ${DEFAULT_POD_CIDR}; fix it`);
  return cidr;
}

/**
 * The pod CIDR from the text of $SNAP_DATA/args/cni-env (`IPv4_CLUSTER_CIDR=10.1.0.0/16`, as the
 * MicroK8s community addon reads it), or the default when the file or the line is missing.
 */
export function podCidrFromCniEnv(text: string | undefined): string {
  let cidr: string | undefined;
  for (const line of (text ?? '').split('\n')) {
    const m = /^\s*(?:export\s+)?IPv4_CLUSTER_CIDR\s*=\s*(.*?)\s*$/.exec(line);
    if (m) cidr = (m[1] ?? '').replace(/^(["'])(.*)\1$/, '$2');
  }
  if (cidr === undefined || cidr === '') return DEFAULT_POD_CIDR;
  return checkPodCidr(cidr, 'IPv4_CLUSTER_CIDR in args/cni-env');
}
