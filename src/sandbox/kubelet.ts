/**
 * The sandbox's kubelet for its own node (node-0) when the real Cilium agent runs there: a stand-in for
 * MicroK8s's kubelet and containerd, our code, said so in `sandbox status`. kwok plays the other nodes.
 *
 * What it does, as a kubelet would:
 * - keeps the Node Ready (status heartbeat and its Lease in kube-node-lease);
 * - runs the pods bound to the node. The Cilium agent pod (DaemonSet cilium, container cilium-agent) of a
 *   chart whose minor matches the built agent runs the real agent (src/sandbox/cilium-agent.ts), Ready
 *   only when the agent's own /healthz says so, restarted when it exits; the install-cni-binaries init
 *   container's copy of cilium-cni is done. Every other container is simulated (no image runs): Running
 *   and Ready at once;
 * - networks pods that are not hostNetwork as containerd would (src/sandbox/cni.ts): the active config of
 *   $SNAP_DATA/args/cni-network and its plugins from $SNAP_DATA/opt/cni/bin, ADD on start and DEL on
 *   deletion, in a network namespace of the pod's own; a plugin that is one of the sandbox's stand-ins
 *   (flannel, Calico) gives a simulated address instead, said in the log;
 * - finishes deletions (stop, CNI DEL, then the final delete with grace 0), and posts a
 *   FailedCreatePodSandBox event while a pod's network cannot be set up (retried every 5 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeHttp } from '../adapters/kube-http.js';
import { run } from '../adapters/process.js';
import { activeCniNetwork, cniAdd, cniDel, isStandInPlugin, parseEnvFile, type CniCall, type CniNetwork } from './cni.js';
import { agentKubeconfig, agentLaunch, type AgentLaunch, type AgentNode } from './cilium-agent.js';
import type { CiliumBuild } from './cilium-binaries.js';
import { ciliumAgentContainer, imageVersion, pendingStatus, runningStatus, type Pod } from './pod.js';
import { processStartTime } from './control-plane.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const AGENT_LAUNCHER = path.join(here, 'agent-launcher.js');

/** What the kubelet needs to know about its node. */
export interface KubeletNode {
  name: string;
  /** The node's InternalIP (on the node namespace's eth0). */
  ip: string;
  /** The node's pod range (spec.podCIDR), for simulated pod addresses. */
  podCidr: string;
  netns: string;
  snapData: string;
  /** DIR/node: the kubelet's own files. */
  dir: string;
  /** Port of the API server (the relay listens on the same port inside the node's namespace). */
  apiserverPort: number;
  /** The node's kubelet port: kwok's server, which serves exec for the agent (see agentExecs in sandbox.ts). */
  kubeletPort: number;
  caFile: string;
  agentNode: AgentNode;
}

interface AgentProcess {
  child: ChildProcess;
  pid: number;
  startTime: string;
  exited?: string;
  launch: AgentLaunch;
  startedAt: string;
}

interface LocalPod {
  uid: string;
  namespace: string;
  name: string;
  ip?: string;
  /** Set when the pod got its address from a real CNI plugin: what DEL needs. */
  cni?: { call: CniCall; netnsName: string };
  startedAt: string;
  agent?: AgentProcess;
  /** Why the agent is simulated (chart version without a build), for the log. */
  simulated?: string;
  ready: boolean;
  restartCount: number;
  nextRestart: number;
  lastStatus?: string;
  image: string;
}

export type Log = (msg: string) => void;

export interface KubeletState {
  pid: number;
  startTime: string;
  /** The agent processes running now (for `sandbox down` when the kubelet itself was killed). */
  agents: { pid: number; startTime: string; pod: string; version: string }[];
  /** One line per pod: what runs for it. */
  pods: Record<string, string>;
}

const microTime = () => new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class SandboxKubelet {
  private readonly pods = new Map<string, Pod>();
  private readonly local = new Map<string, LocalPod>();
  private crdsApplied = false;
  private busy = false;
  private again = false;
  private readonly failures = new Map<string, string>();

  constructor(
    private readonly kube: KubeHttp,
    private readonly node: KubeletNode,
    private readonly build: CiliumBuild | { missing: string },
    private readonly log: Log,
  ) {}

  // ------------------------------------------------------------------------------------- node status

  async heartbeat(): Promise<void> {
    const now = new Date().toISOString();
    const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
    const r = await this.kube.request('PATCH', `/api/v1/nodes/${this.node.name}/status`, {
      contentType: 'application/strategic-merge-patch+json',
      body: {
        status: {
          daemonEndpoints: { kubeletEndpoint: { Port: this.node.kubeletPort } },
          conditions: [
            cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'sandbox kubelet'),
            cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'sandbox kubelet'),
            cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'sandbox kubelet'),
            cond('Ready', 'True', 'KubeletReady', 'sandbox kubelet is posting ready status'),
          ],
        },
      },
    });
    if (r.status !== 200) this.log(`node status: HTTP ${r.status}`);
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.node.name}`;
    const lease = await this.kube.request<{ metadata?: { resourceVersion?: string } }>('GET', leasePath);
    const spec = { holderIdentity: this.node.name, leaseDurationSeconds: 40, renewTime: microTime() };
    if (lease.status === 404) {
      await this.kube.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.node.name, namespace: 'kube-node-lease' }, spec },
      });
    } else if (lease.status === 200) {
      await this.kube.request('PATCH', leasePath, { contentType: 'application/merge-patch+json', body: { spec } });
    }
  }

  // ------------------------------------------------------------------------------------------ pods

  /** Lists and then watches the node's pods; returns when `signal` aborts. */
  async watchPods(signal: AbortSignal): Promise<void> {
    const selector = `fieldSelector=${encodeURIComponent(`spec.nodeName=${this.node.name}`)}`;
    while (!signal.aborted) {
      try {
        const list = await this.kube.request<{ metadata: { resourceVersion: string }; items: Pod[] }>('GET', `/api/v1/pods?${selector}`);
        if (list.status !== 200) throw new Error(`list pods: HTTP ${list.status}`);
        this.pods.clear();
        for (const p of list.body.items) this.pods.set(p.metadata.uid, p);
        this.kick();
        await this.kube.watch<Pod>(
          `/api/v1/pods?${selector}&resourceVersion=${list.body.metadata.resourceVersion}&allowWatchBookmarks=true`,
          (e) => {
            if (e.type === 'ADDED' || e.type === 'MODIFIED') this.pods.set(e.object.metadata.uid, e.object);
            else if (e.type === 'DELETED') this.pods.delete(e.object.metadata.uid);
            if (e.type !== 'BOOKMARK') this.kick();
          },
          signal,
        );
      } catch (err) {
        if (!signal.aborted) this.log(`watch pods: ${(err as Error).message}; again in 1 s`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /** Runs a sync now, or once more after the one running. */
  kick(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    void this.syncAll()
      .catch((err: Error) => this.log(`sync: ${err.stack ?? err.message}`))
      .finally(() => {
        this.busy = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Pods whose sync runs now: pods sync side by side (a CNI ADD waiting for the agent holds no other pod), each once at a time. */
  private readonly inFlight = new Set<string>();

  private async syncAll(): Promise<void> {
    for (const [uid, pod] of this.pods) {
      if (this.inFlight.has(uid)) continue;
      this.inFlight.add(uid);
      void this.sync(pod)
        .catch((err: Error) => this.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: ${err.message}`))
        .finally(() => {
          this.inFlight.delete(uid);
          this.writeState();
        });
    }
    for (const [uid, lp] of this.local) {
      if (!this.pods.has(uid) && !this.inFlight.has(uid)) {
        this.log(`pod ${lp.namespace}/${lp.name} is gone from the API: stopping it`);
        await this.teardown(lp).catch((err: Error) => this.log(`teardown ${lp.name}: ${err.message}`));
        this.local.delete(uid);
      }
    }
    this.writeState();
  }

  private async sync(pod: Pod): Promise<void> {
    const uid = pod.metadata.uid;
    let lp = this.local.get(uid);
    if (pod.metadata.deletionTimestamp) {
      if (lp) {
        await this.teardown(lp);
        this.local.delete(uid);
      }
      const r = await this.kube.request('DELETE', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } },
      });
      if (r.status !== 200 && r.status !== 404 && r.status !== 409) this.log(`final delete of ${pod.metadata.name}: HTTP ${r.status}`);
      this.pods.delete(uid);
      return;
    }
    if (!lp) {
      lp = await this.start(pod);
      if (!lp) return;
      this.local.set(uid, lp);
    }
    if (lp.agent) await this.superviseAgent(pod, lp);
    await this.report(pod, lp);
  }

  /** Sets up the pod's network and containers; undefined while its network cannot be set up (retried). */
  private async start(pod: Pod): Promise<LocalPod | undefined> {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    const agentContainer = ciliumAgentContainer(pod);
    const image = (agentContainer ?? pod.spec.containers[0])?.image ?? 'sandbox';
    const lp: LocalPod = { uid: pod.metadata.uid, namespace: pod.metadata.namespace, name: pod.metadata.name, startedAt: new Date().toISOString(), ready: false, restartCount: 0, nextRestart: 0, image };
    if (pod.spec.hostNetwork) lp.ip = this.node.ip;
    else {
      try {
        await this.network(pod, lp);
      } catch (err) {
        await this.failed(pod, 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(err as Error).message}`);
        return undefined;
      }
    }
    this.failures.delete(pod.metadata.uid);
    if (agentContainer) {
      const version = imageVersion(agentContainer.image);
      const minor = (v: string | undefined) => v?.split('.').slice(0, 2).join('.');
      if ('missing' in this.build) lp.simulated = this.build.missing;
      else if (minor(version) !== minor(this.build.version)) lp.simulated = `the chart's agent is ${version ?? 'unversioned'}; the sandbox has a real agent for Cilium ${minor(this.build.version)} only (built ${this.build.version})`;
      if (lp.simulated) this.log(`pod ${key}: agent simulated: ${lp.simulated}`);
      else await this.startAgent(pod, lp, agentContainer);
    }
    if (!lp.agent) lp.ready = true;
    this.log(`pod ${key}: started (${lp.agent ? `real cilium-agent ${'version' in this.build ? this.build.version : ''}, pid ${lp.agent.pid}` : 'simulated containers'}, IP ${lp.ip}${lp.cni ? ` from ${path.basename(lp.cni.call.network.file)}` : ''})`);
    return lp;
  }

  private simulatedIps = 0;

  private async network(pod: Pod, lp: LocalPod): Promise<void> {
    const confDir = path.join(this.node.snapData, 'args', 'cni-network');
    const binDir = path.join(this.node.snapData, 'opt', 'cni', 'bin');
    const network = await activeCniNetwork(confDir);
    if (!network) throw new Error(`no network config found in ${confDir}: cni plugin not initialized`);
    const standIns: string[] = [];
    for (const p of network.plugins) if (await isStandInPlugin(path.join(binDir, String(p.type)))) standIns.push(String(p.type));
    if (standIns.length > 0) {
      // flannel and Calico have no real plugin here: an address from the top of the node's range.
      const base = this.node.podCidr.split('/')[0]!.split('.').slice(0, 3).join('.');
      lp.ip = `${base}.${254 - (this.simulatedIps++ % 100)}`;
      this.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: ${path.basename(network.file)} uses ${standIns.join(', ')}, a stand-in here: simulated address ${lp.ip}`);
      return;
    }
    const netnsName = `${this.node.netns}-p${pod.metadata.uid.slice(0, 8)}`;
    const add = await run(['ip', ['netns', 'add', netnsName]]);
    if (add.exitCode !== 0 && !/File exists/.test(add.stderr)) throw new Error(`ip netns add ${netnsName}: ${add.stderr.trim()}`);
    await run(['ip', ['-n', netnsName, 'link', 'set', 'lo', 'up']]);
    const call: CniCall = {
      network,
      binDir,
      nodeNetns: this.node.netns,
      podNetnsPath: `/run/netns/${netnsName}`,
      containerId: `sandbox-${pod.metadata.uid}`,
      ifName: 'eth0',
      pod: { namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      env: await this.containerdEnv(),
    };
    try {
      const result = await cniAdd(call);
      lp.ip = result.ip;
      lp.cni = { call, netnsName };
    } catch (err) {
      await cniDel(call).catch(() => {});
      await run(['ip', ['netns', 'delete', netnsName]]);
      throw err;
    }
  }

  /** containerd's environment on a MicroK8s node: PATH and what args/containerd-env sets. */
  private async containerdEnv(): Promise<Record<string, string>> {
    let text: string | undefined;
    try {
      text = readFileSync(path.join(this.node.snapData, 'args', 'containerd-env'), 'utf8');
    } catch {
      text = undefined;
    }
    // The snap's environment, as containerd's start script has it, then the file sourced on top.
    const snap = { SNAP: path.join(path.dirname(this.node.snapData), 'snap'), SNAP_DATA: this.node.snapData, SNAP_COMMON: path.join(path.dirname(this.node.snapData), 'common') };
    return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...snap, ...parseEnvFile(text, snap) };
  }

  private async failed(pod: Pod, reason: string, message: string): Promise<void> {
    const key = `${pod.metadata.uid}/${reason}`;
    const before = this.failures.get(pod.metadata.uid);
    this.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: ${message}`);
    await this.kube.request('PATCH', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, {
      contentType: 'application/merge-patch+json',
      body: pendingStatus({ hostIP: this.node.ip, reason: message }),
    });
    if (before === `${key}:${message}`) return;
    this.failures.set(pod.metadata.uid, `${key}:${message}`);
    const now = new Date().toISOString();
    await this.kube.request('POST', `/api/v1/namespaces/${pod.metadata.namespace}/events`, {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${pod.metadata.name}.`, namespace: pod.metadata.namespace },
        involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
        reason,
        message,
        type: 'Warning',
        source: { component: 'kubelet', host: this.node.name },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  }

  // ---------------------------------------------------------------------------------------- agent

  /** What cilium-operator does and the sandbox cannot run: register Cilium's CRDs (from the agent's module). */
  private async applyCrds(): Promise<void> {
    if (this.crdsApplied || 'missing' in this.build) return;
    const { default: yaml } = await import('js-yaml');
    const files: string[] = [];
    const walk = async (dir: string) => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(path.join(dir, e.name));
        else if (e.name.endsWith('.yaml')) files.push(path.join(dir, e.name));
      }
    };
    await walk(this.build.crds);
    for (const file of files) {
      const crd = yaml.load(readFileSync(file, 'utf8')) as { kind?: string; metadata?: { name?: string } };
      if (crd?.kind !== 'CustomResourceDefinition' || !crd.metadata?.name) continue;
      const r = await this.kube.request('PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=mk8s-addons-sandbox&force=true`, {
        contentType: 'application/apply-patch+yaml',
        body: crd,
      });
      if (r.status !== 200 && r.status !== 201) throw new Error(`cannot register CRD ${crd.metadata.name}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    }
    this.crdsApplied = true;
  }

  private async startAgent(pod: Pod, lp: LocalPod, container: NonNullable<ReturnType<typeof ciliumAgentContainer>>): Promise<void> {
    if ('missing' in this.build) return;
    const build = this.build;
    await this.applyCrds();
    const podDir = path.join(this.node.dir, 'pods', pod.metadata.uid);
    mkdirSync(podDir, { recursive: true, mode: 0o700 });
    // The ConfigMap the pod's config init container reads.
    const mapName = (pod.spec.volumes ?? []).find((v) => v.configMap && /cilium-config/.test(v.name))?.configMap?.name ?? 'cilium-config';
    const cm = await this.kube.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${pod.metadata.namespace}/configmaps/${mapName}`);
    if (cm.status !== 200) throw new Error(`ConfigMap ${mapName}: HTTP ${cm.status}`);
    // The pod's ServiceAccount token, bound to the pod (as the projected token volume holds).
    const sa = pod.spec.serviceAccountName ?? 'default';
    const tr = await this.kube.request<{ status?: { token?: string } }>('POST', `/api/v1/namespaces/${pod.metadata.namespace}/serviceaccounts/${sa}/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 86400, boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid } } },
    });
    const token = tr.body?.status?.token;
    if (!token) throw new Error(`no token for ServiceAccount ${sa}: HTTP ${tr.status}`);
    writeFileSync(this.node.agentNode.kubeconfig, agentKubeconfig({ port: this.node.apiserverPort, caPem: readFileSync(this.node.caFile, 'utf8'), token }), { mode: 0o600 });

    const configDir = path.join(podDir, 'config-map');
    const launch = agentLaunch({ pod, container, configMap: cm.body.data ?? {}, build, node: this.node.agentNode, configDir });
    rmSync(configDir, { recursive: true, force: true });
    mkdirSync(configDir, { recursive: true });
    for (const [k, v] of Object.entries(launch.configFiles)) writeFileSync(path.join(configDir, k), v);
    // The install-cni-binaries init container.
    if (launch.cniBinDir) {
      mkdirSync(launch.cniBinDir, { recursive: true });
      const tmp = path.join(launch.cniBinDir, '.cilium-cni.sandbox-tmp');
      copyFileSync(build.cni, tmp);
      chmodSync(tmp, 0o755);
      renameSync(tmp, path.join(launch.cniBinDir, 'cilium-cni'));
    }
    mkdirSync(launch.runDir, { recursive: true });
    const spec = path.join(podDir, 'launch.json');
    writeFileSync(spec, `${JSON.stringify(launch, null, 2)}\n`, { mode: 0o600 });
    lp.agent = this.spawnAgent(pod, launch, spec);
  }

  private spawnAgent(pod: Pod, launch: AgentLaunch, spec: string): AgentProcess {
    const logFile = path.join(this.node.dir, 'pods', pod.metadata.uid, 'cilium-agent.log');
    const out = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      // Its own process group: a stop signals the agent and the compilers it runs.
      child = spawn('unshare', ['--mount', '--propagation', 'slave', '--', process.execPath, AGENT_LAUNCHER, spec], { detached: true, stdio: ['ignore', out, out], env: launch.env });
    } finally {
      closeSync(out);
    }
    const pid = child.pid ?? 0;
    const proc: AgentProcess = { child, pid, startTime: processStartTime(pid) ?? '', launch, startedAt: new Date().toISOString() };
    child.on('exit', (code, sig) => {
      proc.exited = sig ? `killed by ${sig}` : `exited with code ${code}`;
      this.kick();
    });
    child.on('error', (err) => {
      proc.exited = `could not start: ${err.message}`;
      this.kick();
    });
    this.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: cilium-agent started (pid ${pid}; log ${logFile})`);
    return proc;
  }

  /** The agent's health, read the way its readiness probe does (/healthz: state Ok or Disabled). */
  private async agentHealthy(runDir: string): Promise<boolean> {
    const http = await import('node:http');
    return new Promise((resolve) => {
      const req = http.request({ socketPath: path.join(runDir, 'cilium.sock'), path: '/v1/healthz', headers: { brief: 'true' }, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => {
          try {
            const state = (JSON.parse(body) as { cilium?: { state?: string } }).cilium?.state;
            resolve(res.statusCode === 200 && (state === 'Ok' || state === 'Disabled'));
          } catch {
            resolve(false);
          }
        });
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  private async superviseAgent(pod: Pod, lp: LocalPod): Promise<void> {
    const agent = lp.agent!;
    if (agent.exited !== undefined) {
      lp.ready = false;
      if (Date.now() < lp.nextRestart) return;
      // restartPolicy Always, with the kubelet's doubling back-off (10 s .. 5 min; 2 s first here).
      lp.restartCount++;
      lp.nextRestart = Date.now() + Math.min(2000 * 2 ** Math.min(lp.restartCount, 8), 300_000);
      this.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: cilium-agent ${agent.exited}; restart ${lp.restartCount}`);
      lp.agent = this.spawnAgent(pod, agent.launch, path.join(this.node.dir, 'pods', pod.metadata.uid, 'launch.json'));
      return;
    }
    lp.ready = await this.agentHealthy(agent.launch.runDir);
  }

  private async report(pod: Pod, lp: LocalPod): Promise<void> {
    const containers = pod.spec.containers.map((c) => ({
      name: c.name,
      image: c.image ?? 'sandbox',
      ready: lp.agent && c.name === 'cilium-agent' ? lp.ready : true,
      restartCount: c.name === 'cilium-agent' ? lp.restartCount : 0,
      startedAt: lp.agent && c.name === 'cilium-agent' ? lp.agent.startedAt : lp.startedAt,
    }));
    const body = runningStatus({ hostIP: this.node.ip, podIP: lp.ip ?? this.node.ip, startTime: lp.startedAt, containers, initContainers: (pod.spec.initContainers ?? []).map((c) => c.name) });
    const key = JSON.stringify(containers.map((c) => [c.ready, c.restartCount, c.startedAt]).concat([lp.ip ?? '']));
    const current = pod.status?.phase === 'Running' && (pod.status.conditions ?? []).find((c) => c.type === 'Ready')?.status === (containers.every((c) => c.ready) ? 'True' : 'False');
    if (lp.lastStatus === key && current) return;
    const r = await this.kube.request('PATCH', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}/status`, { contentType: 'application/merge-patch+json', body });
    if (r.status === 200) lp.lastStatus = key;
    else this.log(`status of ${pod.metadata.name}: HTTP ${r.status}`);
  }

  /** Stops the pod's processes and releases its network (CNI DEL, its namespace). */
  async teardown(lp: LocalPod): Promise<void> {
    if (lp.agent && lp.agent.exited === undefined) await stopProcessGroup(lp.agent.pid, lp.agent.startTime, 10_000);
    if (lp.cni) {
      await cniDel(lp.cni.call).catch((err: Error) => this.log(`pod ${lp.namespace}/${lp.name}: CNI DEL: ${err.message}`));
      await run(['ip', ['netns', 'delete', lp.cni.netnsName]]);
    }
    this.log(`pod ${lp.namespace}/${lp.name}: stopped`);
  }

  /** Stops every pod's processes (the kubelet is stopping: MicroK8s stop ends the containers too). */
  async stopAll(): Promise<void> {
    for (const lp of this.local.values()) {
      if (lp.agent && lp.agent.exited === undefined) await stopProcessGroup(lp.agent.pid, lp.agent.startTime, 10_000);
    }
    this.writeState();
  }

  private writeState(): void {
    const state: KubeletState = {
      pid: process.pid,
      startTime: processStartTime(process.pid) ?? '',
      agents: [...this.local.values()]
        .filter((lp) => lp.agent && lp.agent.exited === undefined)
        .map((lp) => ({ pid: lp.agent!.pid, startTime: lp.agent!.startTime, pod: `${lp.namespace}/${lp.name}`, version: 'missing' in this.build ? '' : this.build.version })),
      pods: Object.fromEntries(
        [...this.local.values()].map((lp) => [
          `${lp.namespace}/${lp.name}`,
          lp.agent ? `real cilium-agent${lp.ready ? ' (ready)' : ''}` : lp.simulated ? `simulated agent: ${lp.simulated}` : `simulated containers${lp.cni ? `, network from ${path.basename(lp.cni.call.network.file)}` : ''}`,
        ]),
      ),
    };
    const file = path.join(this.node.dir, 'kubelet.json');
    writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }
}

/** SIGTERM to a process group, SIGKILL after `graceMs`; resolves when its leader is gone. */
export async function stopProcessGroup(pid: number, startTime: string, graceMs: number): Promise<void> {
  const alive = () => pid > 0 && processStartTime(pid) === startTime;
  if (!alive()) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // gone
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive()) signal('SIGKILL');
  while (alive()) await new Promise((r) => setTimeout(r, 100));
}

export type { CniNetwork };
