/**
 * The sandbox kubelet's process: `node dist/src/sandbox/kubelet-main.js SANDBOX_DIR`, started detached by
 * `sandbox up` / `start` (src/sandbox/kubelet-process.ts). Runs the relay into the node's namespace, the
 * node heartbeat and the pod loop of src/sandbox/kubelet.ts until SIGTERM, then stops the agents it runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectHttp } from '../adapters/kube-http.js';
import { locateCiliumBuild } from './cilium-binaries.js';
import { agentPath } from './cilium-agent.js';
import { loadControlPlane, nodePodCidr } from './control-plane.js';
import { SandboxKubelet } from './kubelet.js';
import { KUBELET_NODE, KUBELET_NODE_IP, nodeDir } from './kubelet-process.js';
import { serveHostRelay } from './relay.js';
import type { SandboxInfo } from './sandbox.js';

const here = path.dirname(fileURLToPath(import.meta.url));

async function main(dir: string): Promise<void> {
  const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
  const info = JSON.parse(readFileSync(path.join(dir, 'sandbox.json'), 'utf8')) as SandboxInfo;
  const cp = loadControlPlane(path.join(dir, 'cp'));
  const nd = nodeDir(dir);
  const kube = await connectHttp(cp.kubeconfig);
  const socket = path.join(nd, 'apiserver.sock');
  const relayServer = await serveHostRelay(socket, cp.ports.apiserver);

  // The relay's node half, kept running.
  let relay: ChildProcess | undefined;
  let stopping = false;
  const startRelay = () => {
    relay = spawn('ip', ['netns', 'exec', info.netns, process.execPath, path.join(here, 'relay.js'), String(cp.ports.apiserver), socket], { stdio: ['ignore', 'inherit', 'inherit'] });
    relay.on('exit', (code) => {
      if (stopping) return;
      log(`relay exited (${code}); starting it again`);
      setTimeout(startRelay, 1000);
    });
  };
  startRelay();

  const build = locateCiliumBuild(process.env);
  const kubelet = new SandboxKubelet(
    kube,
    {
      name: KUBELET_NODE,
      ip: KUBELET_NODE_IP,
      podCidr: nodePodCidr(0),
      netns: info.netns,
      snapData: info.snapData,
      dir: nd,
      apiserverPort: cp.ports.apiserver,
      kubeletPort: cp.ports.kwok,
      caFile: cp.caFile,
      agentNode: {
        netns: info.netns,
        bpffs: path.join(nd, 'bpffs'),
        cgroupRoot: path.join(nd, 'cgroup'),
        procfs: path.join(nd, 'procfs'),
        kubeconfig: path.join(nd, 'agent.kubeconfig'),
        runView: path.join(nd, 'run-view'),
        path: agentPath(),
        snapData: info.snapData,
      },
    },
    build,
    log,
  );
  log(`kubelet for ${KUBELET_NODE} started (${'missing' in build ? `agent simulated: ${build.missing}` : `real cilium-agent ${build.version}`})`);

  const abort = new AbortController();
  const beat = async () => {
    try {
      await kubelet.heartbeat();
    } catch (err) {
      log(`heartbeat: ${(err as Error).message}`);
    }
  };
  await beat();
  const timers = [setInterval(() => void beat(), 10_000), setInterval(() => kubelet.kick(), 2_000)];
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('stopping');
    for (const t of timers) clearInterval(t);
    abort.abort();
    await kubelet.stopAll();
    relay?.kill('SIGTERM');
    relayServer.close();
    log('stopped');
    // Everything is closed; should a socket still hold the loop, do not outlive the stop.
    setTimeout(() => process.kill(process.pid, 'SIGKILL'), 2_000).unref();
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  await kubelet.watchPods(abort.signal);
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: kubelet-main.js SANDBOX_DIR\n');
  process.exitCode = 2;
} else {
  main(path.resolve(dir)).catch((err: Error) => {
    process.stdout.write(`${new Date().toISOString()} kubelet failed: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  });
}
