/**
 * `sandbox up|status|env|down` and, on any node, `start` / `stop` (MicroK8s started with the proxy
 * variables removed, then a readiness wait with a timeout).
 */
import path from 'node:path';
import type { GlobalOptions, OutputMode } from '../grammar.js';
import { parseCommandWords } from '../grammar.js';
import type { Streams } from './index.js';
import { EXIT, PreconditionError, UsageError } from '../errors.js';
import { withoutProxy, quoteWord, runChecked } from '../adapters/process.js';
import { defaultSandboxDir, loadSandbox, sandboxDown, sandboxEnv, sandboxStatus, sandboxUp, startSandbox, stopSandbox, type SandboxEra } from '../sandbox/sandbox.js';
import { resolveSnapPaths, readSandboxMarker } from '../node/node.js';
import { exists } from '../adapters/fs.js';

const SANDBOX_HELP = `Usage: mk8s-addons sandbox up [--dir DIR] [--layout 1.20|1.35] [--nodes N] [--kwok-nodes M] [--agent auto|real|simulated]
       mk8s-addons sandbox status|env|down [--dir DIR]

A sandbox node: a folder laid out like a MicroK8s node of the chosen era, a real local control plane
(kube-apiserver, etcd, controllers, kwok nodes) and a network namespace with the node's links. With
--agent real (auto: when root and a Cilium build are there) a Cilium 1.20 release runs the real
cilium-agent for node-0, its CNI plugin and eBPF datapath, under the sandbox's own kubelet; kwok plays
the other nodes. --nodes N makes a cluster of N MicroK8s nodes: node-1 and up each get a node folder
(DIR/nodes/node-I), a network namespace, simulated services and a stand-in cluster agent (our code) that
serves MicroK8s's configure API over HTTPS on the Node's InternalIP, port 25000 (1.20: non-HA, joined
nodes are workers listed in node-0's callback-tokens.txt; 1.35: HA, one callback token). --kwok-nodes M
adds M Nodes that only kwok plays (no folder, no agent), for scale. Simulated, and said so: snapd/systemd (services are state files and a log), container
images (containers other than the agent do not run), flannel and Calico, Services, Hubble, L7.
Default DIR: $MK8S_ADDONS_SANDBOX, else ~/.local/state/mk8s-addons/sandbox. Needs root (network namespace).

Examples:
  sudo mk8s-addons sandbox up --layout 1.35 --nodes 2
  eval "$(mk8s-addons sandbox env)"      # later mk8s-addons, kubectl and helm calls target the sandbox
  sudo -E mk8s-addons enable dns:1.1.1.1
  sudo mk8s-addons sandbox down
`;

export async function runSandbox(words: string[], globals: GlobalOptions, outputOf: () => OutputMode, io: Streams): Promise<number> {
  const { options, positional } = parseCommandWords('sandbox', words, globals, [
    { flag: '--dir', type: 'string' },
    { flag: '--layout', type: 'string' },
    { flag: '--nodes', type: 'string' },
    { flag: '--kwok-nodes', type: 'string' },
    { flag: '--agent', type: 'string' },
  ]);
  if (globals.help) {
    io.stdout.write(SANDBOX_HELP);
    return EXIT.ok;
  }
  const [action, ...rest] = positional;
  if (rest.length) throw new UsageError(`sandbox ${action} takes no arguments; got "${rest.join(' ')}"`);
  const dir = path.resolve((options.get('--dir') as string | undefined) ?? defaultSandboxDir());
  const json = outputOf() === 'json';
  const say = (msg: string) => {
    if (!json) io.stderr.write(`sandbox: ${msg}\n`);
  };
  switch (action) {
    case 'up': {
      const layout = (options.get('--layout') as string | undefined) ?? '1.35';
      if (layout !== '1.20' && layout !== '1.35') throw new UsageError(`invalid --layout "${layout}": use 1.20 (separate daemons, flannel) or 1.35 (kubelite, Calico)`);
      const nodesText = (options.get('--nodes') as string | undefined) ?? '1';
      const nodes = Number(nodesText);
      if (!/^\d+$/.test(nodesText) || nodes < 1 || nodes > 200) throw new UsageError(`invalid --nodes "${nodesText}": give a whole number from 1 to 200`);
      const kwokText = (options.get('--kwok-nodes') as string | undefined) ?? '0';
      const kwokNodes = Number(kwokText);
      if (!/^\d+$/.test(kwokText) || kwokNodes + nodes > 200) throw new UsageError(`invalid --kwok-nodes "${kwokText}": give a whole number, with --nodes at most 200 in all`);
      const agent = (options.get('--agent') as string | undefined) ?? 'auto';
      if (agent !== 'auto' && agent !== 'real' && agent !== 'simulated') throw new UsageError(`invalid --agent "${agent}": use auto, real (the Cilium agent built by scripts/build-cilium.sh) or simulated`);
      const { env, dropped } = globals.keepProxy ? { env: process.env, dropped: [] } : withoutProxy(process.env);
      if (dropped.length) say(`proxy variables removed for the control plane: ${dropped.join(', ')}`);
      const info = await sandboxUp({ dir, era: layout as SandboxEra, nodes, kwokNodes, env, agent, onProgress: (m) => say(`starting ${m}`) });
      if (json) io.stdout.write(`${JSON.stringify({ type: 'sandbox', action: 'up', ...info })}\n`);
      else io.stdout.write(`sandbox ${info.era} is up in ${info.dir} (${info.nodes} node${info.nodes > 1 ? 's' : ''}); target it with:\n  eval "$(mk8s-addons sandbox env --dir ${quoteWord(info.dir)})"\n`);
      return EXIT.ok;
    }
    case 'env': {
      const env = sandboxEnv(await loadSandbox(dir));
      if (json) io.stdout.write(`${JSON.stringify({ type: 'sandbox-env', env })}\n`);
      else for (const [k, v] of Object.entries(env)) io.stdout.write(`export ${k}=${quoteWord(v)}\n`);
      return EXIT.ok;
    }
    case 'status': {
      const st = await sandboxStatus(dir);
      if (json) io.stdout.write(`${JSON.stringify({ type: 'sandbox-status', ...st })}\n`);
      else {
        io.stdout.write(`sandbox ${st.era} in ${st.dir}: ${st.running ? 'running' : 'stopped'}\n`);
        // One column for both lists: the longest name is daemon-controller-manager (25 characters).
        const width = Math.max(...st.controlPlane.map((c) => c.name.length), ...Object.keys(st.services).map((d) => `daemon-${d}`.length));
        for (const c of st.controlPlane) io.stdout.write(`  ${c.name.padEnd(width)} ${c.alive ? `running (pid ${c.pid})` : 'stopped'}\n`);
        for (const [d, s] of Object.entries(st.services)) io.stdout.write(`  ${`daemon-${d}`.padEnd(width)} ${s} (simulated)\n`);
        io.stdout.write(`  links: ${st.links.join(', ') || '(none)'} (network namespace ${st.netns})\n  service log: ${st.serviceLog} entries\n`);
        if (st.agent.mode === 'real') {
          io.stdout.write(`  cilium agent: real v${st.agent.version} (built from Cilium's module), run by the sandbox kubelet ${st.agent.kubelet.alive ? `(pid ${st.agent.kubelet.pid})` : '(stopped)'}; other nodes: kwok\n`);
          for (const [pod, what] of Object.entries(st.agent.pods)) io.stdout.write(`    ${pod}: ${what}\n`);
        } else io.stdout.write(`  cilium agent: simulated (${st.agent.reason})\n`);
        for (const n of st.clusterNodes) {
          const services = Object.entries(n.services).map(([d, s]) => `${d} ${s}`).join(', ');
          io.stdout.write(`  ${n.name}: cluster agent (sandbox stand-in, our code) on https://${n.address} ${n.agent.alive ? `(pid ${n.agent.pid})` : '(stopped)'}; services (simulated): ${services}; kubelet: kwok; links in ${n.netns}\n`);
        }
        // MicroK8s 1.20-1.23 have no addon repositories: the stand-in wrapper dispatches to them as 1.24+ does.
        if (st.era === '1.20' && st.clusterNodes.length > 0) io.stdout.write('  enable wrapper: dispatches to $SNAP_COMMON/addons as MicroK8s 1.24+ does (MicroK8s 1.20 has no addon repositories)\n');
      }
      return st.running ? EXIT.ok : EXIT.precondition;
    }
    case 'down': {
      await sandboxDown(dir);
      if (json) io.stdout.write(`${JSON.stringify({ type: 'sandbox', action: 'down', dir })}\n`);
      else io.stdout.write(`sandbox in ${dir} is down and removed\n`);
      return EXIT.ok;
    }
    case undefined:
      throw new UsageError('sandbox needs an action: up, status, env or down; run "mk8s-addons sandbox --help"');
    default:
      throw new UsageError(`unknown sandbox action "${action}": use up, status, env or down`);
  }
}

/** `start` / `stop`: MicroK8s on this node (the sandbox's control plane on a sandbox). */
export async function runStartStop(command: 'start' | 'stop', words: string[], globals: GlobalOptions, outputOf: () => OutputMode, io: Streams): Promise<number> {
  const { positional } = parseCommandWords(command, words, globals, []);
  if (globals.help) {
    io.stdout.write(`Usage: mk8s-addons ${command} [--timeout DURATION] [--keep-proxy]\n\n${command === 'start' ? 'Starts MicroK8s with the proxy variables removed (says which), then waits until the node is Ready.' : 'Stops MicroK8s.'}\n`);
    return EXIT.ok;
  }
  if (positional.length) throw new UsageError(`${command} takes no arguments; got "${positional.join(' ')}"`);
  const paths = resolveSnapPaths(globals, process.env);
  if (!(await exists(path.join(paths.snapData, 'args')))) {
    throw new PreconditionError(`MicroK8s not found: ${path.join(paths.snapData, 'args')} does not exist; install MicroK8s or point --snap-data at a node`);
  }
  const { env, dropped } = globals.keepProxy ? { env: process.env, dropped: [] as string[] } : withoutProxy(process.env);
  const json = outputOf() === 'json';
  const note = (message: string) => io.stdout.write(json ? `${JSON.stringify({ type: 'note', phase: command, message })}\n` : `${message}\n`);
  if (dropped.length && command === 'start') note(`starting with the proxy variables removed: ${dropped.join(', ')} (--keep-proxy keeps them)`);
  const marker = await readSandboxMarker(paths);
  const timeoutMs = globals.timeoutMs ?? 5 * 60_000;
  if (marker) {
    const info = await loadSandbox(marker.dir);
    if (command === 'stop') await stopSandbox(info);
    else await startSandbox(info, env);
  } else if (command === 'stop') {
    await runChecked(['snap', ['stop', 'microk8s']], { env });
    note('MicroK8s stopped');
  } else {
    await runChecked(['snap', ['start', 'microk8s']], { env, timeoutMs });
  }
  if (command === 'start') {
    const { waitReady } = await import('../lifecycle/readiness.js');
    await waitReady(paths, globals.kubeconfig ?? path.join(paths.snapData, 'credentials', 'client.config'), timeoutMs);
  }
  note(command === 'start' ? 'MicroK8s is running and the node is Ready' : 'MicroK8s is stopped');
  if (json) io.stdout.write(`${JSON.stringify({ type: 'result', ok: true, changed: 1, restarts: {} })}\n`);
  return EXIT.ok;
}
