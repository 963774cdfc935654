/**
 * Is MicroK8s up? Stopped (var/lock/stopped.lock), API server not answering, or answering with every
 * node Ready and service/kubernetes present (MicroK8s's "ready", src/node/ready.ts). Read-only.
 */
import { exists } from '../adapters/fs.js';
import { nodeFiles, type SnapPaths } from '../node/node.js';
import { PreconditionError } from '../errors.js';
import { pollUntil } from '../poll.js';

export interface Readiness {
  /** Node Ready and service/kubernetes present. */
  ready: boolean;
  /** The API server answers (addons can be checked against the cluster). */
  api: boolean;
  /** Why not ready, or what ready means here. */
  reason: string;
  /** What to do about it. */
  hint: string;
}

const STOPPED_HINT = 'start it with mk8s-addons start (or microk8s start)';

export async function readiness(paths: SnapPaths, kubeconfig: string): Promise<Readiness> {
  if (await exists(nodeFiles(paths).lock('stopped.lock'))) {
    return { ready: false, api: false, reason: 'MicroK8s is stopped (var/lock/stopped.lock exists)', hint: STOPPED_HINT };
  }
  const kube = await import('../adapters/kube.js');
  try {
    await kube.serverVersion(await kube.connect(kubeconfig));
  } catch (err) {
    return { ready: false, api: false, reason: `the API server does not answer (${(err as Error).message.split('\n')[0]})`, hint: 'check "microk8s inspect"' };
  }
  const { nodeReadiness } = await import('../node/ready.js');
  const r = await nodeReadiness(kubeconfig);
  return { ready: r.ready, api: true, reason: r.reason, hint: 'check "microk8s inspect"' };
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

/** Polls until ready; a PreconditionError (exit 3) with the last reason when `timeoutMs` passes. */
export async function waitReady(paths: SnapPaths, kubeconfig: string, timeoutMs: number): Promise<Readiness> {
  let last: Readiness | undefined;
  return pollUntil(
    async () => {
      last = await readiness(paths, kubeconfig);
      return last.ready ? { done: true, value: last } : { done: false, reason: last.reason };
    },
    {
      timeoutMs,
      intervalMs: 1000,
      timedOut: (reason) => new PreconditionError(`MicroK8s is not ready after ${formatDuration(timeoutMs)}: ${reason}; ${last?.hint ?? STOPPED_HINT}, or raise --timeout`),
    },
  );
}
