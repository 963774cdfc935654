#!/usr/bin/env node
// `npm run package`: the npm package, self-contained, in the project root as mk8s-addons-<version>.tgz.
//
// The tarball carries everything the commands need at run time, so that `npm install -g --offline ./tgz`
// works with no network and no install script: the compiled CLI (no tests, no source maps), the catalogue,
// templates, schemas, the pinned charts with their SHA256SUMS, helm and kubectl brotli-compressed with
// their SHA256SUMS (src/adapters/tools.ts unpacks them on first use), and the runtime dependencies as
// bundleDependencies, pruned of type declarations, source maps and docs.
//
// It is assembled in a staging folder (the runtime dependencies installed there from package-lock.json
// with `npm ci --omit=dev`, then pruned) and packed there with `npm pack`: a plain `npm pack` in the
// checkout would bundle the development node_modules, so the `prepack` script refuses it (--refuse).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants } from 'node:zlib';
import yaml from 'js-yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (msg) => console.error(`package: ${msg}`);
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

if (process.argv.includes('--refuse')) {
  console.error(`mk8s-addons: a plain "npm pack" here would bundle the development node_modules; run "npm run package" (writes ${pkg.name}-${pkg.version}.tgz here)`);
  process.exit(1);
}

const run = (file, args, cwd = root) => execFileSync(file, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// 1. What the package is made of, built and fetched as in a checkout (each step is idempotent).
run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json']);
run(process.execPath, ['scripts/bundle.mjs']);
run(process.execPath, ['scripts/fetch-charts.mjs']);
run(process.execPath, ['scripts/fetch-tools.mjs']);

// 2. helm and kubectl compressed (brotli, which node unpacks without any library), cached by content.
const toolsDir = path.join(root, 'vendor', 'tools');
mkdirSync(toolsDir, { recursive: true });
const previous = existsSync(path.join(toolsDir, 'SHA256SUMS')) ? readFileSync(path.join(toolsDir, 'SHA256SUMS'), 'utf8') : '';
const sums = [];
await Promise.all(
  ['helm', 'kubectl'].map(async (name) => {
    const binary = readFileSync(path.join(root, 'vendor', 'bin', name));
    const sum = sha256(binary);
    sums.push(`${sum}  ${name}\n`);
    const archive = path.join(toolsDir, `${name}.br`);
    if (previous.includes(`${sum}  ${name}\n`) && existsSync(archive)) return log(`vendor/tools/${name}.br: present`);
    const started = Date.now();
    const params = { [constants.BROTLI_PARAM_QUALITY]: 9, [constants.BROTLI_PARAM_LGWIN]: 24, [constants.BROTLI_PARAM_SIZE_HINT]: binary.length };
    writeFileSync(`${archive}.tmp`, await promisify(brotliCompress)(binary, { params }));
    renameSync(`${archive}.tmp`, archive);
    log(`vendor/tools/${name}.br: compressed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }),
);
writeFileSync(path.join(toolsDir, 'SHA256SUMS'), sums.sort((a, b) => a.slice(66).localeCompare(b.slice(66))).join(''));

// 3. The staging folder: the package's files (per package.json "files", without source maps).
const stage = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-package-'));
try {
  for (const entry of pkg.files) {
    if (entry.startsWith('!')) continue;
    cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true, dereference: true, filter: (src) => !src.endsWith('.map') && !/\.tmp(-\d+)?$/.test(src) });
  }
  // Never pack a package that could not enable an addon: every pinned chart, the sums, the tools.
  const missing = [];
  for (const dir of readdirSync(path.join(stage, 'addons'))) {
    const manifest = path.join(stage, 'addons', dir, 'manifest.yaml');
    const versions = existsSync(manifest) ? yaml.load(readFileSync(manifest, 'utf8'))?.versions : undefined;
    if (!versions) continue;
    for (const f of ['SHA256SUMS', ...versions.pins.map((p) => `${versions.chart}-${p.version}.tgz`)]) {
      if (!existsSync(path.join(stage, 'charts', versions.chart, f))) missing.push(`charts/${versions.chart}/${f}`);
    }
  }
  for (const f of ['SHA256SUMS', 'helm.br', 'kubectl.br']) if (!existsSync(path.join(stage, 'vendor', 'tools', f))) missing.push(`vendor/tools/${f}`);
  if (missing.length) throw new Error(`the staged package lacks ${missing.join(', ')}; run npm ci, then npm run package again`);
  for (const f of ['README.md', 'LICENSE', 'package-lock.json']) if (existsSync(path.join(root, f))) cpSync(path.join(root, f), path.join(stage, f));
  const staged = { ...pkg, bundleDependencies: Object.keys(pkg.dependencies) };
  delete staged.scripts;
  writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(staged, null, 2)}\n`);

  // 4. The runtime dependencies exactly as locked, without their install scripts; then pruned.
  run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], stage);
  let pruned = 0;
  const prune = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) prune(p);
      else if (/\.(map|d\.ts|d\.mts|d\.cts|md|markdown)$/i.test(e.name) && !/^licen[cs]e/i.test(e.name)) {
        pruned += statSync(p).size;
        rmSync(p);
      }
    }
  };
  prune(path.join(stage, 'node_modules'));
  rmSync(path.join(stage, 'node_modules', '.package-lock.json'), { force: true });
  log(`runtime dependencies pruned of ${(pruned / 1e6).toFixed(1)} MB of declarations, source maps and docs`);

  // 5. Packed where a user expects it.
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', root, '--loglevel=error'], { cwd: stage, encoding: 'utf8' });
  const [info] = JSON.parse(out);
  log(`${info.filename}: ${(info.size / 1e6).toFixed(1)} MB packed, ${(info.unpackedSize / 1e6).toFixed(1)} MB installed, ${info.entryCount} files`);
  process.stdout.write(`${path.join(root, info.filename)}\n`);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
