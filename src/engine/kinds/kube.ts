/**
 * Step kinds that change the cluster: kube-apply (server-side apply of objects, undo deletes what it
 * created or re-applies what was there), kube-configmap (read-modify-replace of one key, retried on
 * conflict, with an edit function an addon registers) and kube-wait (a rollout wait by watch).
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
    const live = async (ctx: StepContext) => {
      const k = await kube.connect(ctx.kubeconfig);
      return Promise.all(objects.map(async (o) => ({ o, now: await kube.readObject(k, refOf(o)) })));
    };
    return {
      ...seed.meta,
      async check(ctx) {
        const k = await kube.connect(ctx.kubeconfig);
        const changes: string[] = [];
        for (const { o, now } of await live(ctx)) {
          if (!now) {
            changes.push(`create ${kube.describeRef(o)}`);
            continue;
          }
          // The server's own answer to "what would this apply make of it" (server-side dry-run).
          const would = await kube.applyObject(k, o, { dryRun: true });
          if (!sameObject(now as unknown as Record<string, unknown>, would as unknown as Record<string, unknown>)) changes.push(`update ${kube.describeRef(o)}`);
        }
        return changes.length === 0 ? { satisfied: true, summary: `${objects.length} object(s) up to date` } : { satisfied: false, summary: changes.join(', ') };
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
    const objects = record.objects as { ref: ObjectRef; previous: Obj | null }[];
    for (const { ref, previous } of [...objects].reverse()) {
      if (previous) await kube.applyObject(k, previous);
      else await kube.deleteObject(k, ref);
    }
    const gone = record.waitGone as { namespace: string; selector: string } | undefined;
    if (gone) await kube.waitPodsGone(k, gone.namespace, gone.selector, { timeoutMs: ctx.timeoutMs, signal: ctx.signal });
  },
};

// -------------------------------------------------------------------------------------- kube-configmap

/** An edit of one ConfigMap value: current text (undefined when absent) and the step's arguments in. */
export type ConfigMapEdit = (current: string | undefined, args: Record<string, unknown>) => string;
const edits = new Map<string, ConfigMapEdit>();

/** Addons register the edits their kube-configmap steps name (e.g. dns: `corefile-forwarders`). */
export function registerConfigMapEdit(name: string, edit: ConfigMapEdit): void {
  edits.set(name, edit);
}

const kubeConfigMap: StepKindImpl = {
  kind: 'kube-configmap',
  create(seed): Step {
    const name = String(seed.params.name);
    const namespace = String(seed.params.namespace ?? 'kube-system');
    const key = String(seed.params.key);
    const editName = String(seed.params.edit);
    const args = (seed.params.args as Record<string, unknown> | undefined) ?? {};
    const labels = (seed.params.labels as Record<string, string> | undefined) ?? {};
    const edit = (current: string | undefined) => {
      const fn = edits.get(editName);
      if (!fn) throw new InternalError(`step ${seed.phase}: no configmap edit named "${editName}"`);
      return fn(current, args);
    };
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
      undo: async () => {},
    };
  },
  undo: async () => {},
};

export const KUBE_KINDS: readonly StepKindImpl[] = [kubeApply, kubeConfigMap, kubeWait];
