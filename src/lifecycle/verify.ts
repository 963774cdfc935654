/**
 * Is an enabled addon still there? For `status`: each step the journal records for the addon is checked
 * against the live node and cluster by its kind's `verify` (src/engine/kinds/definitions.ts: every kind
 * has one, by type), from its undo record and the manifest step's parameters that are known without the
 * addon's hook (literal ones, `${SNAP_DATA}`, `${args.X}`, and a chart addon's `${version}` and
 * `${values}`). Read-only; no lock; never a substring match over pod names.
 *
 * kube-wait steps are checked from the manifest even when the journal has no record of them: the engine
 * journals only steps that changed something, and a wait that was satisfied at once changed nothing.
 */
import type { AddonManifest, StepSpec } from '../catalogue.js';
import { KIND_DEFINITIONS, refKey, type KindDefinition } from '../engine/kinds/definitions.js';
import type { ChartScope } from '../engine/placeholders.js';

import type { EnabledAddon, JournalStep } from '../engine/journal.js';
import type { ServiceManager } from '../engine/services.js';
import type { SnapPaths } from '../node/node.js';
import { selectSteps, type Layout } from '../planner.js';
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
export interface Cluster {
  kube: typeof KubeAdapter;
  k: Kube;
}

/** What a kind's `verify` gets. */
export interface VerifyInput {
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
    const definition: KindDefinition | undefined = KIND_DEFINITIONS[step.kind];
    if (!definition) continue; // a kind the journal names that this version does not know
    const spec = specOf(step.phase);
    try {
      const found = await definition.verify({ step, record: step.record, spec, params: knownParams(spec, addon, ctx, chart), ctx, cluster, applied });
      for (const message of found) problems.push({ phase: step.phase, message });
    } catch (err) {
      problems.push({ phase: step.phase, message: `cannot check: ${(err as Error).message.split('\n')[0]}` });
    }
  }
  return problems;
}

