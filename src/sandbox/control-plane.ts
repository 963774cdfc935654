/**
 * A real local Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, and kwok standing in for kubelets so that Deployments and DaemonSets roll out on fake
 * nodes. The daemons are detached children that outlive the process that started them (`sandbox up`
 * exits and leaves them running); everything another process needs to find, check or stop them is in
 * `DIR/control-plane.json`.
 *
 * Layout of DIR:
 *   control-plane.json   state (pids, ports, commands, server URL, version)
 *   admin.kubeconfig     token auth, trusting the apiserver's self-signed CA (ca.crt)
 *   tokens.csv, sa.key, sa.pub, kwok.yaml, pki/ (apiserver cert-dir), etcd/ (data), logs/NAME.log
 *
 * Linux only: liveness is read from /proc, keyed by pid and start time so a reused pid is never taken
 * for one of ours.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  fstatSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { printCommand, type Command } from '../adapters/process.js';
import { httpRequest } from '../adapters/kube-http.js';
import { InternalError, PreconditionError, StepError } from '../errors.js';
import {
  CONTROL_PLANE_COMPONENTS,
  CONTROL_PLANE_VERSIONS,
  locateControlPlaneBinaries,
  type ControlPlaneBinaries,
  type ControlPlaneComponent,
} from './binaries.js';

export { CONTROL_PLANE_COMPONENTS, type ControlPlaneComponent } from './binaries.js';

/** MicroK8s's service range. */
export const SERVICE_CIDR = '10.152.183.0/24';
/** MicroK8s's default pod range (kept off the service range): the controller-manager's --cluster-cidr. */
export const POD_CIDR = '10.1.0.0/16';
/**
 * Pod IPs kwok hands out on the nodes it plays: the upper half of POD_CIDR, so that they never clash with
 * the addresses a real CNI plugin gives on a node the sandbox's own kubelet runs (its spec.podCIDR,
 * 10.1.<index>.0/24).
 */
export const KWOK_POD_CIDR = '10.1.128.0/17';
/** The label kwok selects the nodes it plays by (`--manage-nodes-with-label-selector`). */
export const KWOK_NODE_LABEL = { key: 'type', kwok: 'kwok', kubelet: 'sandbox-kubelet' } as const;
/** Issuer of ServiceAccount tokens; independent of the port so that a restart keeps tokens valid. */
export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc';

const STATE_FILE = 'control-plane.json';
const STATE_SCHEMA = 1;
const DEFAULT_READINESS_TIMEOUT_MS = 240_000;
const DEFAULT_STOP_GRACE_MS = 15_000;
const POLL_MS = 250;
const PHASE = 'sandbox/control-plane';

/** One daemon of a control plane as recorded in control-plane.json. */
export interface ComponentState {
  /** Process id of the running (or last started) daemon. */
  pid: number;
  /** Start time of `pid` in clock ticks since boot (/proc/PID/stat field 22): tells our process from a reused pid. */
  startTime: string;
  /** What runs; restarting a component runs the same command again. */
  command: Command;
  /** Its stdout and stderr, appended across restarts. */
  log: string;
  /** Liveness/readiness URL polled after a start. */
  healthUrl: string;
}

/** Ports on 127.0.0.1, chosen free at the first start and kept across restarts. */
export interface ControlPlanePorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
}

/** A local control plane: what is stored in DIR/control-plane.json. */
export interface ControlPlane {
  schema: typeof STATE_SCHEMA;
  /** Absolute folder holding the state, credentials, data and logs. */
  dir: string;
  /** API server URL, `https://127.0.0.1:PORT`. */
  server: string;
  /** Admin kubeconfig (DIR/admin.kubeconfig), for kubectl, helm and the controllers. */
  kubeconfig: string;
  /** The apiserver's self-signed CA (DIR/ca.crt). */
  caFile: string;
  /** Bearer token of the admin user (group system:masters). */
  token: string;
  /** `gitVersion` reported by the apiserver, e.g. `v1.34.4`. */
  kubernetesVersion: string;
  /** Names of the nodes: kwok keeps them Ready, except those in `kubeletNodes`. */
  nodes: string[];
  /**
   * Nodes that kwok leaves alone because the sandbox's own kubelet (src/sandbox/kubelet.ts) keeps them
   * Ready and runs their pods. Empty: kwok plays every node.
   */
  kubeletNodes?: string[];
  /** Folder first on kwok's PATH (see StartControlPlaneOptions.kwokPathPrefix). */
  kwokPathPrefix?: string;
  ports: ControlPlanePorts;
  components: Record<ControlPlaneComponent, ComponentState>;
}

export interface StartControlPlaneOptions {
  /** Folder for state, credentials, data and logs; created if missing. A stopped control plane in it is started again with its data. */
  dir: string;
  /** Fake nodes `node-0`…; default 1 (MicroK8s is usually one node). */
  nodes?: number;
  /**
   * Names of nodes that kwok must not play (the sandbox's kubelet does); fixed when the control plane is
   * first created. The start does not wait for them to be Ready: their kubelet is not running yet.
   */
  kubeletNodes?: string[];
  /**
   * kwok ClusterExec objects (apiVersion kwok.x-k8s.io/v1alpha1) written into kwok's configuration when
   * the control plane is first created: `kubectl exec` into a matching container runs a local command.
   */
  kwokExecs?: object[];
  /** Folder put first on kwok's PATH (kwok looks up an exec'd command on its own PATH); kept for restarts. */
  kwokPathPrefix?: string;
  /** The whole environment of every daemon, not merged with anything (the caller decides about proxy variables). Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Folder with the binaries, searched before the build cache (see locateControlPlaneBinaries). Default: $KUBEBUILDER_ASSETS. */
  binDir?: string;
  /** Time allowed for the whole start, ready nodes included. Default 240 000 ms (two shared cores are slow). */
  readinessTimeoutMs?: number;
  /** Told about each phase as it begins, e.g. `kube-apiserver`, `nodes`. */
  onProgress?: (phase: string) => void;
}

/** Whether one daemon is running. */
export interface ComponentStatus {
  name: ControlPlaneComponent;
  pid: number;
  alive: boolean;
  log: string;
}

// ---------------------------------------------------------------- state

function stateFile(dir: string): string {
  return path.join(dir, STATE_FILE);
}

function writeState(cp: ControlPlane): void {
  const file = stateFile(cp.dir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(cp, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

function readState(dir: string): ControlPlane | undefined {
  const file = stateFile(path.resolve(dir));
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let data: Partial<ControlPlane>;
  try {
    data = JSON.parse(text) as Partial<ControlPlane>;
  } catch (err) {
    throw new PreconditionError(`${file} is not valid JSON (${(err as Error).message}): remove the folder ${dir} and start a new control plane`);
  }
  if (data.schema !== STATE_SCHEMA || typeof data.components !== 'object' || data.components === null) {
    throw new PreconditionError(`${file} was not written by this version of mk8s-addons: remove the folder ${dir} and start a new control plane`);
  }
  return data as ControlPlane;
}

/** Reads the state of the control plane in `dir`; throws a PreconditionError when there is none. */
export function loadControlPlane(dir: string): ControlPlane {
  const cp = readState(dir);
  if (cp === undefined) throw new PreconditionError(`there is no control plane in ${path.resolve(dir)} (no ${STATE_FILE}): start one first`);
  return cp;
}

// ---------------------------------------------------------------- processes

/** /proc/PID/stat: state letter and start time, or undefined when there is no such process. */
function procStat(pid: number): { state: string; startTime: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTime = fields[19];
  if (state === undefined || startTime === undefined) return undefined;
  return { state, startTime };
}

/** Start time of a process in clock ticks since boot, or undefined when it does not run. With the pid it names one process for good. */
export function processStartTime(pid: number): string | undefined {
  const stat = procStat(pid);
  return stat === undefined || stat.state === 'Z' || stat.state === 'X' ? undefined : stat.startTime;
}

/** Whether the process `pid` that started at `startTime` still runs (false for a reused pid and for a zombie). */
export function isRunning(c: { pid: number; startTime: string }): boolean {
  const stat = procStat(c.pid);
  // A zombie has exited; its parent (maybe a container's init that never reaps) just has not collected it.
  return stat !== undefined && stat.startTime === c.startTime && stat.state !== 'Z' && stat.state !== 'X';
}

function signal(c: ComponentState, sig: NodeJS.Signals): void {
  if (!isRunning(c)) return;
  try {
    process.kill(c.pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** The last lines of a log file, joined into one line for an error message. */
export function logTail(file: string, lines = 12): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '(no log)';
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    const tail = buf
      .toString('utf8')
      .split('\n')
      .map((l) => l.trimEnd())
      // Our own "--- starting" markers tell nothing about why a daemon failed.
      .filter((l) => l !== '' && !l.startsWith('--- '))
      .slice(-lines)
      .map((l) => (l.length > 500 ? `${l.slice(0, 500)}…` : l));
    return tail.length > 0 ? tail.join(' | ') : '(empty log)';
  } finally {
    closeSync(fd);
  }
}

/** A daemon this process started, with what we learn from its handle (its exit). */
interface Started {
  name: ControlPlaneComponent;
  state: ComponentState;
  /** How it ended (`exited with code 1`), once our handle has seen it. */
  exit?: string;
  exited: Promise<string>;
}

async function spawnDaemon(name: ControlPlaneComponent, state: Omit<ComponentState, 'pid' | 'startTime'>, env: NodeJS.ProcessEnv): Promise<Started> {
  const [file, args] = state.command;
  writeFileSync(state.log, `--- ${new Date().toISOString()} starting: ${printCommand(state.command)}\n`, { flag: 'a' });
  const out = openSync(state.log, 'a');
  let child: ChildProcess;
  try {
    // detached: its own session, so it outlives us and a Ctrl+C in our terminal does not reach it.
    child = spawn(file, [...args], { detached: true, stdio: ['ignore', out, out], env });
  } finally {
    closeSync(out);
  }
  if (child.pid === undefined) {
    const err = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new StepError(`cannot start ${name} (${file}): ${err.message}`, { phase: `${PHASE}/${name}` });
  }
  const pid = child.pid;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, sig) => resolve(sig === null ? `exited with code ${code}` : `was killed by ${sig}`));
  });
  child.unref();
  const started: Started = { name, state: { ...state, pid, startTime: processStartTime(pid) ?? '' }, exited };
  void exited.then((how) => {
    started.exit = how;
  });
  return started;
}

async function waitUntilGone(components: ComponentState[], deadline: number): Promise<ComponentState[]> {
  for (;;) {
    const left = components.filter(isRunning);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await sleep(100);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once none of them runs any more. */
async function terminate(components: ComponentState[], graceMs: number): Promise<void> {
  for (const c of components) signal(c, 'SIGTERM');
  let left = await waitUntilGone(components, Date.now() + graceMs);
  for (const c of left) signal(c, 'SIGKILL');
  left = await waitUntilGone(left, Date.now() + 30_000);
  if (left.length > 0) {
    throw new InternalError(`pids ${left.map((c) => c.pid).join(', ')} still run 30 s after SIGKILL: check them with ps`);
  }
}

// ---------------------------------------------------------------- HTTP

/** One request through the project's HTTP client (src/adapters/kube-http.ts); the body as text. */
async function request(url: string, opts: { method?: string; token?: string; ca?: string; insecure?: boolean; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (opts.token !== undefined) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await httpRequest(new URL(url), {
    method: opts.method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    timeoutMs: opts.timeoutMs ?? 10_000,
    ca: opts.ca,
    insecure: opts.insecure,
  });
  return { status: r.status, body: r.text };
}

/**
 * One call to the control plane's API as the admin user, e.g. `kubeApi(cp, 'GET', '/api/v1/nodes')`.
 * Resolves with the HTTP status and the parsed JSON body (undefined when the body is not JSON).
 */
export async function kubeApi<T = unknown>(
  cp: Pick<ControlPlane, 'server' | 'token' | 'caFile'>,
  method: string,
  apiPath: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const r = await request(new URL(apiPath, cp.server).toString(), { method, token: cp.token, ca: readFileSync(cp.caFile, 'utf8'), body });
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.body);
  } catch {
    parsed = undefined;
  }
  return { status: r.status, body: parsed as T };
}

// ---------------------------------------------------------------- generated files

function freePorts(count: number): Promise<number[]> {
  // Hold every listener until all are open so that the ports differ from each other.
  const servers: net.Server[] = [];
  const open = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = net.createServer();
      servers.push(s);
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port));
    });
  return (async () => {
    try {
      const ports: number[] = [];
      for (let i = 0; i < count; i++) ports.push(await open());
      return ports;
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  })();
}

function writeIfMissing(file: string, make: () => string, mode = 0o600): void {
  if (!existsSync(file)) writeFileSync(file, make(), { mode });
}

/** The CA that signed the apiserver's self-generated serving cert (PKI/apiserver.crt holds cert, then CA). */
function apiserverCa(certFile: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(certFile, 'utf8');
  } catch {
    return undefined;
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const certs = pems.map((pem) => ({ pem, cert: new X509Certificate(pem) }));
  const serving = certs[0];
  if (serving === undefined) return undefined;
  const ca = certs.find((c) => c.cert.ca && serving.cert.checkIssued(c.cert)) ?? serving;
  return `${ca.pem}\n`;
}

function adminKubeconfig(server: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: local',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    '- name: admin',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: local',
    '  context:',
    '    cluster: local',
    '    user: admin',
    'current-context: local',
    '',
  ].join('\n');
}

const KWOK_CONFIG = `# Read instead of ~/.kwok/kwok.yaml; no Stage objects, so kwok v0.7.0 uses its built-in stages.
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {}
`;

function commands(dir: string, bin: ControlPlaneBinaries, ports: ControlPlanePorts): Record<ControlPlaneComponent, { command: Command; healthUrl: string }> {
  const f = (name: string) => path.join(dir, name);
  const kubeconfig = f('admin.kubeconfig');
  const local = '127.0.0.1';
  const etcd = `http://${local}:${ports.etcdClient}`;
  // The controllers' own HTTPS ports exist for /healthz only (always allowed without credentials).
  const controllerServing = (port: number) => [
    `--bind-address=${local}`,
    `--secure-port=${port}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    // The apiserver has no client CA, so it never writes configmap extension-apiserver-authentication.
    '--authentication-skip-lookup=true',
  ];
  return {
    etcd: {
      command: [
        bin.etcd,
        [
          `--data-dir=${f('etcd')}`,
          '--name=default',
          `--listen-client-urls=${etcd}`,
          `--advertise-client-urls=${etcd}`,
          `--listen-peer-urls=http://${local}:${ports.etcdPeer}`,
          `--initial-advertise-peer-urls=http://${local}:${ports.etcdPeer}`,
          `--initial-cluster=default=http://${local}:${ports.etcdPeer}`,
          '--unsafe-no-fsync=true',
        ],
      ],
      healthUrl: `${etcd}/health`,
    },
    'kube-apiserver': {
      command: [
        bin['kube-apiserver'],
        [
          `--etcd-servers=${etcd}`,
          // Without both, an apiserver on a host with no default route exits: "Unable to find suitable network address".
          `--bind-address=${local}`,
          `--advertise-address=${local}`,
          `--secure-port=${ports.apiserver}`,
          `--cert-dir=${f('pki')}`,
          `--token-auth-file=${f('tokens.csv')}`,
          '--authorization-mode=RBAC',
          `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
          `--service-account-key-file=${f('sa.pub')}`,
          `--service-account-signing-key-file=${f('sa.key')}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          '--allow-privileged=true',
          // Endpoints may not hold a loopback address: the reconciler would log a failure every 10 s.
          '--endpoint-reconciler-type=none',
          // Unset, a SIGTERM waits out the open watches of the controllers and kwok (about a minute).
          '--shutdown-watch-termination-grace-period=2s',
          // Kubelets are reached at a node's InternalDNS address first: the sandbox kubelet's node gives
          // `localhost` there, with kwok's port as its kubelet port, so exec and logs reach kwok's server.
          '--kubelet-preferred-address-types=InternalDNS,Hostname,InternalIP,ExternalDNS,ExternalIP',
        ],
      ],
      healthUrl: `https://${local}:${ports.apiserver}/readyz`,
    },
    'kube-controller-manager': {
      command: [
        bin['kube-controller-manager'],
        [
          `--kubeconfig=${kubeconfig}`,
          '--leader-elect=false',
          ...controllerServing(ports.controllerManager),
          // Token controller and kube-root-ca.crt publisher: pods with a ServiceAccount get admitted.
          `--service-account-private-key-file=${f('sa.key')}`,
          `--root-ca-file=${f('ca.crt')}`,
          `--cluster-cidr=${POD_CIDR}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
        ],
      ],
      healthUrl: `https://${local}:${ports.controllerManager}/healthz`,
    },
    'kube-scheduler': {
      command: [bin['kube-scheduler'], [`--kubeconfig=${kubeconfig}`, '--leader-elect=false', ...controllerServing(ports.scheduler)]],
      healthUrl: `https://${local}:${ports.scheduler}/healthz`,
    },
    kwok: {
      command: [
        bin.kwok,
        [
          `--kubeconfig=${kubeconfig}`,
          `--config=${f('kwok.yaml')}`,
          `--manage-nodes-with-label-selector=${KWOK_NODE_LABEL.key}=${KWOK_NODE_LABEL.kwok}`,
          `--cidr=${KWOK_POD_CIDR}`,
          '--node-lease-duration-seconds=40',
          `--server-address=${local}:${ports.kwok}`,
          // The kubelet API (exec, logs) over HTTPS, as the apiserver expects of a kubelet; it does not
          // verify the certificate (no --kubelet-certificate-authority), so the apiserver's own serves.
          `--tls-cert-file=${f('pki/apiserver.crt')}`,
          `--tls-private-key-file=${f('pki/apiserver.key')}`,
        ],
      ],
      healthUrl: `https://${local}:${ports.kwok}/healthz`,
    },
  };
}

// ---------------------------------------------------------------- readiness

class Waiter {
  constructor(
    private readonly deadline: number,
    private readonly timeoutMs: number,
    private readonly watched: Started[],
    /** Ends the message when a daemon exits, e.g. "before the control plane was ready". */
    private readonly before: string,
  ) {}

  /** Polls `ready` until it returns true; fails as soon as a daemon we started exits, or at the deadline. */
  async until(what: string, owner: ComponentState, ready: () => Promise<boolean>): Promise<void> {
    let lastError = '';
    for (;;) {
      for (const s of this.watched) {
        if (s.exit !== undefined || !isRunning(s.state)) {
          // /proc can show it gone before our handle reports the exit: wait for that, it says how it ended.
          // (The timer also keeps the event loop, and so the unref'd handle's exit callback, alive.)
          const how = s.exit ?? (await Promise.race([s.exited, sleep(5_000, 'exited')]));
          throw new StepError(`${s.name} ${how} ${this.before}; last lines of ${s.state.log}: ${logTail(s.state.log)}`, {
            phase: `${PHASE}/${s.name}`,
          });
        }
      }
      try {
        if (await ready()) return;
        lastError = '';
      } catch (err) {
        lastError = ` (last error: ${(err as Error).message})`;
      }
      if (Date.now() >= this.deadline) {
        throw new StepError(
          `timed out after ${this.timeoutMs} ms waiting for ${what}${lastError}; last lines of ${owner.log}: ${logTail(owner.log)}`,
          { phase: PHASE },
        );
      }
      await sleep(POLL_MS);
    }
  }
}

async function isHealthy(cp: ControlPlane, name: ControlPlaneComponent): Promise<boolean> {
  const c = cp.components[name];
  if (name === 'kube-apiserver') {
    if (!existsSync(cp.caFile)) return false;
    return (await request(c.healthUrl, { token: cp.token, ca: readFileSync(cp.caFile, 'utf8'), timeoutMs: 5_000 })).status === 200;
  }
  // etcd serves plain HTTP; kwok and the controllers self-signed HTTPS: only /healthz, no credentials sent.
  const r = await request(c.healthUrl, { insecure: true, timeoutMs: 5_000 });
  return r.status === 200 && (name !== 'etcd' || (JSON.parse(r.body) as { health?: string }).health === 'true');
}

/** Waits until the apiserver has written its serving cert, then records its CA and the admin kubeconfig. */
async function publishCredentials(cp: ControlPlane, waiter: Waiter): Promise<void> {
  const certFile = path.join(cp.dir, 'pki', 'apiserver.crt');
  await waiter.until('kube-apiserver to write its serving certificate', cp.components['kube-apiserver'], async () => existsSync(certFile));
  let ca: string | undefined;
  await waiter.until('a readable kube-apiserver serving certificate', cp.components['kube-apiserver'], async () => {
    ca = apiserverCa(certFile);
    return ca !== undefined;
  });
  writeFileSync(cp.caFile, ca!, { mode: 0o644 });
  writeFileSync(cp.kubeconfig, adminKubeconfig(cp.server, ca!, cp.token), { mode: 0o600 });
}

const ARCH: Partial<Record<NodeJS.Architecture, string>> = { x64: 'amd64', arm64: 'arm64', s390x: 's390x', ppc64: 'ppc64le' };

/**
 * A Node object as MicroK8s registers it (no taints, so DaemonSets and Deployments land on it), for kwok
 * to play, or, with `kubelet`, for the sandbox's own kubelet. Its spec.podCIDR is 10.1.<index>.0/24 (what
 * Cilium's Kubernetes IPAM reads).
 */
export function fakeNode(name: string, index: number, kubernetesVersion: string, kubelet = false): object {
  const arch = ARCH[process.arch] ?? process.arch;
  const resources = { cpu: '4', memory: '8Gi', pods: '110', 'ephemeral-storage': '50Gi' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': arch,
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': arch,
        'node.kubernetes.io/microk8s-controlplane': 'microk8s-controlplane',
        [KWOK_NODE_LABEL.key]: kubelet ? KWOK_NODE_LABEL.kubelet : KWOK_NODE_LABEL.kwok,
      },
      annotations: kubelet ? { 'node.alpha.kubernetes.io/ttl': '0' } : { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
    },
    spec: { podCIDR: nodePodCidr(index), podCIDRs: [nodePodCidr(index)] },
    status: {
      capacity: resources,
      allocatable: resources,
      // TEST-NET-1 (RFC 5737): fake, never routed; hostNetwork pods get these as pod IPs.
      addresses: [
        { type: 'InternalIP', address: `192.0.2.${10 + index}` },
        { type: 'Hostname', address: name },
        // See --kubelet-preferred-address-types: the apiserver reaches this node's kubelet API on 127.0.0.1.
        ...(kubelet ? [{ type: 'InternalDNS', address: 'localhost' }] : []),
      ],
      nodeInfo: { architecture: arch, operatingSystem: 'linux', kubeletVersion: kubernetesVersion, containerRuntimeVersion: `kwok://${CONTROL_PLANE_VERSIONS.kwok}` },
    },
  };
}

/** The pod range of the index-th node: 10.1.<index>.0/24 (within POD_CIDR, below KWOK_POD_CIDR). */
export function nodePodCidr(index: number): string {
  return `10.1.${index}.0/24`;
}

interface NodeList {
  items: { metadata: { name: string }; spec?: { taints?: unknown[] }; status?: { conditions?: { type: string; status: string }[] } }[];
}

async function createNodes(cp: ControlPlane, names: string[]): Promise<void> {
  for (const [index, name] of names.entries()) {
    const r = await kubeApi<{ message?: string }>(cp, 'POST', '/api/v1/nodes', fakeNode(name, index, cp.kubernetesVersion, (cp.kubeletNodes ?? []).includes(name)));
    if (r.status !== 201 && r.status !== 409) {
      throw new StepError(`cannot create node ${name}: HTTP ${r.status} ${r.body?.message ?? ''}`.trimEnd(), { phase: `${PHASE}/nodes` });
    }
  }
}

async function nodesReady(cp: ControlPlane, names: string[]): Promise<boolean> {
  const r = await kubeApi<NodeList>(cp, 'GET', '/api/v1/nodes');
  if (r.status !== 200) return false;
  return names.every((name) => {
    const node = r.body.items.find((n) => n.metadata.name === name);
    const ready = node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    // The node lifecycle controller removes its not-ready taint a moment after kwok reports Ready.
    return ready && (node?.spec?.taints ?? []).length === 0;
  });
}

// ---------------------------------------------------------------- lifecycle

function prepareDir(dir: string, kwokExecs: object[] = []): { token: string } {
  mkdirSync(path.join(dir, 'logs'), { recursive: true });
  mkdirSync(path.join(dir, 'pki'), { recursive: true, mode: 0o700 });
  mkdirSync(path.join(dir, 'etcd'), { recursive: true, mode: 0o700 });
  writeIfMissing(path.join(dir, 'tokens.csv'), () => `${randomBytes(24).toString('hex')},admin,admin,system:masters\n`);
  const token = readFileSync(path.join(dir, 'tokens.csv'), 'utf8').split(',')[0]!;
  if (!existsSync(path.join(dir, 'sa.key'))) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(path.join(dir, 'sa.pub'), publicKey, { mode: 0o644 });
    writeFileSync(path.join(dir, 'sa.key'), privateKey, { mode: 0o600 });
  }
  writeIfMissing(path.join(dir, 'kwok.yaml'), () => [KWOK_CONFIG, ...kwokExecs.map((e) => `---\n${JSON.stringify(e, null, 2)}\n`)].join(''), 0o644);
  return { token };
}

async function newControlPlane(dir: string, token: string, nodes: number, bin: ControlPlaneBinaries, kubeletNodes: string[]): Promise<ControlPlane> {
  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok] = (await freePorts(6)) as [number, number, number, number, number, number];
  const ports: ControlPlanePorts = { etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwok };
  const cmds = commands(dir, bin, ports);
  const components = Object.fromEntries(
    CONTROL_PLANE_COMPONENTS.map((name) => [name, { pid: 0, startTime: '', ...cmds[name], log: path.join(dir, 'logs', `${name}.log`) }]),
  ) as Record<ControlPlaneComponent, ComponentState>;
  return {
    schema: STATE_SCHEMA,
    dir,
    server: `https://127.0.0.1:${apiserver}`,
    kubeconfig: path.join(dir, 'admin.kubeconfig'),
    caFile: path.join(dir, 'ca.crt'),
    token,
    kubernetesVersion: '',
    nodes: Array.from({ length: nodes }, (_, i) => `node-${i}`),
    kubeletNodes,
    ports,
    components,
  };
}

/** The environment a daemon starts with: the one given, and for kwok its PATH prefix (kwokPathPrefix). */
function daemonEnv(cp: ControlPlane, name: ControlPlaneComponent, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (name !== 'kwok' || !cp.kwokPathPrefix) return env;
  return { ...env, PATH: `${cp.kwokPathPrefix}:${env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` };
}

/**
 * Starts a local control plane in `opts.dir` and resolves once it is usable: /readyz answers, every
 * component is healthy, the fake nodes are Ready without taints, and the `default` ServiceAccount exists
 * in `default` and `kube-system`. Components already running there are left alone; stopped ones are
 * started again on their recorded ports with the binaries found now, keeping data and credentials.
 * On failure the daemons started by this call are stopped and a StepError carries the last lines of the
 * failing component's log.
 */
export async function startControlPlane(opts: StartControlPlaneOptions): Promise<ControlPlane> {
  const dir = path.resolve(opts.dir);
  const timeoutMs = opts.readinessTimeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const env = opts.env ?? process.env;
  const progress = opts.onProgress ?? (() => {});

  const existing = readState(dir);
  // Before anything is written: missing binaries leave no half-made folder.
  const bin = locateControlPlaneBinaries({ binDir: opts.binDir });
  const { token } = prepareDir(dir, opts.kwokExecs);
  const cp = existing ?? (await newControlPlane(dir, token, opts.nodes ?? 1, bin, opts.kubeletNodes ?? []));
  if (existing === undefined && opts.kwokPathPrefix) cp.kwokPathPrefix = opts.kwokPathPrefix;
  if (existing !== undefined) {
    // Same ports and files, but today's binaries: a fixed binDir or a rebuilt cache takes effect.
    const cmds = commands(dir, bin, cp.ports);
    for (const name of CONTROL_PLANE_COMPONENTS) {
      if (!isRunning(cp.components[name])) cp.components[name] = { ...cp.components[name], ...cmds[name] };
    }
  }
  if (opts.nodes !== undefined && opts.nodes > cp.nodes.length) {
    cp.nodes = Array.from({ length: opts.nodes }, (_, i) => `node-${i}`);
  }
  writeState(cp);

  const started: Started[] = [];
  const waiter = new Waiter(deadline, timeoutMs, started, 'before the control plane was ready');
  try {
    for (const name of CONTROL_PLANE_COMPONENTS) {
      const c = cp.components[name];
      if (!isRunning(c)) {
        progress(name);
        const s = await spawnDaemon(name, c, daemonEnv(cp, name, env));
        started.push(s);
        cp.components[name] = s.state;
        // Recorded at once, so that a caller killed during the start still leaves findable pids.
        writeState(cp);
      }
      if (name === 'kube-apiserver') await publishCredentials(cp, waiter);
      // etcd and the apiserver must serve before the controllers can connect; the rest start together.
      if (name === 'etcd' || name === 'kube-apiserver') await waiter.until(`${name} to be ready`, c, () => isHealthy(cp, name));
    }
    for (const name of ['kube-controller-manager', 'kube-scheduler', 'kwok'] as const) {
      await waiter.until(`${name} to be healthy`, cp.components[name], () => isHealthy(cp, name));
    }
    const version = await kubeApi<{ gitVersion?: string }>(cp, 'GET', '/version');
    cp.kubernetesVersion = version.body?.gitVersion ?? 'unknown';
    writeState(cp);

    progress('nodes');
    await createNodes(cp, cp.nodes);
    // Nodes of the sandbox's kubelet become Ready once it runs, after this start.
    const kwokNodes = cp.nodes.filter((n) => !(cp.kubeletNodes ?? []).includes(n));
    await waiter.until(`nodes ${kwokNodes.join(', ')} to be Ready without taints`, cp.components.kwok, () => nodesReady(cp, kwokNodes));
    progress('service accounts');
    for (const ns of ['default', 'kube-system']) {
      await waiter.until(
        `the default ServiceAccount in namespace ${ns}`,
        cp.components['kube-controller-manager'],
        async () => (await kubeApi(cp, 'GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200,
      );
    }
    return cp;
  } catch (err) {
    await terminate(started.map((s) => s.state).reverse(), DEFAULT_STOP_GRACE_MS).catch(() => {});
    throw err;
  }
}

/** Which daemons of the control plane in `dir` are running (all `alive: false` once stopped). */
export function controlPlaneStatus(dir: string): ComponentStatus[] {
  const cp = loadControlPlane(dir);
  return CONTROL_PLANE_COMPONENTS.map((name) => {
    const c = cp.components[name];
    return { name, pid: c.pid, alive: c.pid > 0 && isRunning(c), log: c.log };
  });
}

/**
 * Stops every daemon of the control plane in `dir` (SIGTERM, SIGKILL after `graceMs`, default 15 s) and
 * resolves once none runs any more. Keeps data, logs and state, so it can be started again. Does nothing
 * when `dir` holds no control plane or it is already stopped.
 */
export async function stopControlPlane(dir: string, opts: { graceMs?: number } = {}): Promise<void> {
  const cp = readState(dir);
  if (cp === undefined) return;
  const order = [...CONTROL_PLANE_COMPONENTS].reverse().map((name) => cp.components[name]);
  await terminate(order, opts.graceMs ?? DEFAULT_STOP_GRACE_MS);
}

/** Stops one daemon (SIGTERM, then SIGKILL after `graceMs`); nothing happens when it is not running. */
export async function stopComponent(dir: string, name: ControlPlaneComponent, opts: { graceMs?: number } = {}): Promise<void> {
  await terminate([loadControlPlane(dir).components[name]], opts.graceMs ?? DEFAULT_STOP_GRACE_MS);
}

/**
 * Starts one stopped daemon again with its recorded command and the given environment, and waits until
 * it is healthy (it is left alone when it already runs). How a service manager maps a MicroK8s service
 * start onto this control plane.
 */
export async function startComponent(
  dir: string,
  name: ControlPlaneComponent,
  opts: { env?: NodeJS.ProcessEnv; readinessTimeoutMs?: number } = {},
): Promise<ControlPlane> {
  const cp = loadControlPlane(dir);
  const timeoutMs = opts.readinessTimeoutMs ?? DEFAULT_READINESS_TIMEOUT_MS;
  const c = cp.components[name];
  if (isRunning(c)) return cp;
  const s = await spawnDaemon(name, c, daemonEnv(cp, name, opts.env ?? process.env));
  cp.components[name] = s.state;
  writeState(cp);
  const waiter = new Waiter(Date.now() + timeoutMs, timeoutMs, [s], 'before it was healthy');
  try {
    await waiter.until(`${name} to be healthy`, s.state, () => isHealthy(cp, name));
  } catch (err) {
    await terminate([s.state], DEFAULT_STOP_GRACE_MS).catch(() => {});
    throw err;
  }
  return cp;
}

/** Stops one daemon and starts it again with `opts.env` (e.g. a MicroK8s service restart). */
export async function restartComponent(
  dir: string,
  name: ControlPlaneComponent,
  opts: { env?: NodeJS.ProcessEnv; readinessTimeoutMs?: number; graceMs?: number } = {},
): Promise<ControlPlane> {
  await stopComponent(dir, name, opts);
  return startComponent(dir, name, opts);
}
