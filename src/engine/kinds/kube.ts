/**
 * Step kinds that change the cluster: kube-apply (server-side apply of objects, undo deletes what it
 * created or re-applies what was there), kube-configmap (read-modify-replace of one key, retried on
 * conflict, with the edit function the addon's hook prepared) and kube-wait (a rollout wait by watch).
 */
import * as kube from '../../adapters/kube.js';
import type { ObjectRef, RolloutRef } from '../../adapters/kube.js';
import type { Step, StepContext } from '../step.js';
import type { StepKindImpl, StepSeed } from './types.js';
import { InternalError } from '../../errors.js';
import { unifiedDiff } from '../../output/diff.js';

type Obj = ObjectRef & Record<string, unknown>;

const refOf = (o: Obj): ObjectRef => ({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}) } });

/** What the server owns or generates: left out when comparing and when re-applying. */
function comparable(o: Record<string, unknown> | undefined): unknown {
  if (!o) return undefined;
  const { status: _s, ...rest } = o as { status?: unknown; metadata?: Record<string, unknown> };
  const meta = { ...((rest as { metadata?: Record<string, unknown> }).metadata ?? {}) };
  for (const k of ['resourceVersion', 'managedFields', 'uid', 'creationTimestamp', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds']) delete meta[k];
  const annotations = { ...((meta.annotations as Record<string, string> | undefined) ?? {}) };
  delete annotations['deprecated.daemonset.template.generation'];
  delete annotations['deployment.kubernetes.io/revision'];
  meta.annotations = annotations;
  return { ...rest, metadata: meta };
}

const sameObject = (a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined) => JSON.stringify(comparable(a)) === JSON.stringify(comparable(b));

function objectsParam(seed: StepSeed): Obj[] {
  const objects = seed.params.objects;
  if (!Array.isArray(objects)) throw new InternalError(`step ${seed.phase}: "objects" must be a list of Kubernetes objects`);
  return objects as Obj[];
}

// ------------------------------------------------------------------------------------------ kube-apply

const kubeApply: StepKindImpl = {
  kind: 'kube-apply',
  create(seed): Step {
    const objects = objectsParam(seed);
    const waitGone = seed.params.waitGone as { namespace: string; selector: string } | undefined;
    if (seed.params.mode === 'delete') return deleteStep(seed, objects, waitGone);
    const live = async (ctx: StepContext) => {
      const k = await kube.connect(ctx.kubeconfig);
      return Promise.all(objects.map(async (o) => ({ o, now: await kube.readObject(k, refOf(o)) })));
    };
    return {
      ...seed.meta,
      async check(ctx) {
        const k = await kube.connect(ctx.kubeconfig);
        const changes: string[] = [];
        const diffs: string[] = [];
        for (const { o, now } of await live(ctx)) {
          if (!now) {
            changes.push(`create ${kube.describeRef(o)}`);
            continue;
          }
          // The server's own answer to "what would this apply make of it" (server-side dry-run).
          const would = await kube.applyObject(k, o, { dryRun: true });
          if (!sameObject(now as unknown as Record<string, unknown>, would as unknown as Record<string, unknown>)) {
            changes.push(`update ${kube.describeRef(o)}`);
            const text = (x: unknown) => `${JSON.stringify(comparable(x as Record<string, unknown>), null, 2)}\n`;
            diffs.push(unifiedDiff(kube.describeRef(o), text(now), text(would)));
          }
        }
        return changes.length === 0
          ? { satisfied: true, summary: `${objects.length} object(s) up to date` }
          : { satisfied: false, summary: changes.join(', '), ...(diffs.length ? { detail: diffs.join('\n') } : {}) };
      },
      async prepare(ctx) {
        return {
          objects: (await live(ctx)).map(({ o, now }) => ({ ref: refOf(o), previous: now ? comparable(now as unknown as Record<string, unknown>) : null })),
          ...(waitGone ? { waitGone } : {}),
        };
      },
      async apply(ctx) {
        const k = await kube.connect(ctx.kubeconfig);
        for (const o of objects) await kube.applyObject(k, o);
      },
      undo: (c, r) => kubeApply.undo(c, r),
    };
  },
  async undo(ctx, record) {
    const k = await kube.connect(ctx.kubeconfig);
    if (Array.isArray(record.recreate)) {
      for (const o of record.recreate as Obj[]) await kube.applyObject(k, o);
      return;
    }
    const objects = record.objects as { ref: ObjectRef; previous: Obj | null }[];
    for (const { ref, previous } of [...objects].reverse()) {
      if (previous) await kube.applyObject(k, previous);
      else await kube.deleteObject(k, ref);
    }
    const gone = record.waitGone as { namespace: string; selector: string } | undefined;
    if (gone) await kube.waitPodsGone(k, gone.namespace, gone.selector, { timeoutMs: Math.max(ctx.timeoutMs, 120_000), signal: ctx.signal });
  },
};

/**
 * `mode: delete`: the objects must not exist (e.g. the previous CNI's, once the new one is ready). Undo
 * applies them back as they were.
 */
function deleteStep(seed: StepSeed, objects: Obj[], waitGone: { namespace: string; selector: string } | undefined): Step {
  const present = async (ctx: StepContext) => {
    const k = await kube.connect(ctx.kubeconfig);
    const found = await Promise.all(objects.map(async (o) => ({ o, now: await kube.readObject(k, refOf(o)) })));
    return found.filter((f) => f.now !== undefined);
  };
  return {
    ...seed.meta,
    async check(ctx) {
      const p = await present(ctx);
      return p.length === 0 ? { satisfied: true, summary: 'none of the objects exists' } : { satisfied: false, summary: `delete ${p.map((x) => kube.describeRef(x.o)).join(', ')}` };
    },
    async prepare(ctx) {
      // Undo re-creates exactly these objects, in the order they were applied.
      return { recreate: (await present(ctx)).map((x) => comparable(x.now as unknown as Record<string, unknown>)), ...(waitGone ? { waitGone } : {}) };
    },
    async apply(ctx) {
      const k = await kube.connect(ctx.kubeconfig);
      for (const o of [...objects].reverse()) await kube.deleteObject(k, refOf(o));
      if (waitGone) await kube.waitPodsGone(k, waitGone.namespace, waitGone.selector, { timeoutMs: ctx.timeoutMs, signal: ctx.signal });
    },
    undo: (c, r) => kubeApply.undo(c, r),
  };
}

// ---------------------------------------------------------------------------------- kube-restart-pods

/**
 * Pods started under the previous CNI keep its network and are not managed by the new one. Restart
 * (delete, so their controller re-creates them) the pods that are neither host-network nor managed by
 * the new CNI and that started before its agent was ready, as Cilium's docs advise. Which pods the CNI
 * manages is data: `managedBy` names a custom resource (`apiVersion`, plural `resource`) with one object
 * per managed pod, of the same namespace and name (Cilium's CiliumEndpoints). Nothing to undo: the pods
 * come back under whichever CNI is then active.
 */
const kubeRestartPods: StepKindImpl = {
  kind: 'kube-restart-pods',
  create(seed): Step {
    const agent = seed.params.agent as { namespace: string; selector: string };
    const managedBy = seed.params.managedBy as { apiVersion?: unknown; resource?: unknown } | undefined;
    if (typeof managedBy?.apiVersion !== 'string' || typeof managedBy.resource !== 'string') {
      throw new InternalError(`step ${seed.phase}: "managedBy" must be {apiVersion, resource}, the custom resource with one object per pod the CNI manages`);
    }
    const managedResource = { apiVersion: managedBy.apiVersion, resource: managedBy.resource };
    const enabled = seed.params.enabled !== false;
    const stale = async (ctx: StepContext) => {
      const k = await kube.connect(ctx.kubeconfig);
      const agents = { items: await kube.listPods(k, { namespace: agent.namespace, labelSelector: agent.selector }) };
      const readyTimes = agents.items.map((p) => (p.status?.conditions ?? []).find((c) => c.type === 'Ready' && c.status === 'True')?.lastTransitionTime).filter((t): t is Date => t !== undefined);
      if (readyTimes.length === 0) return [];
      const agentReady = Math.min(...readyTimes.map((t) => new Date(t).getTime()));
      // No such CRD yet: no pod is managed.
      const managed = new Set((await kube.listCustomObjects(k, managedResource.apiVersion, managedResource.resource)).map((c) => `${c.namespace}/${c.name}`));
      const pods = { items: await kube.listPods(k) };
      return pods.items
        .filter((p) => !p.spec?.hostNetwork && p.metadata?.ownerReferences?.length && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed')
        .filter((p) => !managed.has(`${p.metadata?.namespace}/${p.metadata?.name}`))
        .filter((p) => new Date(p.status?.startTime ?? p.metadata?.creationTimestamp ?? 0).getTime() < agentReady)
        .filter((p) => !(p.metadata?.namespace === agent.namespace && Object.entries(p.metadata?.labels ?? {}).some(([key, val]) => agent.selector === `${key}=${val}`)))
        .map((p) => ({ namespace: p.metadata?.namespace as string, name: p.metadata?.name as string }));
    };
    return {
      ...seed.meta,
      async check(ctx) {
        if (!enabled) return { satisfied: true, summary: 'not restarting pods (--no-restart-pods)' };
        const s = await stale(ctx);
        return s.length === 0 ? { satisfied: true, summary: 'every pod started under the new CNI or uses the host network' } : { satisfied: false, summary: `restart ${s.map((p) => `${p.namespace}/${p.name}`).join(', ')}` };
      },
      async prepare(ctx) {
        return { restarted: enabled ? await stale(ctx) : [] };
      },
      async apply(ctx, record) {
        const k = await kube.connect(ctx.kubeconfig);
        const pods = record.restarted as { namespace: string; name: string }[];
        for (const p of pods) await kube.deleteObject(k, { apiVersion: 'v1', kind: 'Pod', metadata: p });
        if (pods.length) ctx.note(`restarted ${pods.length} pod(s) started under the previous CNI: ${pods.map((p) => `${p.namespace}/${p.name}`).join(', ')}`);
      },
      undo: async () => false,
    };
  },
  undo: async () => false,
};

// -------------------------------------------------------------------------------------- kube-configmap

const kubeConfigMap: StepKindImpl = {
  kind: 'kube-configmap',
  create(seed, kctx): Step {
    const name = String(seed.params.name);
    const namespace = String(seed.params.namespace ?? 'kube-system');
    const key = String(seed.params.key);
    const editName = String(seed.params.edit);
    const args = (seed.params.args as Record<string, unknown> | undefined) ?? {};
    const labels = (seed.params.labels as Record<string, string> | undefined) ?? {};
    const fn = kctx.edits?.[editName];
    if (!fn) throw new InternalError(`step ${seed.phase}: the addon's hook prepared no configmap edit named "${editName}"`);
    const edit = (current: string | undefined) => fn(current, args);
    const ref = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace } };
    return {
      ...seed.meta,
      async check(ctx) {
        const k = await kube.connect(ctx.kubeconfig);
        const cm = await kube.readObject<{ data?: Record<string, string> } & Obj>(k, ref);
        const current = cm?.data?.[key];
        const wanted = edit(current);
        if (cm && current === wanted) return { satisfied: true, summary: `configmap/${name} ${key} is up to date` };
        return { satisfied: false, summary: cm ? `update ${key} of configmap/${name}` : `create configmap/${name}`, detail: unifiedDiff(`configmap/${name} ${key}`, current ?? '', wanted) };
      },
      async prepare(ctx) {
        const k = await kube.connect(ctx.kubeconfig);
        const cm = await kube.readObject<{ data?: Record<string, string> } & Obj>(k, ref);
        return { name, namespace, key, existed: cm !== undefined, previous: cm?.data?.[key] ?? null };
      },
      async apply(ctx) {
        const k = await kube.connect(ctx.kubeconfig);
        const cm = await kube.readObject(k, ref);
        if (!cm) {
          await kube.applyObject(k, { ...ref, metadata: { ...ref.metadata, labels }, data: { [key]: edit(undefined) } } as Obj);
          return;
        }
        const r = await kube.updateConfigMap(k, { name, namespace }, (data) => {
          const next = edit(data[key]);
          return next === data[key] ? undefined : { ...data, [key]: next };
        });
        if (r.conflicts > 0) ctx.note(`configmap/${name} changed while we edited it: re-read and re-applied ${r.conflicts} time(s), keeping the other change`);
      },
      undo: (c, r) => kubeConfigMap.undo(c, r),
    };
  },
  async undo(ctx, record) {
    const k = await kube.connect(ctx.kubeconfig);
    const name = record.name as string;
    const namespace = record.namespace as string;
    if (!record.existed) {
      await kube.deleteObject(k, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace } });
      return;
    }
    const key = record.key as string;
    const previous = record.previous as string | null;
    if (!(await kube.readObject(k, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace } }))) return;
    await kube.updateConfigMap(k, { name, namespace }, (data) => {
      if (data[key] === (previous ?? undefined)) return undefined;
      const next = { ...data };
      if (previous === null) delete next[key];
      else next[key] = previous;
      return next;
    });
  },
};

// ------------------------------------------------------------------------------------------- kube-wait

const kubeWait: StepKindImpl = {
  kind: 'kube-wait',
  create(seed): Step {
    const rollouts = seed.params.rollouts as RolloutRef[] | undefined;
    if (!Array.isArray(rollouts)) throw new InternalError(`step ${seed.phase}: "rollouts" must be a list of {kind, name, namespace}`);
    return {
      ...seed.meta,
      observes: true,
      async check(ctx) {
        const k = await kube.connect(ctx.kubeconfig);
        const states = await Promise.all(
          rollouts.map(async (r) => ({ r, s: kube.rolloutState(r.kind, await kube.readObject(k, { apiVersion: 'apps/v1', kind: r.kind, metadata: { name: r.name, namespace: r.namespace } })) })),
        );
        const waiting = states.filter((x) => !x.s.ready);
        return waiting.length === 0
          ? { satisfied: true, summary: states.map((x) => `${x.r.kind.toLowerCase()}/${x.r.name} ready`).join(', ') }
          : { satisfied: false, summary: `wait for ${waiting.map((x) => `${x.r.kind.toLowerCase()}/${x.r.name} (${x.s.reason})`).join(', ')}` };
      },
      prepare: async () => ({}),
      async apply(ctx) {
        const k = await kube.connect(ctx.kubeconfig);
        for (const r of rollouts) await kube.waitRollout(k, r, { timeoutMs: ctx.timeoutMs, signal: ctx.signal });
      },
      undo: async () => false,
    };
  },
  undo: async () => false,
};

export const KUBE_KINDS: readonly StepKindImpl[] = [kubeApply, kubeConfigMap, kubeWait, kubeRestartPods];
