#!/usr/bin/env node
// The shipped CLI: dist/src (tsc's output) bundled by esbuild into dist/bundle/src/ — cli.js plus the chunks
// it loads on demand (the `import()`s of the sources stay lazy: --version, --help and list load only the
// small entry and a few chunks; a dry-run on a node about 45 chunks instead of about 90 modules from dist/src
// and node_modules). @kubernetes/client-node stays outside (loaded from node_modules only when a step
// changes objects). package.json's `bin`, the snap's command and the MicroK8s hooks run dist/bundle/src/cli.js.
//
// Every module keeps the `import.meta.url` of its dist/src file (rewritten to a URL relative to the chunk,
// which sits at the same depth), so the package root, the sandbox's helper scripts (run from dist/src) and
// the derived cache's code keys are those of dist/src. dist/bundle/inputs.json records the sha256 of every
// dist/src file bundled: `node scripts/bundle.mjs --check` (and test/integration/bundle.test.ts, and the
// benchmarks) refuse a bundle older than dist/src. `npm run build` runs tsc, then this.
//
//   node scripts/bundle.mjs            build (after tsc)
//   node scripts/bundle.mjs --check    exit 1 with what to do when dist/bundle does not match dist/src
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SRC = path.join(ROOT, 'dist', 'src');
const BUNDLE = path.join(ROOT, 'dist', 'bundle');
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

/** Why dist/bundle does not match dist/src (undefined when it does). */
export function staleBundle(root = ROOT) {
  const inputs = path.join(root, 'dist', 'bundle', 'inputs.json');
  if (!existsSync(inputs)) return 'dist/bundle is missing';
  const recorded = JSON.parse(readFileSync(inputs, 'utf8'));
  for (const [rel, digest] of Object.entries(recorded.files)) {
    const file = path.join(root, rel);
    if (!existsSync(file)) return `${rel} is gone`;
    if (sha256(readFileSync(file)) !== digest) return `${rel} changed since the bundle was built`;
  }
  return undefined;
}

async function bundle() {
  if (!existsSync(path.join(SRC, 'cli.js'))) throw new Error('dist/src/cli.js is missing: run tsc first (npm run build)');
  const { build } = await import('esbuild');
  const staging = await mkdtemp(path.join(ROOT, 'dist', '.bundle-'));
  const out = path.join(staging, 'src');
  // dist/bundle/src/<chunk>.js and dist/src/<dir>/<module>.js: one relative URL per module, resolved
  // against the chunk's own URL at run time.
  const moduleUrls = {
    name: 'module-urls',
    setup(b) {
      b.onLoad({ filter: /\.js$/ }, async (args) => {
        if (!args.path.startsWith(SRC + path.sep)) return undefined;
        const text = await readFile(args.path, 'utf8');
        const rel = path.relative(path.join(BUNDLE, 'src'), args.path).split(path.sep).join('/');
        return { contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`), loader: 'js' };
      });
    },
  };
  try {
    const result = await build({
      entryPoints: [path.join(SRC, 'cli.js')],
      outdir: out,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external: ['@kubernetes/client-node'],
      // All chunks beside cli.js: the same depth as dist/src/<dir>/, which the module URLs above assume.
      chunkNames: '[name]-[hash]',
      // CommonJS dependencies (handlebars, semver) call require(); an ES module has none of its own.
      banner: { js: "import { createRequire as __mk8sCreateRequire } from 'node:module'; const require = __mk8sCreateRequire(import.meta.url);" },
      plugins: [moduleUrls],
      metafile: true,
      // Less to scan at every start (identifiers and names stay: stack traces still name functions).
      minifyWhitespace: true,
      minifySyntax: true,
      logLevel: 'warning',
    });
    const files = {};
    for (const input of Object.keys(result.metafile.inputs).sort()) {
      const abs = path.resolve(ROOT, input);
      if (abs.startsWith(SRC + path.sep)) files[path.relative(ROOT, abs).split(path.sep).join('/')] = sha256(await readFile(abs));
    }
    await writeFile(path.join(staging, 'inputs.json'), `${JSON.stringify({ note: 'sha256 of the dist/src files in this bundle (scripts/bundle.mjs)', files }, null, 1)}\n`);
    const outputs = Object.values(result.metafile.outputs);
    await rm(BUNDLE, { recursive: true, force: true });
    await rename(staging, BUNDLE);
    const kib = outputs.reduce((n, o) => n + o.bytes, 0) / 1024;
    console.error(`bundle: dist/bundle/src: ${outputs.length} files, ${kib.toFixed(0)} KiB, from ${Object.keys(files).length} dist/src modules and their dependencies`);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  if (process.argv.includes('--check')) {
    const why = staleBundle();
    if (why) {
      console.error(`bundle: ${why}; run "npm run build" (or "node scripts/bundle.mjs" after tsc)`);
      process.exit(1);
    }
  } else await bundle();
}
