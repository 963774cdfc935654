// A fresh 1.20 sandbox for scripts/bench/cpu-ab.py: prints one JSON line (the CLI's environment for it,
// the Kubernetes version, the pinned 1.8 chart and the values file the planning row's baseline renders
// with), then holds the sandbox until its standard input closes, and takes it down (also on SIGINT/SIGTERM).
import path from 'node:path';
import { ciliumValuesFile, cleanEnv, kubeVersion, sandboxUp } from './lib.mjs';

const sb = await sandboxUp({ layout: '1.20', name: 'cpu-ab' });
let down = false;
const stop = () => {
  if (!down) sb.down();
  down = true;
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
try {
  const kv = await kubeVersion(sb.cp);
  const { chart, file } = await ciliumValuesFile(sb, '1.8.13', path.join(sb.dir, 'bench-values-1.8.13.json'));
  process.stdout.write(`${JSON.stringify({ env: cleanEnv(sb.env), kubeVersion: kv, chart, values: file })}\n`);
} catch (err) {
  process.stderr.write(`hold-sandbox: ${err.stack ?? err}\n`);
  stop();
}
process.stdin.resume();
process.stdin.on('end', stop);
