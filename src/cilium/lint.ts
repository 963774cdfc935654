/**
 * The values lint: every key path that mk8s-addons' templates or the user set and that the chosen chart
 * does not know is reported, because Helm silently ignores such keys (the classic case: `global.*` keys,
 * right for the 1.8 umbrella chart, ignored by every flat chart from 1.9).
 *
 * What a chart knows, read from its package (see chart-archive.ts for why not `helm show values`):
 * - every key of its values.yaml; a `{}` or null default is a free-form map (podAnnotations,
 *   nodeSelector, extraConfig) that accepts any sub-key; lists are values as a whole;
 * - for an umbrella chart (1.8), each subchart's values.yaml under the subchart's key (agent, config,
 *   operator, hubble-relay, ...), its own `global:` under `global`;
 * - every `.Values.a.b` its templates read (values.yaml only mentions some keys in comments:
 *   kubeProxyReplacement from 1.10, hubble.listenAddress in 1.9.0, config.ipam in 1.8); a subchart's
 *   `.Values.x` is `<subchart>.x` and its `.Values.global.x` is `global.x`;
 * - anything a template hands on whole (`toYaml .Values.x`, `range $k, $v := .Values.x`,
 *   `with .Values.x` + `toYaml .`) is free-form too;
 * - the conditions of the chart's dependencies.
 */
import path from 'node:path';
import yaml from 'js-yaml';
import { UsageError } from '../errors.js';
import { codeOf, digestOf, readDerived, writeDerived } from '../adapters/derived-cache.js';
import { chartFilesFromTgz, readChartArchive, type ChartFiles } from './chart-archive.js';
import { printableKey } from '../input.js';
import { formatPath, isTable, parseUserSet, parseValuesYaml, valuePaths, type HelmValues, type UserValues } from './helm-values.js';

type KeyNode = MapNode | { kind: 'free' } | { kind: 'leaf' };
interface MapNode {
  kind: 'map';
  children: Map<string, KeyNode>;
}

/** The keys a chart knows. */
export interface ChartKeys {
  /** e.g. `cilium 1.9.18`. */
  label: string;
  /** An umbrella chart (subcharts under charts/), like Cilium 1.8. */
  umbrella: boolean;
  root: MapNode;
}

/** Where a value came from: mk8s-addons' own values template, or one of the user's flags. */
export type ValuesSource = 'template' | '--set' | '--set-string' | `-f ${string}`;

export interface ValuesLayer {
  source: ValuesSource;
  values: HelmValues;
}

export interface LintFinding {
  /** The key path as --set writes it, e.g. `global.hubble.enabled`. */
  path: string;
  source: ValuesSource;
  /** One line: what is wrong and what to do instead. */
  message: string;
}

const newMap = (): MapNode => ({ kind: 'map', children: new Map() });

function addValues(node: MapNode, values: HelmValues): void {
  for (const [k, v] of Object.entries(values)) {
    const existing = node.children.get(k);
    if (existing?.kind === 'free') continue;
    if (isTable(v) && Object.keys(v).length > 0) {
      const child = existing?.kind === 'map' ? existing : newMap();
      node.children.set(k, child);
      addValues(child, v);
    } else if (v === null || isTable(v)) {
      node.children.set(k, { kind: 'free' });
    } else if (!existing) {
      node.children.set(k, { kind: 'leaf' });
    }
  }
}

/** Makes `keys` known; `free`: anything below it too. */
function addPath(root: MapNode, keys: readonly string[], free: boolean): void {
  let node: MapNode = root;
  for (const [i, k] of keys.entries()) {
    const last = i === keys.length - 1;
    const existing = node.children.get(k);
    if (existing?.kind === 'free') return;
    if (last) {
      if (free || !existing) node.children.set(k, { kind: 'free' });
      return;
    }
    if (existing?.kind === 'map') {
      node = existing;
    } else {
      // A template reads below a scalar default (or a key values.yaml lacks): the key may be a map.
      const child = newMap();
      node.children.set(k, child);
      node = child;
    }
  }
}

const KEY = String.raw`[A-Za-z_][A-Za-z0-9_]*`;
const VALUES_PATH = String.raw`\$?[A-Za-z_]*\.Values((?:\.${KEY})+)`;
const READ = new RegExp(String.raw`\.Values((?:\.${KEY})+)`, 'g');
const INDEX_READ = new RegExp(String.raw`index\s+\(?\s*\$?[A-Za-z_]*\.Values((?:\.${KEY})*)((?:\s+"[^"]*")+)`, 'g');
const HASKEY_READ = new RegExp(String.raw`hasKey\s+\$?[A-Za-z_]*\.Values((?:\.${KEY})*)\s+"([^"]+)"`, 'g');
const FREE_FORMS = [
  new RegExp(String.raw`(?:toYaml|toJson|toPrettyJson|toRawJson)\s+\(?\s*${VALUES_PATH}\s*\)?\s*[|})]`, 'g'),
  new RegExp(String.raw`${VALUES_PATH}\s*\|\s*(?:toYaml|toJson|toPrettyJson|toRawJson)\b`, 'g'),
  new RegExp(String.raw`range\s+(?:\$${KEY}\s*,\s*)?\$${KEY}\s*:=\s*\(?\s*${VALUES_PATH}`, 'g'),
];
const WITH_BLOCK = new RegExp(String.raw`\{\{-?\s*with\s+${VALUES_PATH}\s*-?\}\}([\s\S]*?)\{\{-?\s*end\b`, 'g');
const DOT_WHOLE = /(?:toYaml|toJson|toPrettyJson|toRawJson)\s+\.(?![\w.])|\{\{-?\s*\.\s*\|\s*(?:toYaml|toJson|toPrettyJson|toRawJson)\b/;

const splitPath = (dotted: string): string[] => dotted.split('.').filter(Boolean);

const COMMENT = /\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g;
/** `{{ if COND }}` whose body starts with `{{ fail ... }}`: COND checks for a removed or invalid key. */
const GUARD = /(\{\{-?\s*(?:else\s+)?if\s)((?:(?!\}\})[\s\S])*)(-?\}\}\s*\{\{-?\s*fail\b)/g;

/**
 * The key paths a template reads and the ones it hands on whole. Reads that only guard a `fail`
 * (`{{ if .Values.tunnel }}{{ fail "tunnel was removed" }}`) do not count: they are how a chart
 * rejects a removed key, and the lint should name such a key before helm fails on it.
 */
export function templateReads(template: string): { reads: string[][]; free: string[][] } {
  const text = template.replace(COMMENT, '').replace(GUARD, (_, open: string, cond: string, close: string) => `${open}${' '.repeat(cond.length)}${close}`);
  const reads: string[][] = [];
  const free: string[][] = [];
  for (const m of text.matchAll(READ)) reads.push(splitPath(m[1] ?? ''));
  for (const m of text.matchAll(INDEX_READ)) {
    reads.push([...splitPath(m[1] ?? ''), ...[...(m[2] ?? '').matchAll(/"([^"]*)"/g)].map((q) => q[1] ?? '')]);
  }
  for (const m of text.matchAll(HASKEY_READ)) reads.push([...splitPath(m[1] ?? ''), m[2] ?? '']);
  for (const re of FREE_FORMS) for (const m of text.matchAll(re)) free.push(splitPath(m[1] ?? ''));
  for (const m of text.matchAll(WITH_BLOCK)) if (DOT_WHOLE.test(m[2] ?? '')) free.push(splitPath(m[1] ?? ''));
  return { reads: reads.filter((p) => p.length > 0), free: free.filter((p) => p.length > 0) };
}

function loadYaml(files: ChartFiles, name: string): unknown {
  const buf = files.get(name);
  return buf === undefined ? undefined : yaml.load(buf.toString('utf8'));
}

interface Dependency {
  name: string;
  alias?: string;
  condition?: string;
}

/** The keys a packaged chart knows (pure: takes the chart's files). */
export function chartKeysFromFiles(files: ChartFiles): ChartKeys {
  const meta = (loadYaml(files, 'Chart.yaml') ?? {}) as { name?: string; version?: string; dependencies?: Dependency[] };
  const requirements = (loadYaml(files, 'requirements.yaml') ?? {}) as { dependencies?: Dependency[] };
  const dependencies = [...(meta.dependencies ?? []), ...(requirements.dependencies ?? [])];
  const root = newMap();
  const values = (name: string) => {
    const buf = files.get(name);
    return buf === undefined ? {} : parseValuesYaml(buf.toString('utf8'), name);
  };

  addValues(root, values('values.yaml'));
  const subcharts = new Set<string>();
  for (const name of files.keys()) {
    const m = /^charts\/([^/]+)\//.exec(name);
    if (m?.[1]) subcharts.add(m[1]);
  }
  for (const sub of subcharts) {
    const key = dependencies.find((d) => d.name === sub)?.alias ?? sub;
    const { global, ...own } = values(`charts/${sub}/values.yaml`);
    addValues(root, { [key]: own });
    if (isTable(global)) addValues(root, { global });
  }

  for (const [name, buf] of files) {
    const sub = /^charts\/([^/]+)\/templates\//.exec(name)?.[1];
    if (sub === undefined && !name.startsWith('templates/')) continue;
    const prefix = (keys: string[]): string[] => {
      if (sub === undefined || keys[0] === 'global') return keys;
      return [dependencies.find((d) => d.name === sub)?.alias ?? sub, ...keys];
    };
    const { reads, free } = templateReads(buf.toString('utf8'));
    for (const p of reads) addPath(root, prefix(p), false);
    for (const p of free) addPath(root, prefix(p), true);
  }
  // A condition is a comma-separated list of value paths (not an expression: 1.8's
  // "global.prometheus.enabled && ..." names no path, so helm ignores it).
  for (const d of dependencies) {
    for (const condition of (d.condition ?? '').split(',')) {
      if (/^[\w.-]+$/.test(condition.trim())) addPath(root, splitPath(condition.trim()), false);
    }
  }

  return { label: `${meta.name ?? 'chart'} ${meta.version ?? ''}`.trim(), umbrella: subcharts.size > 0, root };
}

/** ChartKeys as JSON: a map is a list of [key, node] pairs, a free-form map `1`, a leaf `0`. */
type KeyJson = [string, KeyJson][] | 0 | 1;
interface ChartKeysJson {
  label: string;
  umbrella: boolean;
  root: KeyJson;
}

const nodeToJson = (node: KeyNode): KeyJson => (node.kind === 'map' ? [...node.children].map(([k, c]) => [k, nodeToJson(c)]) : node.kind === 'free' ? 1 : 0);
const nodeFromJson = (json: KeyJson): KeyNode =>
  Array.isArray(json) ? { kind: 'map', children: new Map(json.map(([k, c]) => [k, nodeFromJson(c)])) } : json === 1 ? { kind: 'free' } : { kind: 'leaf' };

/** The keys as JSON, for the derived cache (see loadChartKeys). */
export function chartKeysToJson(keys: ChartKeys): ChartKeysJson {
  return { label: keys.label, umbrella: keys.umbrella, root: nodeToJson(keys.root) };
}

export function chartKeysFromJson(json: ChartKeysJson): ChartKeys {
  const root = nodeFromJson(json.root);
  if (root.kind !== 'map') throw new Error('chart keys: the root must be a map');
  return { label: json.label, umbrella: json.umbrella, root };
}

const keysCache = new Map<string, Promise<ChartKeys>>();

/**
 * The keys of a packaged chart, read once per process, and kept in the derived cache (dist/) under the
 * digest of the chart's exact bytes and of the code that reads them: the next run reads a small JSON
 * file instead of unpacking the chart and scanning every template.
 */
export function loadChartKeys(chartPath: string): Promise<ChartKeys> {
  let keys = keysCache.get(chartPath);
  if (!keys) {
    keys = readChartArchive(chartPath).then((tgz) => {
      const name = `chart-keys-${path.basename(chartPath)}`;
      const key = digestOf([tgz, ...codeOf(import.meta.url, new URL('./chart-archive.js', import.meta.url).href, new URL('./helm-values.js', import.meta.url).href)]);
      const cached = readDerived<ChartKeysJson>(name, key);
      if (cached) {
        try {
          return chartKeysFromJson(cached);
        } catch {
          // Not what this code writes: derive it again (and overwrite it).
        }
      }
      const fresh = chartKeysFromFiles(chartFilesFromTgz(tgz));
      writeDerived(name, key, chartKeysToJson(fresh));
      return fresh;
    });
    keys.catch(() => keysCache.delete(chartPath));
    keysCache.set(chartPath, keys);
  }
  return keys;
}

/** Whether the chart knows a key path. */
export function isKnownPath(keys: ChartKeys, path: readonly string[]): boolean {
  let node: KeyNode = keys.root;
  for (const k of path) {
    if (node.kind === 'free') return true;
    if (node.kind === 'leaf') return false;
    const child: KeyNode | undefined = node.children.get(k);
    if (!child) return false;
    node = child;
  }
  return true;
}

function hint(keys: ChartKeys, path: readonly string[]): string {
  if (!keys.umbrella && path[0] === 'global' && path.length > 1 && isKnownPath(keys, path.slice(1))) {
    return `this chart is flat (global.* is the 1.8 layout): use ${formatPath(path.slice(1))}`;
  }
  if (keys.umbrella && path[0] !== 'global' && isKnownPath(keys, ['global', ...path])) {
    return `shared settings of this chart live under global: use ${formatPath(['global', ...path])}`;
  }
  return `check the key against the chart's values (helm show values)`;
}

/** Every key path of the layers that the chart does not know (one finding per path and source). */
export function lintValues(keys: ChartKeys, layers: readonly ValuesLayer[]): LintFinding[] {
  const findings: LintFinding[] = [];
  const seen = new Set<string>();
  for (const layer of layers) {
    for (const p of valuePaths(layer.values)) {
      if (isKnownPath(keys, p)) continue;
      // Keys are named, never echoed when they do not look like keys (they may be a file's secrets).
      const path = formatPath(p.map(printableKey));
      const id = `${layer.source}\0${path}`;
      if (seen.has(id)) continue;
      seen.add(id);
      findings.push({
        path,
        source: layer.source,
        message: `${path} (from ${layer.source}) is not a value of chart ${keys.label}, so Helm would ignore it; ${hint(keys, p)}`,
      });
    }
  }
  return findings;
}

/** The user's values as lint layers, one per -f file and per --set / --set-string flag. */
export function userValuesLayers(user: UserValues): ValuesLayer[] {
  const layers: ValuesLayer[] = [];
  for (const f of user.files ?? []) {
    const source: ValuesSource = `-f ${f.path}`;
    layers.push({ source, values: parseValuesYaml(f.text, source) });
  }
  for (const [flag, lines, forceString] of [
    ['--set', user.set ?? [], false],
    ['--set-string', user.setString ?? [], true],
  ] as const) {
    for (const line of lines) {
      const values: HelmValues = {};
      parseUserSet(line, values, flag, forceString);
      layers.push({ source: flag, values });
    }
  }
  return layers;
}

/**
 * Lints the values; with `strict`, any finding is a UsageError (nothing has been changed yet), else the
 * findings are returned for the caller to print as warnings.
 */
export function checkValues(keys: ChartKeys, layers: readonly ValuesLayer[], opts: { strict: boolean }): LintFinding[] {
  const findings = lintValues(keys, layers);
  if (opts.strict && findings.length > 0) {
    const list = findings.map((f) => `${f.path} (${f.source})`).join(', ');
    throw new UsageError(
      `chart ${keys.label} has no value${findings.length === 1 ? '' : 's'} ${list}, so Helm would ignore ${findings.length === 1 ? 'it' : 'them'}; ${findings.length === 1 ? hint(keys, splitEscaped(findings[0]?.path ?? '')) : 'use the key layout of this chart version (helm show values)'}`,
    );
  }
  return findings;
}

/** Splits a path written with `\.` escapes back into keys. */
function splitEscaped(path: string): string[] {
  const keys: string[] = [];
  let current = '';
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === '\\' && i + 1 < path.length) current += path[++i];
    else if (c === '.') {
      keys.push(current);
      current = '';
    } else current += c;
  }
  keys.push(current);
  return keys;
}
