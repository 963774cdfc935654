/**
 * Pure helpers over a Pod object for the sandbox's kubelet: which container path is which host path (the
 * pod's hostPath volumes), the environment a container gets, the version in an image reference, and the
 * status a kubelet reports. No I/O.
 */

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; configMapKeyRef?: { name: string; key: string; optional?: boolean } };
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
}

export interface Volume {
  name: string;
  hostPath?: { path: string; type?: string };
  configMap?: { name: string };
}

export interface Pod {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
    ownerReferences?: { kind: string; name: string }[];
  };
  spec: {
    nodeName?: string;
    hostNetwork?: boolean;
    serviceAccountName?: string;
    terminationGracePeriodSeconds?: number;
    containers: Container[];
    initContainers?: Container[];
    volumes?: Volume[];
  };
  status?: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

/** The host path a container path is on, through the pod's hostPath volumes (longest mount first); undefined when none covers it. */
export function hostPathFor(pod: Pod, container: Container, containerPath: string): string | undefined {
  const mounts = [...(container.volumeMounts ?? [])].sort((a, b) => b.mountPath.length - a.mountPath.length);
  for (const m of mounts) {
    const base = m.mountPath.replace(/\/+$/, '');
    if (containerPath !== base && !containerPath.startsWith(`${base}/`)) continue;
    const volume = (pod.spec.volumes ?? []).find((v) => v.name === m.name);
    if (!volume?.hostPath) return undefined;
    return `${volume.hostPath.path.replace(/\/+$/, '')}${containerPath.slice(base.length)}`;
  }
  return undefined;
}

/** A container's environment from its spec: literal values and the pod fields the kubelet fills in. */
export function containerEnv(pod: Pod, container: Container, configMaps: Record<string, Record<string, string>> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.value !== undefined) out[e.name] = e.value;
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (field === 'spec.nodeName' && pod.spec.nodeName) out[e.name] = pod.spec.nodeName;
    if (field === 'metadata.namespace') out[e.name] = pod.metadata.namespace;
    if (field === 'metadata.name') out[e.name] = pod.metadata.name;
    const ref = e.valueFrom?.configMapKeyRef;
    const fromMap = ref ? configMaps[ref.name]?.[ref.key] : undefined;
    if (fromMap !== undefined) out[e.name] = fromMap;
  }
  return out;
}

/** `quay.io/cilium/cilium:v1.20.0@sha256:...` -> `1.20.0`; undefined without a version tag. */
export function imageVersion(image: string | undefined): string | undefined {
  if (!image) return undefined;
  const noDigest = image.split('@')[0] as string;
  const colon = noDigest.lastIndexOf(':');
  if (colon < 0 || noDigest.slice(colon).includes('/')) return undefined;
  return /^v?(\d+\.\d+\.\d+)/.exec(noDigest.slice(colon + 1))?.[1];
}

/** Whether a pod is the Cilium agent of DaemonSet `cilium` (its container `cilium-agent`). */
export function ciliumAgentContainer(pod: Pod): Container | undefined {
  const owned = (pod.metadata.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet' && o.name === 'cilium');
  return owned ? pod.spec.containers.find((c) => c.name === 'cilium-agent') : undefined;
}

export interface ContainerRun {
  name: string;
  image: string;
  ready: boolean;
  restartCount: number;
  startedAt: string;
}

/** The status a kubelet reports for a pod whose containers run (Ready when every container is). */
export function runningStatus(p: { hostIP: string; podIP: string; startTime: string; containers: ContainerRun[]; initContainers: string[] }): object {
  const now = new Date().toISOString();
  const ready = p.containers.every((c) => c.ready);
  const cond = (type: string, status: boolean) => ({ type, status: status ? 'True' : 'False', lastProbeTime: null, lastTransitionTime: now });
  return {
    status: {
      phase: 'Running',
      hostIP: p.hostIP,
      hostIPs: [{ ip: p.hostIP }],
      podIP: p.podIP,
      podIPs: [{ ip: p.podIP }],
      startTime: p.startTime,
      conditions: [cond('PodReadyToStartContainers', true), cond('Initialized', true), cond('Ready', ready), cond('ContainersReady', ready), cond('PodScheduled', true)],
      initContainerStatuses: p.initContainers.map((name) => ({
        name,
        image: 'sandbox',
        imageID: 'sandbox',
        ready: true,
        restartCount: 0,
        state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: p.startTime, finishedAt: p.startTime } },
      })),
      containerStatuses: p.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: c.image,
        containerID: `sandbox://${c.name}`,
        ready: c.ready,
        started: true,
        restartCount: c.restartCount,
        state: { running: { startedAt: c.startedAt } },
      })),
    },
  };
}

/** The status of a pod whose sandbox (network) could not be created: Pending, as a kubelet reports it. */
export function pendingStatus(p: { hostIP: string; reason: string }): object {
  const now = new Date().toISOString();
  return {
    status: {
      phase: 'Pending',
      hostIP: p.hostIP,
      hostIPs: [{ ip: p.hostIP }],
      conditions: [
        { type: 'PodReadyToStartContainers', status: 'False', lastProbeTime: null, lastTransitionTime: now, message: p.reason },
        { type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now },
      ],
    },
  };
}
