/**
 * The Kubernetes API over plain node:https, for reads (and server-side dry-runs): what --dry-run and a
 * no-op re-run need, without the 0.8 s import of @kubernetes/client-node, which src/adapters/kube.ts loads
 * only to change objects. Reads the kubeconfig itself: token, basic or client-certificate
 * users; CA data, CA file or insecure-skip-tls-verify clusters.
 */
import https from 'node:https';
import http from 'node:http';
import { createSecureContext } from 'node:tls';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { StepError, redactSecrets } from '../errors.js';

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface KubeHttp {
  server: string;
  /**
   * A watch (`?watch=1`): calls `onEvent` for each event as it arrives; resolves when the server ends the
   * stream (watches time out) or `signal` aborts it.
   */
  watch<T = unknown>(apiPath: string, onEvent: (e: WatchEvent<T>) => void, signal?: AbortSignal): Promise<void>;
  /** One API call; resolves with the status and the parsed JSON body (also for error statuses). */
  request<T = unknown>(method: string, apiPath: string, opts?: { body?: unknown; contentType?: string; timeoutMs?: number }): Promise<{ status: number; body: T }>;
}

type KubeconfigFile = {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: { name: string; cluster: { server: string; 'certificate-authority-data'?: string; 'certificate-authority'?: string; 'insecure-skip-tls-verify'?: boolean } }[];
  users?: { name: string; user: { token?: string; tokenFile?: string; username?: string; password?: string; 'client-certificate-data'?: string; 'client-key-data'?: string; 'client-certificate'?: string; 'client-key'?: string } }[];
};

const b64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64') : undefined);

/** What a kubeconfig's current context says: where the API server is and who we are to it. */
export interface KubeconfigTarget {
  /** The server as written (credentials in it count as basic auth, as for kubectl). */
  url: URL;
  /** The server for messages: credentials left out. */
  shownServer: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure: boolean;
  token?: string;
  username?: string;
  password?: string;
}

/**
 * The one kubeconfig reader: its current context (else the first), files named in it resolved against
 * the kubeconfig's folder, as kubectl does. Both API clients (this one for reads, client-node for
 * changes, src/adapters/kube.ts) are made from what it returns.
 */
export async function readKubeconfig(kubeconfig: string): Promise<KubeconfigTarget> {
  const { default: yaml } = await import('js-yaml');
  let cfg: KubeconfigFile;
  try {
    cfg = yaml.load(readFileSync(kubeconfig, 'utf8')) as KubeconfigFile;
  } catch (err) {
    throw new StepError(`cannot read the kubeconfig ${kubeconfig}: ${(err as Error).message.split('\n')[0]}; give --kubeconfig, or check that MicroK8s is running`);
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) {
    throw new StepError(`the kubeconfig ${kubeconfig} is ${cfg === undefined ? 'empty' : 'not a kubeconfig (not a map)'}; give --kubeconfig with a working one (microk8s config writes one)`);
  }
  const list = <T>(v: T[] | undefined): T[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'object' && x !== null) : []);
  const [contexts, clusters, users] = [list(cfg.contexts), list(cfg.clusters), list(cfg.users)];
  const base = path.dirname(kubeconfig);
  const file = (p: string | undefined) => (p ? readFileSync(path.resolve(base, p)) : undefined);
  const ctxName = cfg['current-context'] ?? contexts[0]?.name;
  const ctx = contexts.find((c) => c.name === ctxName)?.context;
  const cluster = clusters.find((c) => c.name === ctx?.cluster)?.cluster ?? clusters[0]?.cluster;
  const user = users.find((u) => u.name === ctx?.user)?.user ?? users[0]?.user ?? {};
  if (typeof cluster?.server !== 'string' || cluster.server === '') throw new StepError(`the kubeconfig ${kubeconfig} names no cluster server; give --kubeconfig with a working one`);
  let url: URL;
  try {
    url = new URL(cluster.server);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(url.protocol);
  } catch {
    throw new StepError(`the kubeconfig ${kubeconfig} has a cluster server that is not an http(s) URL; give --kubeconfig with a working one`);
  }
  const fromUrl = url.username ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) } : {};
  return {
    url,
    shownServer: redactSecrets(cluster.server),
    ca: b64(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']),
    cert: b64(user['client-certificate-data']) ?? file(user['client-certificate']),
    key: b64(user['client-key-data']) ?? file(user['client-key']),
    insecure: cluster['insecure-skip-tls-verify'] === true,
    token: user.token ?? (user.tokenFile ? readFileSync(path.resolve(base, user.tokenFile), 'utf8').trim() : undefined),
    ...(user.username ? { username: user.username, password: user.password ?? '' } : fromUrl),
  };
}

/** Reads a kubeconfig (its current context) into an HTTP client. */
export async function connectHttp(kubeconfig: string): Promise<KubeHttp> {
  return httpClient(await readKubeconfig(kubeconfig));
}

/** An HTTP client for the API server a kubeconfig names. */
export function httpClient(target: KubeconfigTarget): KubeHttp {
  const { url, shownServer, token } = target;
  const tls = url.protocol === 'https:';
  const agentOptions: https.AgentOptions = {
    // One TLS context for every connection of this client (given CA and client certificate, or none),
    // not one built per connection from the same options.
    ...(tls ? { secureContext: createSecureContext({ ca: target.ca, cert: target.cert, key: target.key }) } : {}),
    rejectUnauthorized: !target.insecure,
    // One TLS handshake (client certificate included) per connection, not per request; idle pooled
    // sockets are unref'd by the agent, so they never keep the process alive.
    keepAlive: true,
  };
  const agent = tls ? new https.Agent(agentOptions) : undefined;
  const basic = (name: string, password: string) => `Basic ${Buffer.from(`${name}:${password}`).toString('base64')}`;
  // Credentials in the server URL count as basic auth, as for kubectl (Go's HTTP client).
  const auth = token ? `Bearer ${token}` : target.username !== undefined ? basic(target.username, target.password ?? '') : undefined;
  const prefix = url.pathname.replace(/\/$/, '');

  const baseOptions = (method: string, apiPath: string, headers: Record<string, string>) => ({
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port,
    path: `${prefix}${apiPath}`,
    method,
    headers: { Accept: 'application/json', 'User-Agent': 'mk8s-addons', ...(auth ? { Authorization: auth } : {}), ...headers },
    agent,
  });

  return {
    server: shownServer,
    watch<T>(apiPath: string, onEvent: (e: WatchEvent<T>) => void, signal?: AbortSignal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return resolve();
        const sep = apiPath.includes('?') ? '&' : '?';
        const req = (tls ? https : http).request({ ...baseOptions('GET', `${apiPath}${sep}watch=1`, {}), signal }, (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(new StepError(`watch ${apiPath} failed (${res.statusCode})`));
            return;
          }
          let buffered = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffered += chunk;
            let nl: number;
            while ((nl = buffered.indexOf('\n')) >= 0) {
              const line = buffered.slice(0, nl).trim();
              buffered = buffered.slice(nl + 1);
              if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
            }
          });
          res.on('end', () => resolve());
          res.on('error', () => resolve());
        });
        req.on('error', (err) => (signal?.aborted ? resolve() : reject(new StepError(`cannot watch ${apiPath} on ${shownServer}: ${err.message}`))));
        req.end();
      });
    },
    async request<T>(method: string, apiPath: string, opts: { body?: unknown; contentType?: string; timeoutMs?: number } = {}) {
      const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
      const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'mk8s-addons' };
      if (auth) headers.Authorization = auth;
      if (payload) headers['Content-Type'] = opts.contentType ?? 'application/json';
      let r: HttpResponse;
      try {
        r = await httpRequest(new URL(`${prefix}${apiPath}`, url.origin), { method, headers, body: payload, agent, timeoutMs: opts.timeoutMs ?? 30_000 });
      } catch (err) {
        const message = (err as Error).message.replace(/^no answer within/, `no answer from ${shownServer} within`);
        throw new StepError(`cannot reach the API server ${shownServer}: ${message}; is MicroK8s running? (mk8s-addons start)`);
      }
      let body: unknown = r.text;
      try {
        body = r.text ? JSON.parse(r.text) : undefined;
      } catch {
        // Not JSON (a proxy's error page): keep the text.
      }
      return { status: r.status, body: body as T };
    },
  };
}

export interface HttpResponse {
  status: number;
  /** The body as text. */
  text: string;
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** No answer within this time: the request is destroyed with "no answer within N ms" (default 30 s). */
  timeoutMs?: number;
  /** A keep-alive agent (with its TLS options), or none: one connection for this request. */
  agent?: http.Agent;
  /** TLS without an agent: the CA to trust, or no verification at all (self-signed health endpoints). */
  ca?: string | Buffer;
  insecure?: boolean;
}

/**
 * The one HTTP(S) client for reads: the API client above and the sandbox's control plane (health
 * endpoints, its admin calls) both send through it. Resolves with the status and the body's text, for
 * error statuses too; rejects with the socket's error (a timeout: "no answer within N ms").
 */
export function httpRequest(target: URL, opts: HttpOptions = {}): Promise<HttpResponse> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const headers = { ...opts.headers };
  if (opts.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(opts.body));
  return new Promise((resolve, reject) => {
    const common = { method: opts.method ?? 'GET', headers, agent: opts.agent ?? false, timeout: timeoutMs };
    const req =
      target.protocol === 'https:'
        ? https.request(target, opts.agent ? common : { ...common, ca: opts.ca, rejectUnauthorized: opts.insecure !== true })
        : http.request(target, common);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.end(opts.body);
  });
}

/** Where the API serves a kind (the kinds mk8s-addons reads); undefined for others (the full client discovers them). */
const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'v1/Service': { plural: 'services', namespaced: true },
  'v1/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  'v1/Secret': { plural: 'secrets', namespaced: true },
  'v1/Pod': { plural: 'pods', namespaced: true },
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/Node': { plural: 'nodes', namespaced: false },
  'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
  'apps/v1/DaemonSet': { plural: 'daemonsets', namespaced: true },
  'apps/v1/StatefulSet': { plural: 'statefulsets', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': { plural: 'clusterroles', namespaced: false },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': { plural: 'clusterrolebindings', namespaced: false },
  'rbac.authorization.k8s.io/v1/Role': { plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { plural: 'rolebindings', namespaced: true },
};

/** The API path of an object, or undefined for a kind not in the table. */
export function objectPath(ref: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): string | undefined {
  const r = RESOURCES[`${ref.apiVersion}/${ref.kind}`];
  if (!r) return undefined;
  const root = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
  const ns = r.namespaced ? `/namespaces/${encodeURIComponent(ref.metadata.namespace ?? 'default')}` : '';
  return `${root}${ns}/${r.plural}/${encodeURIComponent(ref.metadata.name)}`;
}

/** A list path with optional label selector: `listPath('/api/v1', 'pods', 'kube-system', 'k8s-app=cilium')`. */
export function listPath(root: string, plural: string, namespace?: string, labelSelector?: string): string {
  return `${root}${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${plural}${labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : ''}`;
}


/**
 * Whether an error means the API server could not be reached (down, restarting, overloaded) rather than
 * that it refused the request: worth retrying. Matches our messages, the Kubernetes client's and Helm's.
 */
export function isApiUnreachable(err: unknown): boolean {
  if (err === undefined) return false;
  const text = err instanceof Error ? `${err.message} ${(err as NodeJS.ErrnoException).code ?? ''}` : String(err);
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|socket hang up|connection refused|connection reset|cluster unreachable|cannot reach the API server|no answer from|i\/o timeout|TLS handshake timeout|the server is currently unable to handle the request|etcdserver: request timed out/i.test(text);
}
