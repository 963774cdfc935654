/**
 * Is an enabled addon still there? For `status`: each step the journal records for the addon is checked
 * against the live node and cluster, by kind, from its undo record (and the manifest step's literal
 * parameters where the record does not say what was wanted). Read-only; no lock; never a substring match
 * over pod names. Every kind has an entry (`KindTable`); one with nothing lasting to check (links, pod
 * restarts) says so with `nothingLasting`.
 *
 * | kind | what must hold |
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
 *
 * kube-wait steps are checked from the manifest even when the journal has no record of them: the engine
 * journals only steps that changed something, and a wait that was satisfied at once changed nothing.
 */
import path from 'node:path';
import type { AddonManifest, KindTable, StepSpec } from '../catalogue.js';
import type { ChartScope } from '../engine/placeholders.js';

import type { EnabledAddon, JournalStep } from '../engine/journal.js';
import type { ServiceManager } from '../engine/services.js';
import type { SnapPaths } from '../node/node.js';
import { selectSteps, type Layout } from '../planner.js';
import { exists, readText } from '../adapters/fs.js';
import { findFlag } from '../node/args-file.js';
import { substitute, type Scope } from '../engine/placeholders.js';
import type * as KubeAdapter from '../adapters/kube.js';

/** What verification may read. */
export interface VerifyContext {
  paths: SnapPaths;
  layout: Layout;
  kubeconfig: string;
  /** Environment for helm (proxy variables removed). */
  env: NodeJS.ProcessEnv;
  /** False when MicroK8s is not running: only the node's files are checked. */
  cluster: boolean;
  /** The node's services (for service steps); checked only while MicroK8s runs. */
  services?: ServiceManager;
}

/** One thing that does not hold, by the phase of the step that made it. */
export interface Problem {
  phase: string;
  message: string;
}

type ObjectRef = KubeAdapter.ObjectRef;
type Kube = KubeAdapter.Kube;

/** The lazily loaded Kubernetes adapter and one connection, shared by the checks of a status run. */
interface Cluster {
  kube: typeof KubeAdapter;
  k: Kube;
}

interface CheckInput {
  step: JournalStep;
  record: Record<string, unknown>;
  /** The manifest step, when the catalogue still has it. */
  spec: StepSpec | undefined;
  /** Parameters of the manifest step with `${SNAP_DATA}` and `${args.X}` filled in; a value that needs the addon's hook is left out. */
  params: Record<string, unknown>;
  ctx: VerifyContext;
  cluster: () => Promise<Cluster>;
  /** Objects that kube-apply steps of this addon applied (so kube-wait does not report their absence twice). */
  applied: ReadonlySet<string>;
}

type Check = (input: CheckInput) => Promise<string[]>;

const refKey = (r: { kind: string; metadata: { name: string; namespace?: string } }) => `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`;

function relative(ctx: VerifyContext, file: string): string {
  const rel = path.relative(ctx.paths.snapData, file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel;
}

/** Substitutes what can be known without the addon's hook; a parameter that needs `${vars.X}` is dropped. */
function knownParams(spec: StepSpec | undefined, addon: EnabledAddon, ctx: VerifyContext, chart: ChartScope): Record<string, unknown> {
  const scope: Scope = { SNAP: ctx.paths.snap, SNAP_DATA: ctx.paths.snapData, SNAP_COMMON: ctx.paths.snapCommon, args: addon.args, vars: {}, ...chart };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(spec?.params ?? {})) {
    try {
      out[key] = substitute(value, scope, spec?.name ?? key);
    } catch {
      // Computed by the addon's hook at enable time: not known here.
    }
  }
  return out;
}

/** Nothing lasting to check: a wait's or a restart's effect is not a state the node keeps. */
const nothingLasting: Check = async () => [];

/** Every step kind's check (`KindTable`: a kind without one does not compile). */
const CHECKS = {
  async file({ record, params, ctx }) {
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

  async 'pod-file'({ record, ctx }) {
    const file = record.path as string;
    return (await exists(file)) ? [] : [`${relative(ctx, file)} is missing`];
  },

  async 'args-flag'({ record, params, ctx }) {
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

  async lock({ record, ctx }) {
    const file = record.path as string;
    return (await exists(file)) ? [] : [`${relative(ctx, file)} is missing`];
  },

  async rename({ record, ctx }) {
    const out: string[] = [];
    for (const [from, to] of (record.renames as [string, string][] | undefined) ?? []) {
      if (await exists(from)) out.push(`${relative(ctx, from)} is active again (the addon set it aside as ${path.basename(to)})`);
    }
    return out;
  },

  async process({ params, ctx }) {
    const creates = params.creates;
    if (typeof creates !== 'string') return [];
    return (await exists(creates)) ? [] : [`${relative(ctx, creates)} is missing`];
  },

  async service({ record, ctx }) {
    if (record.restart === true || !ctx.cluster || !ctx.services) return [];
    const daemon = record.daemon as string;
    const wanted = !(record.wasActive as boolean);
    const active = await ctx.services.isActive(daemon);
    return active === wanted ? [] : [`daemon-${daemon} is ${active ? 'running' : 'stopped'}; the addon ${wanted ? 'started' : 'stopped'} it`];
  },

  async 'kube-apply'({ record, ctx, cluster }) {
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

  async 'kube-configmap'({ record, ctx, cluster }) {
    if (!ctx.cluster) return [];
    const { kube, k } = await cluster();
    const name = record.name as string;
    const namespace = record.namespace as string;
    const key = record.key as string;
    const cm = await kube.readObject<{ data?: Record<string, string> } & ObjectRef>(k, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace } });
    if (!cm) return [`configmap/${name} in ${namespace} does not exist`];
    return cm.data?.[key] === undefined ? [`configmap/${name} in ${namespace} has no ${key}`] : [];
  },

  async 'helm-release'({ record, params, ctx }) {
    if (!ctx.cluster) return [];
    const helm = await import('../adapters/helm.js');
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
    if (wantVersion === undefined && wantValues === undefined) return [];
    helm.forgetReleaseStates();
    const st = await helm.releaseState(h, { release, namespace });
    const out: string[] = [];
    if (st && wantVersion !== undefined && st.chartVersion !== wantVersion) out.push(`release ${release} in ${namespace} runs chart ${st.chartVersion}, not ${wantVersion}`);
    if (st && wantValues !== undefined && !helm.sameHelmValues(st.values, wantValues)) out.push(`release ${release} in ${namespace} has other values than the addon set (changed outside mk8s-addons)`);
    return out;
  },

  async 'kube-wait'({ params, ctx, cluster, applied }) {
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

  // Links the step deleted come back when their owner starts again (flanneld, the agent): not the addon's.
  link: nothingLasting,
  // Pods restarted under the new CNI are whatever their controllers make of them now.
  'kube-restart-pods': nothingLasting,
} satisfies KindTable<Check>;

/**
 * Checks an enabled addon against the node and the cluster. Returns what does not hold (empty: the
 * addon is as the journal says); a check that cannot run says so as a problem of its step.
 */
export async function verifyAddon(name: string, addon: EnabledAddon, manifest: AddonManifest | undefined, ctx: VerifyContext, folder?: string): Promise<Problem[]> {
  let connection: Promise<Cluster> | undefined;
  const cluster = () =>
    (connection ??= (async () => {
      const kube = await import('../adapters/kube.js');
      return { kube, k: await kube.connect(ctx.kubeconfig) };
    })());
  const stepName = (phase: string) => phase.split('/').at(-1) ?? phase;
  const specOf = (phase: string) => manifest?.steps.find((s) => s.name === stepName(phase));
  const applied = new Set(
    addon.steps.filter((s) => s.kind === 'kube-apply').flatMap((s) => ((s.record.objects as { ref: ObjectRef }[] | undefined) ?? []).map((o) => refKey(o.ref))),
  );

  // The journaled steps, then the manifest's waits that the journal does not have.
  const steps: JournalStep[] = [...addon.steps];
  for (const s of manifest ? selectSteps(manifest, addon.version, ctx.layout) : []) {
    const phase = `enable/${name}/${s.name}`;
    if (s.kind === 'kube-wait' && !steps.some((j) => j.phase === phase)) steps.push({ phase, kind: s.kind, addon: name, record: {} });
  }

  // The chart placeholders the manifest alone gives (version, release, values; not the chart file or helm).
  let chart: ChartScope = {};
  if (manifest) {
    const { chartScope } = await import('../addons/chart-addon.js');
    const planned = { name, requested: null, version: addon.version, reason: 'installed', args: addon.args, options: {}, steps: selectSteps(manifest, addon.version, ctx.layout).map((s) => ({ phase: '', name: s.name, kind: s.kind, description: s.description, params: s.params ?? {} })) };
    chart = await chartScope({ addon: planned, manifest, folder, paths: ctx.paths }, { files: false }).catch(() => ({}));
  }

  const problems: Problem[] = [];
  for (const step of steps) {
    const check: Check | undefined = CHECKS[step.kind];
    if (!check) continue; // a kind the journal names that this version does not know
    const spec = specOf(step.phase);
    try {
      const found = await check({ step, record: step.record, spec, params: knownParams(spec, addon, ctx, chart), ctx, cluster, applied });
      for (const message of found) problems.push({ phase: step.phase, message });
    } catch (err) {
      problems.push({ phase: step.phase, message: `cannot check: ${(err as Error).message.split('\n')[0]}` });
    }
  }
  return problems;
}

