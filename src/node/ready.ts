/**
 * "Ready" as MicroK8s means it: every node reports Ready and service/kubernetes exists. One look; the
 * waits poll it through src/lifecycle/readiness.ts (with a timeout: MicroK8s's --wait-ready has none).
 */
import * as kube from '../adapters/kube.js';

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
