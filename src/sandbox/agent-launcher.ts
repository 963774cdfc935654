/**
 * Starts the Cilium agent the way its container sees the host's /run: run by the sandbox's kubelet as
 *
 *   unshare --mount --propagation slave -- node dist/src/sandbox/agent-launcher.js SPEC.json
 *
 * so every mount here is private to the agent (nothing propagates to the host, and all of it goes when
 * the agent exits). It builds a view of /run in the node's folder, with the host's /run/netns (for
 * `ip netns exec`) and the pod's hostPath volumes under /var/run bind-mounted at their container paths,
 * mounts the view on /run, then runs the agent's command (`ip netns exec NODE_NS cilium-agent ...`) and
 * passes SIGTERM/SIGINT on to it. Every mount is a [file, args] tuple; nothing runs through a shell.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentLaunch } from './cilium-agent.js';

function mount(args: string[]): void {
  const r = spawnSync('mount', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

/** Makes `target` exist as the same kind of thing as `source` (folder or file). */
function mountPoint(source: string, target: string): void {
  if (statSync(source).isDirectory()) mkdirSync(target, { recursive: true });
  else {
    mkdirSync(path.dirname(target), { recursive: true });
    if (!existsSync(target)) writeFileSync(target, '');
  }
}

export function launch(spec: Pick<AgentLaunch, 'command' | 'env' | 'binds' | 'runView' | 'createUnder'>): Promise<number> {
  mkdirSync(spec.runView, { recursive: true });
  for (const { source, target } of [{ source: '/run/netns', target: 'netns' }, ...spec.binds]) {
    if (!existsSync(source)) {
      // A hostPath volume of type DirectoryOrCreate under the node's folder: the kubelet creates it. Nothing
      // is created elsewhere on the host (the xtables lock, with the agent's iptables rules off).
      if (!source.startsWith(`${spec.createUnder}/`)) {
        process.stderr.write(`agent-launcher: ${source} does not exist on the host: /run/${target} left out\n`);
        continue;
      }
      mkdirSync(source, { recursive: true });
    }
    const at = path.join(spec.runView, target);
    mountPoint(source, at);
    mount(['--rbind', source, at]);
  }
  mount(['--rbind', spec.runView, '/run']);
  const [file, args] = spec.command;
  const child = spawn(file, [...args], { env: spec.env, stdio: 'inherit' });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => child.kill(sig));
  return new Promise((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`agent-launcher: cannot run ${file}: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const specFile = process.argv[2];
  if (!specFile) {
    process.stderr.write('usage: agent-launcher.js SPEC.json\n');
    process.exitCode = 2;
  } else {
    try {
      const spec = JSON.parse(readFileSync(specFile, 'utf8')) as AgentLaunch;
      launch(spec).then((code) => {
        process.exitCode = code;
      });
    } catch (err) {
      process.stderr.write(`agent-launcher: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
