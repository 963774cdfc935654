/**
 * The tests' data-only Helm addon (test/fixtures/chart-addons/lbdemo), made ready as a user would
 * (docs/ADDING-AN-ADDON.md): its chart sources (test/fixtures/charts/lbdemo-*) packaged with the real
 * `helm package` into a mirror folder, each pin's sha256 written into a copy of the manifest (helm package
 * stamps the time, so the bytes differ on every run), then `node scripts/fetch-charts.mjs --addons DIR`
 * puts the pinned charts into DIR/lbdemo/charts/. Everything lives in one temporary folder.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runChecked } from '../../src/adapters/process.js';
import { ROOT } from './cli.js';

export const HELM = path.join(ROOT, 'vendor', 'bin', 'helm');
const FIXTURES = path.join(ROOT, 'test', 'fixtures');

export interface ChartAddonFolder {
  /** The temporary folder (removed by `remove`). */
  root: string;
  /** The addons folder to name in MK8S_ADDONS_EXTRA_ADDONS. */
  addons: string;
  /** The sha256 of each packaged lbdemo chart, by version. */
  pins: Record<string, string>;
  remove(): void;
}

export async function prepareChartAddons(): Promise<ChartAddonFolder> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-chart-addon-'));
  const addons = path.join(root, 'addons');
  const mirror = path.join(root, 'mirror');
  cpSync(path.join(FIXTURES, 'chart-addons'), addons, { recursive: true });
  const pins: Record<string, string> = {};
  for (const source of readdirSync(path.join(FIXTURES, 'charts')).filter((n) => n.startsWith('lbdemo-')).sort()) {
    await runChecked([HELM, ['package', path.join(FIXTURES, 'charts', source), '--destination', mirror]]);
    const version = source.slice('lbdemo-'.length);
    pins[version] = createHash('sha256').update(readFileSync(path.join(mirror, `lbdemo-${version}.tgz`))).digest('hex');
  }
  const manifest = path.join(addons, 'lbdemo', 'manifest.yaml');
  let text = readFileSync(manifest, 'utf8');
  for (const [version, sha] of Object.entries(pins)) {
    const marker = `{ version: ${version}, sha256: PACKAGED-BY-TEST-SETUP }`;
    if (!text.includes(marker)) throw new Error(`${manifest} has no pin line ${marker}`);
    text = text.replace(marker, `{ version: ${version}, sha256: ${sha} }`);
  }
  writeFileSync(manifest, text);
  await runChecked([process.execPath, [path.join(ROOT, 'scripts', 'fetch-charts.mjs'), '--addons', addons]], { env: { ...process.env, MK8S_ADDONS_CHART_MIRROR: mirror } });
  return { root, addons, pins, remove: () => rmSync(root, { recursive: true, force: true }) };
}
