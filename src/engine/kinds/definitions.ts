/**
 * What each step kind is, as data the catalogue and `status` read: its `params` schema (valibot, checked
 * for every manifest step when the catalogue loads, src/catalogue-schema.ts, so a typo in a manifest is an
 * error of `list` naming the file, the step and the field) and its `verify` (what `status` checks of an
 * applied step, src/lifecycle/verify.ts). `satisfies KindTable<KindDefinition>`: a kind of STEP_KINDS
 * without a definition, or a definition without `verify`, does not compile. What a kind runs
 * (check/prepare/apply/undo, and the commands --dry-run prints) is in its module (node-files, host, kube,
 * helm, pod-file), loaded only by the commands that run steps; this module is loaded only to validate a
 * manifest or by `status`.
 *
 * In `params`, a `${...}` placeholder may stand for any value (its value is known only when the addon is
 * prepared); strings may contain placeholders.
 *
 * | kind | verify: what must hold |
 * |---|---|
 * | file | the file exists (absent for a `remove` step), with the manifest's content, edits or line when they are literal |
 * | pod-file | the program copied out of the pod is there |
 * | args-flag | the flag's line is in the args file (absent for `remove`; the value, when the manifest gives it) |
 * | lock | the lock file exists |
 * | rename | the files set aside are not active again |
 * | process | the file it `creates` exists |
 * | service | a started/stopped daemon is still running/stopped (only while MicroK8s runs) |
 * | kube-apply | every applied object exists and is not being deleted (`mode: delete`: stays deleted) |
 * | kube-configmap | the ConfigMap exists and has the key |
 * | helm-release | the release exists and is deployed; for a chart addon, at the chart version and with the values it set |
 * | kube-wait | the workloads are rolled out and ready |
 * | link, kube-restart-pods | nothing lasting (`nothingLasting`) |
 * | node-fanout | checked per node by status through src/cluster/drift.ts |
 */
import path from 'node:path';
import * as v from 'valibot';
import type { KindTable } from '../../catalogue.js';
import type { VerifyContext, VerifyInput } from '../../lifecycle/verify.js';
import type * as KubeAdapter from '../../adapters/kube.js';
import { exists, readText } from '../../adapters/fs.js';
import { findFlag } from '../../node/args-file.js';

type ObjectRef = KubeAdapter.ObjectRef;

/** What `status` finds wrong with an applied step of the kind (empty: it holds). */
export type Verify = (input: VerifyInput) => Promise<string[]>;

export interface KindDefinition {
  /** The schema of the step's `params`. */
  readonly params: v.GenericSchema;
  /** The status check of an applied step. Required: a kind with nothing lasting says `nothingLasting`. */
  readonly verify: Verify;
}

/** Nothing lasting to check: the step's effect is not a state the node keeps. */
const nothingLasting: Verify = async () => [];

export const refKey = (r: { kind: string; metadata: { name: string; namespace?: string } }) => `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;

function relative(ctx: VerifyContext, file: string): string {
  const rel = path.relative(ctx.paths.snapData, file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

const WHOLE_PLACEHOLDER = /^\$\{[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)?\}$/;

/** A value, or a string that is exactly one placeholder (`"${vars.objects}"`) standing for it. */
function or$<S extends v.GenericSchema>(schema: S) {
  return v.lazy((input) => (typeof input === 'string' && WHOLE_PLACEHOLDER.test(input) ? v.string() : schema));
}

const OR = 'or a placeholder such as ${vars.NAME}';

const text = v.pipe(v.string(), v.minLength(1, 'must be a non-empty string'));
const texts = or$(v.array(v.string(), `must be a list of strings ${OR}`));
const bool = or$(v.boolean(`must be true or false ${OR}`));
const command = or$(v.tuple([text, v.array(v.string(), 'must be a list of arguments')], `must be a [file, [args...]] tuple ${OR}`));
const podSelector = v.strictObject({ namespace: text, selector: text });
/** Any step may name the services that read what it changes (src/engine/build.ts). */
const restarts = v.optional(texts);
const object = v.record(v.string(), v.unknown(), 'must be a mapping');

const file = v.pipe(
  v.strictObject({
    path: text,
    content: v.optional(v.string()),
    line: v.optional(v.string()),
    replace: v.optional(or$(v.array(v.strictObject({ find: v.string(), with: v.string() }), `must be a list of {find, with} ${OR}`))),
    mode: v.optional(or$(v.number(`must be a file mode such as 0o755 ${OR}`))),
    remove: v.optional(bool),
    restarts,
  }),
  v.check((p) => [p.content, p.line, p.replace, p.remove].filter((x) => x !== undefined).length === 1, 'needs exactly one of content, line, replace or remove'),
);

export const KIND_DEFINITIONS = {
  file: {
    params: file,
    async verify({ record, params, ctx }) {
      const file = record.path as string;
      const text = await readText(file);
      const name = relative(ctx, file);
      if (params.remove === true) return text !== undefined ? [`${name} exists again (the addon removed it)`] : [];
      if (text === undefined) return [`${name} is missing`];
      // What the addon wrote, when the manifest says it without the hook: the whole content, or its edits.
      if (typeof params.content === 'string' && text !== params.content) return [`${name} differs from what the addon installed`];
      const edits = params.replace as { find: string; with: string }[] | undefined;
      if (Array.isArray(edits) && edits.reduce((t, e) => t.replace(new RegExp(e.find, 'gm'), e.with), text) !== text) return [`${name} no longer has the addon's edit`];
      if (typeof params.line === 'string' && !text.split(/\r?\n/).includes(params.line)) return [`${name} no longer has the line ${params.line}`];
      return [];
    },
  },
  'args-flag': {
    params: v.strictObject({
      service: text,
      flag: v.pipe(v.string(), v.regex(/^(--[A-Za-z0-9-]+|\$\{.+\})$/, 'must look like --flag-name')),
      value: v.optional(v.union([v.string(), v.number(), v.boolean()], 'must be a string, number or boolean')),
      remove: v.optional(bool),
      restarts,
    }),
    async verify({ record, params, ctx }) {
      const file = record.file as string;
      const flag = record.flag as string;
      const text = await readText(file);
      const name = relative(ctx, file);
      const found = text === undefined ? undefined : findFlag(text, flag);
      if (params.remove === true) return found ? [`${name} sets ${flag} again (the addon removed it)`] : [];
      if (text === undefined) return [`${name} is missing`];
      if (!found) return [`${name} has no ${flag} line`];
      if (typeof params.value === 'string' || typeof params.value === 'number' || typeof params.value === 'boolean') {
        const wanted = `${flag}=${String(params.value)}`;
        if (found.line.trim() !== wanted) return [`${name} has ${found.line.trim()}, not ${wanted}`];
      }
      return [];
    },
  },
  lock: {
    params: v.strictObject({ lock: text, restarts }),
    async verify({ record, ctx }) {
      const file = record.path as string;
      return (await exists(file)) ? [] : [`${relative(ctx, file)} is missing`];
    },
  },
  rename: {
    params: v.strictObject({ dir: text, match: text, keep: v.optional(texts), suffix: text, restarts }),
    async verify({ record, ctx }) {
      const out: string[] = [];
      for (const [from, to] of (record.renames as [string, string][] | undefined) ?? []) {
        if (await exists(from)) out.push(`${relative(ctx, from)} is active again (the addon set it aside as ${path.basename(to)})`);
      }
      return out;
    },
  },
  service: {
    params: v.pipe(
      v.strictObject({ action: v.picklist(['start', 'stop', 'restart']), service: v.optional(text), restarts }),
      v.check((p) => p.action === 'restart' || p.service !== undefined, 'a start or stop step needs service'),
    ),
    async verify({ record, ctx }) {
      if (record.restart === true || !ctx.cluster || !ctx.services) return [];
      const daemon = record.daemon as string;
      const wanted = !(record.wasActive as boolean);
      const active = await ctx.services.isActive(daemon);
      return active === wanted ? [] : [`daemon-${daemon} is ${active ? 'running' : 'stopped'}; the addon ${wanted ? 'started' : 'stopped'} it`];
    },
  },
  process: {
    params: v.strictObject({ command, undo: v.optional(command), creates: v.optional(text), restarts }),
    async verify({ params, ctx }) {
      const creates = params.creates;
      if (typeof creates !== 'string') return [];
      return (await exists(creates)) ? [] : [`${relative(ctx, creates)} is missing`];
    },
  },
  link: {
    params: v.strictObject({ type: text, names: texts, restarts }),
    // Links the step deleted come back when their owner starts again (flanneld, the agent): not the addon's.
    verify: nothingLasting,
    },
    'kube-apply': {
    params: v.strictObject({
      objects: or$(v.array(object, `must be a list of Kubernetes objects ${OR}`)),
      mode: v.optional(v.picklist(['apply', 'delete'])),
      waitGone: v.optional(podSelector),
      restarts,
    }),
    async verify({ record, ctx, cluster }) {
      if (!ctx.cluster) return [];
      const { kube, k } = await cluster();
      const out: string[] = [];
      for (const { ref } of (record.objects as { ref: ObjectRef }[] | undefined) ?? []) {
        const live = await kube.readObject(k, ref);
        if (!live) out.push(`${kube.describeRef(ref)} does not exist`);
        else if (live.metadata?.deletionTimestamp) out.push(`${kube.describeRef(ref)} is being deleted`);
      }
      // `mode: delete` records the objects it deleted: they must stay gone.
      for (const gone of (record.recreate as ObjectRef[] | undefined) ?? []) {
        const ref = { apiVersion: gone.apiVersion, kind: gone.kind, metadata: { name: gone.metadata.name, ...(gone.metadata.namespace ? { namespace: gone.metadata.namespace } : {}) } };
        if (await kube.readObject(k, ref)) out.push(`${kube.describeRef(ref)} exists again (the addon deleted it)`);
      }
      return out;
    },
  },
  'kube-configmap': {
    params: v.strictObject({
      name: text,
      namespace: v.optional(text),
      key: text,
      edit: text,
      args: v.optional(or$(v.record(v.string(), v.unknown(), `must be a mapping ${OR}`))),
      labels: v.optional(or$(v.record(v.string(), v.string(), `must be a mapping of label values ${OR}`))),
      restarts,
    }),
    async verify({ record, ctx, cluster }) {
      if (!ctx.cluster) return [];
      const { kube, k } = await cluster();
      const name = record.name as string;
      const namespace = record.namespace as string;
      const key = record.key as string;
      const cm = await kube.readObject<{ data?: Record<string, string> } & ObjectRef>(k, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace } });
      if (!cm) return [`configmap/${name} in ${namespace} does not exist`];
      return cm.data?.[key] === undefined ? [`configmap/${name} in ${namespace} has no ${key}`] : [];
    },
  },
  'kube-wait': {
    params: v.strictObject({
      rollouts: or$(v.array(v.strictObject({ kind: v.picklist(['Deployment', 'DaemonSet']), name: text, namespace: text }), `must be a list of {kind, name, namespace} ${OR}`)),
      restarts,
    }),
    async verify({ params, ctx, cluster, applied }) {
      if (!ctx.cluster) return [];
      const rollouts = params.rollouts as KubeAdapter.RolloutRef[] | undefined;
      if (!Array.isArray(rollouts)) return [];
      const { kube, k } = await cluster();
      const out: string[] = [];
      for (const r of rollouts) {
        const ref = { apiVersion: 'apps/v1', kind: r.kind, metadata: { name: r.name, namespace: r.namespace } };
        const live = await kube.readObject<never>(k, ref);
        if (!live && applied.has(refKey(ref))) continue;
        const state = kube.rolloutState(r.kind, live);
        if (!state.ready) out.push(`${r.kind.toLowerCase()}/${r.name} in ${r.namespace} is not ready: ${state.reason}`);
      }
      return out;
    },
  },
  'kube-restart-pods': {
    params: v.strictObject({
      agent: podSelector,
      /** The custom resource with one object per pod the CNI manages (Cilium: ciliumendpoints). */
      managedBy: v.strictObject({ apiVersion: text, resource: text }),
      enabled: v.optional(bool),
      restarts,
    }),
    // Pods restarted under the new CNI are whatever their controllers make of them now.
    verify: nothingLasting,
  },
  'helm-release': {
    params: v.strictObject({
      helm: text,
      release: text,
      namespace: text,
      chart: text,
      chartVersion: text,
      values: v.optional(or$(v.record(v.string(), v.unknown(), `must be a mapping of chart values ${OR}`))),
      postRenderer: v.optional(v.nullable(command)),
      skipCrds: v.optional(bool),
      waitGone: v.optional(podSelector),
      leftovers: v.optional(
        v.strictObject({ links: v.optional(texts), programs: v.optional(text), pins: v.optional(texts), paths: v.optional(texts) }),
      ),
      restarts,
    }),
    async verify({ record, params, ctx }) {
      if (!ctx.cluster) return [];
      const helm = await import('../../adapters/helm.js');
      const release = record.release as string;
      const namespace = record.namespace as string;
      const h = { helm: record.helm as string, kubeconfig: ctx.kubeconfig, env: ctx.env };
      const found = await helm.list(h, { namespace, filter: `^${release}$`, all: true });
      const rel = found.find((r) => r.name === release);
      if (!rel) return [`release ${release} in ${namespace} does not exist`];
      if (rel.status !== 'deployed') return [`release ${release} in ${namespace} is ${rel.status}, not deployed`];
      // What the addon deployed, when the manifest says it without a hook (a chart addon's ${version}, ${values}).
      const wantVersion = typeof params.chartVersion === 'string' ? params.chartVersion : undefined;
      const wantValues = params.values !== null && typeof params.values === 'object' ? params.values : undefined;
      helm.forgetReleaseStates();
      const st = await helm.releaseState(h, { release, namespace });
      const out: string[] = [];
      const gone = st ? await helm.missingReleaseObjects(h, st, namespace) : [];
      if (gone.length) out.push(`release ${release} in ${namespace}: ${helm.goneText(gone)} (deleted outside mk8s-addons; enable makes it again)`);
      if (st && wantVersion !== undefined && st.chartVersion !== wantVersion) out.push(`release ${release} in ${namespace} runs chart ${st.chartVersion}, not ${wantVersion}`);
      if (st && wantValues !== undefined && !helm.sameHelmValues(st.values, wantValues)) out.push(`release ${release} in ${namespace} has other values than the addon set (changed outside mk8s-addons)`);
      return out;
    },
  },
  'node-fanout': {
    // Made by src/cluster/fan-out.ts after a run of `node: true` steps, never written in a manifest.
    params: v.custom(() => false, 'node-fanout steps are made by the fan-out on a cluster; mark the node steps `node: true` instead'),
    // The other nodes' state is what their own node steps say: status asks them (src/cluster/drift.ts).
    verify: nothingLasting,
  },
  'pod-file': {
    params: v.strictObject({ namespace: text, selector: text, container: text, program: text, path: text, enabled: v.optional(bool), restarts }),
    async verify({ record, ctx }) {
      const file = record.path as string;
      return (await exists(file)) ? [] : [`${relative(ctx, file)} is missing`];
    },
  },
} satisfies KindTable<KindDefinition>;
