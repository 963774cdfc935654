#!/usr/bin/env node
// Fills charts/<chart>/ (git-ignored) with every chart version pinned in addons/*/manifest.yaml, each
// checked against its sha256. Source: a local mirror folder (env MK8S_ADDONS_CHART_MIRROR, default
// ../shared/charts/<chart> beside the package), else the addon's chart repository (its manifest's
// `versions.repository`, e.g. https://helm.cilium.io for cilium). A missing or mismatching chart is an
// error that names the version. Idempotent. Writes charts/<chart>/SHA256SUMS (`sha256sum -c` format, the
// pins) beside them: the npm package and the snap carry it.
//
// `--addons DIR`: the same for the addons of another folder (MK8S_ADDONS_EXTRA_ADDONS), each addon's
// charts into DIR/<addon>/charts/, where mk8s-addons looks for them (docs/ADDING-AN-ADDON.md).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const addonsAt = args.indexOf('--addons');
if ((addonsAt !== -1 && !args[addonsAt + 1]) || args.length !== (addonsAt === -1 ? 0 : 2)) {
  console.error('usage: node scripts/fetch-charts.mjs [--addons DIR]');
  process.exit(2);
}
const addonsDir = addonsAt === -1 ? path.join(root, 'addons') : path.resolve(args[addonsAt + 1]);
/** Where an addon's pinned charts go: the package's charts/<chart>/, or the other folder's <addon>/charts/. */
const chartsFolder = (dir, chart) => (addonsAt === -1 ? path.join(root, 'charts', chart) : path.join(addonsDir, dir, 'charts'));
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const log = (msg) => console.error(`fetch-charts: ${msg}`);

const failures = [];
let copied = 0;
let present = 0;
for (const dir of readdirSync(addonsDir).sort()) {
  const file = path.join(addonsDir, dir, 'manifest.yaml');
  if (!existsSync(file)) continue;
  const shown = addonsAt === -1 ? path.join('addons', dir, 'manifest.yaml') : file;
  const manifest = yaml.load(readFileSync(file, 'utf8'));
  if (!manifest?.versions) continue;
  const chart = manifest.versions.chart;
  const mirror = process.env.MK8S_ADDONS_CHART_MIRROR || path.resolve(root, '..', 'shared', 'charts', chart);
  const target = chartsFolder(dir, chart);
  const repository = manifest.versions.repository?.replace(/\/+$/, '');
  mkdirSync(target, { recursive: true });
  const sums = manifest.versions.pins.map(({ version, sha256: want }) => `${want}  ${chart}-${version}.tgz\n`).join('');
  writeFileSync(path.join(target, 'SHA256SUMS'), sums);
  for (const { version, sha256: want } of manifest.versions.pins) {
    const name = `${chart}-${version}.tgz`;
    const dest = path.join(target, name);
    if (existsSync(dest) && sha256(readFileSync(dest)) === want) {
      present++;
      continue;
    }
    let data;
    let from;
    if (existsSync(path.join(mirror, name))) {
      data = readFileSync(path.join(mirror, name));
      from = path.join(mirror, name);
    } else if (repository) {
      from = `${repository}/${name}`;
      try {
        const res = await fetch(from, { signal: AbortSignal.timeout(60_000) });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        data = Buffer.from(await res.arrayBuffer());
      } catch (err) {
        failures.push(`${chart} ${version}: not in the mirror ${mirror} and not downloadable from ${from} (${err.cause?.code ?? err.message}); set MK8S_ADDONS_CHART_MIRROR to a folder holding ${name}`);
        continue;
      }
    } else {
      failures.push(`${chart} ${version}: ${name} is not in the mirror ${mirror} and ${shown} names no versions.repository; set MK8S_ADDONS_CHART_MIRROR to a folder holding it`);
      continue;
    }
    const got = sha256(data);
    if (got !== want) {
      failures.push(`${chart} ${version}: sha256 of ${from} is ${got}, but ${shown} pins ${want}; the chart was changed or corrupted`);
      continue;
    }
    const tmp = `${dest}.tmp-${process.pid}`;
    writeFileSync(tmp, data);
    renameSync(tmp, dest);
    copied++;
  }
}
if (failures.length) {
  for (const f of failures) log(`error: ${f}`);
  process.exit(1);
}
log(`${copied} chart(s) copied, ${present} already present, all sha256 checked`);
