#!/usr/bin/env node
// `npm run snap`: the snap of snap/snapcraft.yaml, assembled without snapcraft (these machines have no
// snapd and no snapcraft), written to mk8s-addons_<version>_<arch>.snap in the project root (git-ignored).
//
// The prime tree is the one snapcraft builds from snap/snapcraft.yaml:
//   bin/node            the Node runtime: snapcraft's `node` part downloads the official build of the
//                       version pinned there; here it is this machine's node, which must be that version
//   bin/mk8s-addons     snap/local/mk8s-addons (the app's command)
//   lib/mk8s-addons/    the npm package (scripts/package.mjs) unpacked, with helm and kubectl unpacked from
//                       its vendor/tools/*.br into vendor/bin/ (sha256 checked; the squashfs compresses them)
//   meta/snap.yaml      generated from snap/snapcraft.yaml (name, version from package.json as adopt-info
//                       sets it, summary, description, base, grade, confinement, architectures, apps)
// packed with mksquashfs (squashfs-tools) with the options snap pack and the store's review tools use.
//
// `--prime-package DIR` does only the lib/mk8s-addons and bin/mk8s-addons part into DIR: snapcraft's
// override-build of the mk8s-addons part runs that, so both builds share it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync } from 'node:zlib';
import yaml from 'js-yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (msg) => console.error(`snap: ${msg}`);
const fail = (msg) => {
  console.error(`snap: error: ${msg}`);
  process.exit(1);
};
const run = (file, args, opts = {}) => execFileSync(file, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });

/** The Debian/snap architecture name of this machine. */
const SNAP_ARCH = { x64: 'amd64', arm64: 'arm64', s390x: 's390x', ppc64: 'ppc64el', arm: 'armhf' }[process.arch];

/** lib/mk8s-addons (the npm package, tools unpacked) and bin/mk8s-addons into `prime`. */
function primePackage(prime) {
  const tarball = run(process.execPath, ['scripts/package.mjs']).trim().split('\n').at(-1);
  const lib = path.join(prime, 'lib', 'mk8s-addons');
  rmSync(lib, { recursive: true, force: true });
  mkdirSync(lib, { recursive: true });
  run('tar', ['-xzf', tarball, '-C', lib, '--strip-components=1', '--no-same-owner']);
  const tools = path.join(lib, 'vendor', 'tools');
  const sums = new Map(readFileSync(path.join(tools, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split(/ +/).reverse()));
  mkdirSync(path.join(lib, 'vendor', 'bin'), { recursive: true });
  for (const [name, want] of sums) {
    const binary = brotliDecompressSync(readFileSync(path.join(tools, `${name}.br`)));
    const got = createHash('sha256').update(binary).digest('hex');
    if (got !== want) fail(`${name} unpacked from ${tarball} has sha256 ${got}, not ${want}`);
    writeFileSync(path.join(lib, 'vendor', 'bin', name), binary, { mode: 0o755 });
  }
  rmSync(tools, { recursive: true });
  mkdirSync(path.join(prime, 'bin'), { recursive: true });
  copyFileSync(path.join(root, 'snap', 'local', 'mk8s-addons'), path.join(prime, 'bin', 'mk8s-addons'));
  chmodSync(path.join(prime, 'bin', 'mk8s-addons'), 0o755);
  log(`lib/mk8s-addons from ${path.basename(tarball)}, helm and kubectl unpacked (sha256 checked)`);
}

/** meta/snap.yaml, as snapcraft writes it for this snapcraft.yaml. */
export function snapYaml(snapcraft, version, arch) {
  const apps = Object.fromEntries(Object.entries(snapcraft.apps).map(([name, app]) => [name, { command: app.command }]));
  return yaml.dump(
    {
      name: snapcraft.name,
      version,
      summary: snapcraft.summary,
      description: snapcraft.description,
      architectures: [arch],
      base: snapcraft.base,
      apps,
      confinement: snapcraft.confinement,
      grade: snapcraft.grade,
    },
    { lineWidth: -1 },
  );
}

const primeOnly = process.argv.indexOf('--prime-package');
if (primeOnly !== -1) {
  const dir = process.argv[primeOnly + 1];
  if (!dir) fail('--prime-package needs a folder');
  primePackage(path.resolve(dir));
  process.exit(0);
}

const snapcraft = yaml.load(readFileSync(path.join(root, 'snap', 'snapcraft.yaml'), 'utf8'));
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
if (!SNAP_ARCH) fail(`no snap architecture for ${process.arch}`);
const builds = (snapcraft.architectures ?? []).map((a) => a['build-on']);
if (builds.length && !builds.includes(SNAP_ARCH)) fail(`snap/snapcraft.yaml builds on ${builds.join(', ')}, not ${SNAP_ARCH}`);
const pinnedNode = /node-v([0-9.]+)-linux/.exec(snapcraft.parts.node.source)?.[1];
if (`v${pinnedNode}` !== process.version) fail(`snap/snapcraft.yaml pins Node ${pinnedNode}; this machine's node is ${process.version.slice(1)}: run npm run snap with that version`);
try {
  run('mksquashfs', ['-version']);
} catch {
  fail('mksquashfs is missing: install squashfs-tools (bash scripts/setup-packaging-deps.sh)');
}

const prime = mkdtempSync(path.join(os.tmpdir(), 'mk8s-addons-prime-'));
const out = path.join(root, `${snapcraft.name}_${version}_${SNAP_ARCH}.snap`);
const tmp = `${out}.tmp-${process.pid}`;
try {
  primePackage(prime);
  copyFileSync(process.execPath, path.join(prime, 'bin', 'node'));
  chmodSync(path.join(prime, 'bin', 'node'), 0o755);
  mkdirSync(path.join(prime, 'meta'));
  writeFileSync(path.join(prime, 'meta', 'snap.yaml'), snapYaml(snapcraft, version, SNAP_ARCH));
  // snap pack's options (and the store review tools'): xz, every file owned by root, no xattrs, no fragments.
  run('mksquashfs', [prime, tmp, '-noappend', '-comp', 'xz', '-all-root', '-no-xattrs', '-no-fragments', '-no-progress', '-quiet']);
  renameSync(tmp, out);
  const size = readFileSync(out).length;
  log(`${path.basename(out)}: ${(size / 1e6).toFixed(1)} MB (${readdirSync(prime).sort().join(', ')})`);
  process.stdout.write(`${out}\n`);
} finally {
  rmSync(prime, { recursive: true, force: true });
  rmSync(tmp, { force: true });
}
