/**
 * "Ready" as MicroK8s means it: every node reports Ready and service/kubernetes exists. Polled with a
 * timeout (MicroK8s's --wait-ready has none).
 */
import * as kube from '../adapters/kube.js';
import { PreconditionError } from '../errors.js';

export async function nodeReadiness(kubeconfig: string): Promise<{ ready: boolean; reason: string }> {
  try {
    const k = await kube.connect(kubeconfig);
    const nodes = { items: await kube.listNodes(k) };
    if (nodes.items.length === 0) return { ready: false, reason: 'no node is registered' };
    const notReady = nodes.items.filter((n) => !(n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')).map((n) => n.metadata?.name);
    if (notReady.length) return { ready: false, reason: `node(s) not Ready: ${notReady.join(', ')}` };
    const svc = await kube.readObject(k, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubernetes', namespace: 'default' } });
    if (!svc) return { ready: false, reason: 'service/kubernetes does not exist yet' };
    return { ready: true, reason: `${nodes.items.length} node(s) Ready` };
  } catch (err) {
    return { ready: false, reason: `the API server does not answer (${(err as Error).message.split('\n')[0]})` };
  }
}

export async function waitNodeReady(kubeconfig: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await nodeReadiness(kubeconfig);
    if (r.ready) return;
    if (Date.now() > end) throw new PreconditionError(`MicroK8s is not ready after ${Math.round(timeoutMs / 1000)} s: ${r.reason}; raise --timeout or check "microk8s inspect"`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
