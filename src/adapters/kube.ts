/**
 * The Kubernetes API. Reads, server-side dry-runs and watches go over node:https (kube-http.ts); changes
 * through @kubernetes/client-node 1.x (2.x crashes at import on Node 20), imported only then: its import
 * alone costs ~0.8 s. One function per API call shape: server-side apply with a field manager, read,
 * delete (waiting until the object is gone), ConfigMap read-modify-replace with retry on conflict,
 * rollout waits by watch with a timeout that says what is not ready and why.
 */
import type * as k8s from '@kubernetes/client-node';
import { httpClient, listPath, objectPath, readKubeconfig, type KubeHttp } from './kube-http.js';
import { StepError } from '../errors.js';

export const FIELD_MANAGER = 'mk8s-addons';

/** Just enough of an object to name it. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** The full client, loaded only to change objects (apply, delete, replace). */
export interface KubeFull {
  lib: typeof k8s;
  config: k8s.KubeConfig;
  objects: k8s.KubernetesObjectApi;
  core: k8s.CoreV1Api;
}

export interface Kube {
  /** Reads and server-side dry-runs over node:https (no client-node import). */
  http: KubeHttp;
  /** @kubernetes/client-node, imported on first use. */
  full(): Promise<KubeFull>;
}

const cache = new Map<string, Promise<Kube>>();

/** Connects with a kubeconfig file (cached per file). Cheap: the full client loads on first write. */
export function connect(kubeconfig: string): Promise<Kube> {
  let found = cache.get(kubeconfig);
  if (!found) {
    found = (async () => {
      const target = await readKubeconfig(kubeconfig);
      const http = httpClient(target);
      let full: Promise<KubeFull> | undefined;
      return {
        http,
        full: () =>
          (full ??= (async () => {
            const lib = await import('@kubernetes/client-node');
            const config = new lib.KubeConfig();
            // The same server and credentials the reads use (one kubeconfig reader: kube-http.ts).
            const server = new URL(target.url);
            server.username = '';
            server.password = '';
            const b64 = (b: Buffer | undefined) => b?.toString('base64');
            config.loadFromClusterAndUser(
              { name: 'mk8s-addons', server: server.toString().replace(/\/$/, ''), caData: b64(target.ca), skipTLSVerify: target.insecure },
              { name: 'mk8s-addons', certData: b64(target.cert), keyData: b64(target.key), token: target.token, username: target.username, password: target.password },
            );
            return { lib, config, objects: lib.KubernetesObjectApi.makeApiClient(config), core: config.makeApiClient(lib.CoreV1Api) };
          })()),
      };
    })();
    cache.set(kubeconfig, found);
  }
  return found;
}

/** A GET that must succeed (2xx), else a StepError with the API's message. */
async function get<T>(kube: Kube, apiPath: string): Promise<T> {
  const r = await kube.http.request<T>('GET', apiPath);
  if (r.status < 200 || r.status >= 300) throw new StepError(`GET ${apiPath} failed (${r.status}): ${messageOf(r.body)}`);
  return r.body;
}

function messageOf(body: unknown): string {
  return typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : String(body);
}

/** Pods, by namespace (all when absent) and label selector. */
export async function listPods(kube: Kube, opts: { namespace?: string; labelSelector?: string } = {}): Promise<k8s.V1Pod[]> {
  return (await get<k8s.V1PodList>(kube, listPath('/api/v1', 'pods', opts.namespace, opts.labelSelector))).items;
}

export async function listNodes(kube: Kube): Promise<k8s.V1Node[]> {
  return (await get<k8s.V1NodeList>(kube, '/api/v1/nodes')).items;
}

export async function listEvents(kube: Kube, namespace: string): Promise<k8s.CoreV1Event[]> {
  return (await get<k8s.CoreV1EventList>(kube, listPath('/api/v1', 'events', namespace))).items;
}

/**
 * The objects of a custom resource (namespace/name) across namespaces, e.g. `cilium.io/v2` `ciliumendpoints`;
 * none when its CRD is not there yet.
 */
export async function listCustomObjects(kube: Kube, apiVersion: string, resource: string): Promise<{ namespace: string; name: string }[]> {
  const url = `/apis/${apiVersion}/${resource}`;
  const r = await kube.http.request<{ items?: { metadata: { name: string; namespace: string } }[] }>('GET', url);
  if (r.status === 404) return [];
  if (r.status !== 200) throw new StepError(`GET ${url} failed (${r.status}): ${messageOf(r.body)}`);
  return (r.body.items ?? []).map((c) => ({ namespace: c.metadata.namespace, name: c.metadata.name }));
}

export const describeRef = (o: ObjectRef): string => `${o.kind.toLowerCase()}/${o.metadata.name}${o.metadata.namespace ? ` in ${o.metadata.namespace}` : ''}`;

export function httpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      return (JSON.parse(body) as { message?: string }).message ?? body;
    } catch {
      return body;
    }
  }
  return (err as Error).message;
}

/** Reads an object; undefined when it does not exist. */
export async function readObject<T extends k8s.KubernetesObject>(kube: Kube, ref: ObjectRef): Promise<T | undefined> {
  const p = objectPath(ref);
  if (p) {
    const r = await kube.http.request<T>('GET', p);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new StepError(`cannot read ${describeRef(ref)}: ${messageOf(r.body)}`);
    return r.body;
  }
  try {
    return (await (await kube.full()).objects.read(ref as Parameters<KubeFull['objects']['read']>[0])) as T;
  } catch (err) {
    if (httpStatus(err) === 404) return undefined;
    throw new StepError(`cannot read ${describeRef(ref)}: ${apiMessage(err)}`);
  }
}

/** Server-side apply (force, field manager mk8s-addons); `dryRun` asks the server what it would be. */
export async function applyObject<T extends k8s.KubernetesObject>(kube: Kube, obj: T, opts: { dryRun?: boolean } = {}): Promise<T> {
  const p = opts.dryRun ? objectPath(obj as unknown as ObjectRef) : undefined;
  if (p) {
    // A dry-run changes nothing: plain HTTPS, as for reads (JSON is YAML, so it is a valid apply patch).
    const r = await kube.http.request<T>('PATCH', `${p}?fieldManager=${FIELD_MANAGER}&force=true&dryRun=All`, { body: obj, contentType: 'application/apply-patch+yaml' });
    if (r.status !== 200 && r.status !== 201) throw new StepError(`server-side apply of ${describeRef(obj as unknown as ObjectRef)} failed: ${messageOf(r.body)}`);
    return r.body;
  }
  try {
    const { objects, lib } = await kube.full();
    return (await objects.patch(obj, undefined, opts.dryRun ? 'All' : undefined, FIELD_MANAGER, true, lib.PatchStrategy.ServerSideApply)) as T;
  } catch (err) {
    throw new StepError(`server-side apply of ${describeRef(obj as unknown as ObjectRef)} failed: ${apiMessage(err)}`);
  }
}

/**
 * Deletes an object (foreground) and waits until it is gone: a foreground delete returns while the object
 * still exists with a foregroundDeletion finalizer, and a re-enable right after must not write to it.
 * True when it existed.
 */
export async function deleteObject(kube: Kube, ref: ObjectRef, opts: { timeoutMs?: number } = {}): Promise<boolean> {
  try {
    await (await kube.full()).objects.delete(ref as k8s.KubernetesObject, undefined, undefined, undefined, undefined, 'Foreground');
  } catch (err) {
    if (httpStatus(err) === 404) return false;
    throw new StepError(`cannot delete ${describeRef(ref)}: ${apiMessage(err)}`);
  }
  const end = Date.now() + (opts.timeoutMs ?? 120_000);
  while ((await readObject(kube, ref)) !== undefined) {
    if (Date.now() > end) throw new StepError(`${describeRef(ref)} is still there after its deletion; check its finalizers (kubectl get ${ref.kind.toLowerCase()} ${ref.metadata.name} -o yaml)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/**
 * Read-modify-replace of a ConfigMap on its resourceVersion: `mutate` gets the current data and returns
 * the new data (or undefined: nothing to change). A conflicting concurrent write makes it read again and
 * redo the change on the new content, so the other writer's change is never lost.
 */
export async function updateConfigMap(
  kube: Kube,
  ref: { name: string; namespace: string },
  mutate: (data: Record<string, string>) => Record<string, string> | undefined | Promise<Record<string, string> | undefined>,
  opts: { attempts?: number } = {},
): Promise<{ changed: boolean; conflicts: number; before: Record<string, string>; after: Record<string, string> }> {
  const attempts = opts.attempts ?? 8;
  const { core } = await kube.full();
  for (let i = 0; i < attempts; i++) {
    const cm = await core.readNamespacedConfigMap(ref);
    const before = { ...(cm.data ?? {}) };
    const after = await mutate({ ...before });
    if (after === undefined) return { changed: false, conflicts: i, before, after: before };
    try {
      await core.replaceNamespacedConfigMap({ ...ref, body: { ...cm, data: after }, fieldManager: FIELD_MANAGER });
      return { changed: true, conflicts: i, before, after };
    } catch (err) {
      if (httpStatus(err) !== 409) throw new StepError(`cannot update configmap/${ref.name} in ${ref.namespace}: ${apiMessage(err)}`);
    }
  }
  throw new StepError(`configmap/${ref.name} in ${ref.namespace} kept changing under us (${attempts} conflicts); try again`);
}

export interface RolloutRef {
  kind: 'DaemonSet' | 'Deployment';
  name: string;
  namespace: string;
}

/** Whether a DaemonSet / Deployment status means "rolled out and ready", and if not, why. */
export function rolloutState(kind: RolloutRef['kind'], obj: k8s.V1DaemonSet | k8s.V1Deployment | undefined): { ready: boolean; reason: string } {
  if (!obj) return { ready: false, reason: 'it does not exist' };
  const gen = obj.metadata?.generation ?? 0;
  const observed = obj.status?.observedGeneration ?? 0;
  if (observed < gen) return { ready: false, reason: `the controller has not seen generation ${gen} yet` };
  if (kind === 'DaemonSet') {
    const s = (obj as k8s.V1DaemonSet).status;
    const want = s?.desiredNumberScheduled ?? 0;
    const updated = s?.updatedNumberScheduled ?? 0;
    const available = s?.numberAvailable ?? 0;
    if (want === 0) return { ready: false, reason: 'no node is scheduled to run it' };
    if (updated < want) return { ready: false, reason: `${updated} of ${want} pods updated` };
    if (available < want) return { ready: false, reason: `${available} of ${want} pods available` };
    return { ready: true, reason: `${available} of ${want} pods available` };
  }
  const d = obj as k8s.V1Deployment;
  const want = d.spec?.replicas ?? 1;
  const updated = d.status?.updatedReplicas ?? 0;
  const available = d.status?.availableReplicas ?? 0;
  const total = d.status?.replicas ?? 0;
  if (updated < want) return { ready: false, reason: `${updated} of ${want} replicas updated` };
  if (total > updated) return { ready: false, reason: `${total - updated} old replicas pending termination` };
  if (available < want) return { ready: false, reason: `${available} of ${want} replicas available` };
  return { ready: true, reason: `${available} of ${want} replicas available` };
}

const apiPath = (r: RolloutRef) => `/apis/apps/v1/namespaces/${r.namespace}/${r.kind === 'DaemonSet' ? 'daemonsets' : 'deployments'}`;

/** Why the pods of a workload are not ready: phases, conditions and the latest warning events. */
export async function explainNotReady(kube: Kube, r: RolloutRef, obj: k8s.V1DaemonSet | k8s.V1Deployment | undefined): Promise<string> {
  const labels = obj?.spec?.selector?.matchLabels ?? {};
  const selector = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  const parts: string[] = [];
  const pods = selector ? await listPods(kube, { namespace: r.namespace, labelSelector: selector }) : [];
  for (const p of pods.slice(0, 5)) {
    const notReady = (p.status?.conditions ?? []).filter((c) => c.status !== 'True').map((c) => `${c.type}${c.reason ? ` (${c.reason})` : ''}`);
    const waiting = (p.status?.containerStatuses ?? []).map((c) => c.state?.waiting?.reason).filter(Boolean);
    parts.push(`pod ${p.metadata?.name} ${p.status?.phase ?? 'Unknown'}${notReady.length ? `, not ${notReady.join(', ')}` : ''}${waiting.length ? `, waiting: ${waiting.join(', ')}` : ''}`);
  }
  if (selector && pods.length === 0) parts.push('no pods exist');
  // Only this workload's own events: itself, its pods, and what owns those pods (its ReplicaSets).
  const own = new Set([`${r.kind}/${r.name}`]);
  for (const p of pods) {
    own.add(`Pod/${p.metadata?.name}`);
    for (const o of p.metadata?.ownerReferences ?? []) own.add(`${o.kind}/${o.name}`);
  }
  const events = await listEvents(kube, r.namespace);
  const recent = events
    .filter((e) => e.type === 'Warning' && own.has(`${e.involvedObject.kind}/${e.involvedObject.name}`))
    .slice(-3)
    .map((e) => `${e.reason}: ${e.message}`);
  if (recent.length) parts.push(`events: ${recent.join(' | ')}`);
  return parts.join('; ');
}

/**
 * Waits, by watch, until the workload is rolled out and ready. On timeout the error names what is not
 * ready and why.
 */
export async function waitRollout(kube: Kube, r: RolloutRef, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  const read = () => readObject<k8s.V1DaemonSet | k8s.V1Deployment>(kube, { apiVersion: 'apps/v1', kind: r.kind, metadata: { name: r.name, namespace: r.namespace } });
  let last = await read();
  if (rolloutState(r.kind, last).ready) return;
  // Watched over plain HTTPS: the moment the last pod turns Ready is seen within milliseconds, without
  // the Kubernetes client's import in between.
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const controller = new AbortController();
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      controller.abort();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish(new StepError(`waiting for ${r.kind.toLowerCase()}/${r.name} was cancelled`));
    opts.signal?.addEventListener('abort', onAbort);
    const timer = setTimeout(() => {
      void (async () => {
        last = (await read().catch(() => last)) ?? last;
        const why = await explainNotReady(kube, r, last).catch(() => '');
        finish(new StepError(`${r.kind.toLowerCase()}/${r.name} in ${r.namespace} is not ready after ${Math.round(opts.timeoutMs / 1000)} s: ${rolloutState(r.kind, last).reason}${why ? `; ${why}` : ''}; raise --timeout or look at "kubectl -n ${r.namespace} describe ${r.kind.toLowerCase()} ${r.name}"`));
      })();
    }, opts.timeoutMs);
    const loop = async () => {
      while (!settled) {
        const rv = last?.metadata?.resourceVersion;
        const query = `?fieldSelector=${encodeURIComponent(`metadata.name=${r.name}`)}&allowWatchBookmarks=true${rv ? `&resourceVersion=${rv}` : ''}`;
        let stale = false;
        const started = Date.now();
        try {
          await kube.http.watch<k8s.V1DaemonSet | k8s.V1Deployment>(
            `${apiPath(r)}${query}`,
            (e) => {
              if (e.type === 'ERROR') stale = true; // e.g. 410 Gone: the resourceVersion is too old
              else if (e.type === 'DELETED') last = undefined;
              else if (e.type === 'ADDED' || e.type === 'MODIFIED') last = e.object;
              if (rolloutState(r.kind, last).ready) finish();
            },
            controller.signal,
          );
        } catch {
          stale = true;
        }
        if (settled) break;
        // A watch ends now and then (server timeout); after an error, read again and watch from there.
        if (stale || Date.now() - started < 200) {
          await new Promise((res) => setTimeout(res, 300));
          last = (await read().catch(() => last)) ?? last;
          if (rolloutState(r.kind, last).ready) finish();
        }
      }
    };
    void loop();
  });
}

/** Waits until no pod matches `labelSelector` in `namespace` (after a delete). */
export async function waitPodsGone(kube: Kube, namespace: string, labelSelector: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  const end = Date.now() + opts.timeoutMs;
  for (;;) {
    const pods = { items: await listPods(kube, { namespace, labelSelector }) };
    if (pods.items.length === 0) return;
    if (Date.now() > end) {
      throw new StepError(`${pods.items.length} pod(s) with ${labelSelector} in ${namespace} still exist after ${Math.round(opts.timeoutMs / 1000)} s: ${pods.items.map((p) => `${p.metadata?.name} ${p.status?.phase}`).join(', ')}; raise --timeout`);
    }
    if (opts.signal?.aborted) throw new StepError(`waiting for pods with ${labelSelector} to go was cancelled`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The cluster's Kubernetes version (gitVersion, e.g. v1.34.4). */
export async function serverVersion(kube: Kube): Promise<string> {
  return (await get<{ gitVersion: string }>(kube, '/version')).gitVersion;
}

/**
 * Runs `command` in a container through the API (exec, as `kubectl exec` does) and resolves with its
 * stdout bytes; a non-zero exit or a refused exec is a StepError carrying its stderr.
 */
export async function execCapture(kube: Kube, ref: { namespace: string; pod: string; container: string }, command: string[], opts: { timeoutMs: number }): Promise<Buffer> {
  const { lib, config } = await kube.full();
  const { Writable } = await import('node:stream');
  const out: Buffer[] = [];
  let err = '';
  const stdout = new Writable({ write: (chunk: Buffer, _e, cb) => (out.push(Buffer.from(chunk)), cb()) });
  const stderr = new Writable({ write: (chunk: Buffer, _e, cb) => ((err += chunk.toString('utf8')), cb()) });
  const where = `${ref.namespace}/${ref.pod} (container ${ref.container})`;
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StepError(`exec in ${where} did not finish within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    new lib.Exec(config)
      .exec(ref.namespace, ref.pod, ref.container, command, stdout, stderr, null, false, (status) => {
        clearTimeout(timer);
        if (status.status === 'Success') resolve(Buffer.concat(out));
        else reject(new StepError(`exec in ${where} failed: ${status.message ?? status.reason ?? 'no status'}${err.trim() ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
      })
      .catch((e: Error) => {
        clearTimeout(timer);
        reject(new StepError(`cannot exec in ${where}: ${e.message}`));
      });
  });
}
