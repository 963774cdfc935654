/**
 * The helm-release step kind: `helm upgrade --install` of a release from a pinned chart with complete
 * values. check compares the deployed chart version and values with the wanted ones; undo rolls back to
 * the revision that was there before, or uninstalls a release that did not exist (and waits for its pods
 * to go).
 */
import * as helm from '../../adapters/helm.js';
import * as kube from '../../adapters/kube.js';
import type { Command } from '../../adapters/process.js';
import type { Step, StepContext, UndoRecord } from '../step.js';
import type { StepKindImpl } from './types.js';
import { InternalError, StepError } from '../../errors.js';
import { unifiedDiff } from '../../output/diff.js';
import { leftoversRecord, removeLeftovers, type Leftovers, type LeftoversRecord } from './leftovers.js';

/**
 * Undo waits at least two minutes: a short --timeout is for the rollout the user waits on, and must not
 * make a rollback give up half-way (namespace deletion alone takes seconds).
 */
export const undoWaitMs = (ctx: StepContext): number => Math.max(ctx.timeoutMs, 120_000);

const helmContext = (ctx: StepContext, binary: string, phase?: string): helm.HelmContext => ({
  helm: binary,
  kubeconfig: ctx.kubeconfig,
  env: ctx.env,
  signal: ctx.signal,
  ...(phase ? { phase } : {}),
});


/** Keys sorted at every depth (JSON.stringify's replacer array would be an allow-list at every depth). */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v).sort()) {
    Object.defineProperty(out, key, { value: sortedKeys((v as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** The --dry-run diff of a release's values: deployed -> wanted, as JSON with keys sorted at every depth. */
export function valuesDiff(release: string, deployed: unknown, wanted: unknown): string {
  const text = (v: unknown): string => `${JSON.stringify(sortedKeys(v ?? {}), null, 2)}\n`;
  return unifiedDiff(`release ${release} values`, text(deployed), text(wanted));
}

const helmRelease: StepKindImpl = {
  kind: 'helm-release',
  create(seed): Step {
    const p = seed.params;
    for (const key of ['helm', 'release', 'namespace', 'chart', 'chartVersion']) {
      if (typeof p[key] !== 'string' || p[key] === '') throw new InternalError(`step ${seed.phase}: parameter "${key}" must be a non-empty string`);
    }
    const binary = p.helm as string;
    const release = p.release as string;
    const namespace = p.namespace as string;
    const chart = p.chart as string;
    const chartVersion = p.chartVersion as string;
    const values = (p.values as helm.HelmValues | undefined) ?? {};
    const postRenderer = p.postRenderer as Command | undefined;
    const waitGone = p.waitGone as { namespace: string; selector: string } | undefined;
    const skipCrds = p.skipCrds === true;
    const leftovers = p.leftovers as Leftovers | undefined;
    // What apply runs, for --dry-run: the values go to a temporary file, shown as values.json (the detail has them).
    const command = (ctx: StepContext) =>
      helm.helmUpgradeInstallCommand(helmContext(ctx, binary), { release, chart, namespace, valuesFiles: ['values.json'], skipCrds, ...(postRenderer ? { postRenderer } : {}) });
    return {
      ...seed.meta,
      async check(ctx) {
        const h = helmContext(ctx, binary);
        const st = await helm.releaseState(h, { release, namespace });
        if (!st) return { satisfied: false, summary: `install release ${release} (chart ${chartVersion}) in ${namespace}`, detail: `values:\n${helm.valuesFileText(values)}`, commands: [command(ctx)] };
        const sameValues = helm.sameHelmValues(st.values, values);
        const rel = st.release;
        if (rel.status === 'deployed' && st.chartVersion === chartVersion && sameValues) {
          // Objects of the release deleted outside mk8s-addons: the same upgrade makes them again.
          const gone = await helm.missingReleaseObjects(h, st, namespace);
          if (gone.length === 0) return { satisfied: true, summary: `release ${release} is at chart ${chartVersion} with the wanted values` };
          return { satisfied: false, summary: `upgrade release ${release}: ${helm.goneText(gone)} (deleted outside mk8s-addons)`, commands: [command(ctx)] };
        }
        const what = [
          st.chartVersion !== chartVersion ? `chart ${st.chartVersion} -> ${chartVersion}` : '',
          sameValues ? '' : 'values changed',
          rel.status !== 'deployed' ? `status ${rel.status}` : '',
        ].filter(Boolean);
        return { satisfied: false, summary: `upgrade release ${release}: ${what.join(', ')}`, ...(sameValues ? {} : { detail: valuesDiff(release, st.values, values) }), commands: [command(ctx)] };
      },
      async prepare(ctx) {
        const st = await helm.releaseState(helmContext(ctx, binary), { release, namespace });
        const previousRevision = st && st.release.status === 'deployed' ? Number(st.release.revision) : null;
        return {
          helm: binary,
          release,
          namespace,
          previousRevision,
          ...(waitGone ? { waitGone } : {}),
          // What the release's agent will leave on the node, removed when the release is uninstalled.
          ...(leftovers && previousRevision === null ? { leftovers: await leftoversRecord(leftovers, ctx.bpffs) } : {}),
        };
      },
      async apply(ctx) {
        await helm.upgradeInstall(helmContext(ctx, binary, seed.phase), { release, chart, namespace, values: [values], skipCrds, ...(postRenderer ? { postRenderer } : {}) });
      },
      undo: (c, r) => helmRelease.undo(c, r),
    };
  },
  async undo(ctx: StepContext, record: UndoRecord) {
    const h = helmContext(ctx, record.helm as string);
    const ref = { release: record.release as string, namespace: record.namespace as string };
    const rel = (await helm.releaseState(h, ref))?.release;
    if (record.previousRevision === null) {
      // --wait: helm returns once what the release made is gone (1.16+ charts own a namespace,
      // cilium-secrets, that an enable right after would otherwise find terminating).
      if (rel) await helm.uninstall(h, { ...ref, waitMs: undoWaitMs(ctx) });
    } else if (rel && Number(rel.revision) !== record.previousRevision) {
      await helm.rollback(h, { ...ref, revision: record.previousRevision as number });
    }
    const gone = record.waitGone as { namespace: string; selector: string } | undefined;
    if (gone && record.previousRevision === null) {
      const k = await kube.connect(ctx.kubeconfig);
      await kube.waitPodsGone(k, gone.namespace, gone.selector, { timeoutMs: undoWaitMs(ctx), signal: ctx.signal }).catch((err: Error) => {
        throw new StepError(`release ${ref.release} was uninstalled but ${err.message}`);
      });
    }
    const left = record.leftovers as LeftoversRecord | undefined;
    if (left && record.previousRevision === null) await removeLeftovers(ctx, left, `release ${ref.release}`);
  },
};

export const HELM_KINDS: readonly StepKindImpl[] = [helmRelease];
