/**
 * What an addon with pinned charts needs besides its manifest, computed from the manifest alone, so that
 * a Helm-chart addon is only data (docs/ADDING-AN-ADDON.md): the placeholders `${version}` (the resolved
 * version), `${chart}` (the pinned chart file for it), `${helm}` (the helm binary), `${release.name}` and
 * `${release.namespace}` (the manifest's `release`) and `${values}` (the manifest's values template for
 * the version, its placeholders filled in, with the arguments' `value`s set on top). Only the
 * placeholders an addon's steps use are computed.
 */
import path from 'node:path';
import semverSatisfies from 'semver/functions/satisfies.js';
import type { AddonManifest } from '../catalogue.js';
import type { PlannedAddon } from '../planner.js';
import type { SnapPaths } from '../node/node.js';
import { substitute, usedPlaceholders, type ChartScope, type Scope } from '../engine/placeholders.js';
import { exists, readText } from '../adapters/fs.js';
import { packagePath } from '../adapters/package-files.js';
import { resolveTool } from '../adapters/tools.js';
import { PreconditionError } from '../errors.js';

/** Sets `value` at a dot path (`pool.addresses`), making the objects on the way. */
export function setValuePath(values: Record<string, unknown>, dotPath: string, value: unknown): void {
  const keys = dotPath.split('.');
  let at = values;
  for (const key of keys.slice(0, -1)) {
    const next = at[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys.at(-1) as string] = value;
}

/**
 * The pinned chart file of `chart` at `version`: the package's charts/<chart>/ for the package's own
 * addons (npm ci fills it), else charts/ in the addon's own folder (`node scripts/fetch-charts.mjs
 * --addons DIR` fills it). Checked to exist.
 */
export async function pinnedChart(chart: string, folder: string | undefined, version: string): Promise<string> {
  const name = `${chart}-${version}.tgz`;
  const own = folder !== undefined && path.dirname(folder) !== packagePath('addons');
  const file = own ? path.join(folder, 'charts', name) : packagePath('charts', chart, name);
  if (!(await exists(file))) {
    const fetch = own ? `node scripts/fetch-charts.mjs --addons ${path.dirname(folder)}` : 'node scripts/fetch-charts.mjs';
    throw new PreconditionError(`the pinned chart ${file} is missing; run "${fetch}"${own ? '' : ' (npm ci runs it)'}`);
  }
  return file;
}

/** The manifest's values template for `version` (the first entry whose range holds it), placeholders filled, arguments set. */
async function chartValues(manifest: AddonManifest, folder: string | undefined, addon: PlannedAddon, scope: Scope): Promise<Record<string, unknown>> {
  const entry = (manifest.values ?? []).find((e) => e.versions === undefined || addon.version === null || semverSatisfies(addon.version, e.versions));
  let values: Record<string, unknown> = {};
  if (entry) {
    const file = path.join(folder ?? packagePath('addons', manifest.name), entry.file);
    const text = await readText(file);
    if (text === undefined) throw new PreconditionError(`the values template ${file} of ${manifest.name} is missing; reinstall the addon's folder`);
    const { default: yaml } = await import('js-yaml');
    let data: unknown;
    try {
      data = yaml.load(text, { filename: file });
    } catch (err) {
      throw new PreconditionError(`the values template ${file} of ${manifest.name} is not YAML: ${(err as Error).message.split('\n')[0]}; fix the addon's folder`);
    }
    if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data))) {
      throw new PreconditionError(`the values template ${file} of ${manifest.name} must be a mapping of chart values; fix the addon's folder`);
    }
    values = substitute(data ?? {}, scope, `${manifest.name} values ${entry.file}`) as Record<string, unknown>;
  }
  for (const a of manifest.arguments) {
    const given = addon.args[a.name];
    if (a.value !== undefined && given !== undefined) setValuePath(values, a.value, given);
  }
  return values;
}

export interface ChartAddonInput {
  addon: PlannedAddon;
  manifest: AddonManifest;
  /** The addon's folder (catalogue.folder). */
  folder: string | undefined;
  paths: SnapPaths;
}

/** The chart placeholders the addon's steps use (none for an addon that uses none). */
export async function chartScope({ addon, manifest, folder, paths }: ChartAddonInput, opts: { files?: boolean } = {}): Promise<ChartScope> {
  // `files: false` (status): what the manifest and the templates say, without the chart file or helm.
  const files = opts.files !== false;
  const used = usedPlaceholders(addon.steps.map((s) => s.params));
  const out: ChartScope = {};
  if (manifest.release) out.release = manifest.release;
  if (manifest.versions && addon.version !== null) out.version = addon.version;
  const [chart, helm] = await Promise.all([
    files && used.has('chart') && manifest.versions && addon.version !== null ? pinnedChart(manifest.versions.chart, folder, addon.version) : undefined,
    files && used.has('helm') ? resolveTool('helm', paths.snap).then((t) => t.path) : undefined,
  ]);
  if (chart !== undefined) out.chart = chart;
  if (helm !== undefined) out.helm = helm;
  if (used.has('values')) {
    const scope: Scope = { SNAP: paths.snap, SNAP_DATA: paths.snapData, SNAP_COMMON: paths.snapCommon, args: addon.args, vars: {}, ...out };
    out.values = await chartValues(manifest, folder, addon, scope);
  }
  return out;
}
