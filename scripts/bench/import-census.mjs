// Preloaded with `node --import` by profile.mjs: at exit, appends to $MK8S_BENCH_IMPORTS the URL of every
// module the program loaded: ES modules as resolved (hook in import-census-hooks.mjs) and CommonJS ones
// from the require cache (Node 20's resolve hooks do not see require() inside CommonJS packages).
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

const file = process.env.MK8S_BENCH_IMPORTS;
if (file) {
  register('./import-census-hooks.mjs', import.meta.url, { data: { file } });
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    const cjs = Object.keys(require.cache).map((p) => pathToFileURL(p).href);
    if (cjs.length) appendFileSync(file, `${cjs.join('\n')}\n`);
  });
}
