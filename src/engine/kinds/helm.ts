/**
 * The helm-release step kind: `helm upgrade --install` of a release from a pinned chart with complete
 * values. check compares the deployed chart version and values with the wanted ones; undo rolls back to
 * the revision that was there before, or uninstalls a release that did not exist (and waits for its pods
 * to go).
 */
import { isDeepStrictEqual } from 'node:util';
import * as helm from '../../adapters/helm.js';
import * as kube from '../../adapters/kube.js';
import type { Command } from '../../adapters/process.js';
import type { Step, StepContext, UndoRecord } from '../step.js';
import type { StepKindImpl } from './types.js';
import { InternalError, StepError } from '../../errors.js';
import { unifiedDiff } from '../../output/diff.js';

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

/** The release as `helm list` shows it (every state), or undefined. `helm status` would also print the whole manifest. */
async function findRelease(h: helm.HelmContext, release: string, namespace: string): Promise<helm.HelmRelease | undefined> {
  const found = await helm.list(h, { namespace, filter: `^${release}$`, all: true });
  return found.find((r) => r.name === release);
}

const yamlish = (v: unknown) => JSON.stringify(v, Object.keys((v as object) ?? {}).sort(), 2);

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
    // What check saw, for the prepare that follows it at once (saves a helm process per run).
    let seen: { rel: helm.HelmRelease | undefined } | undefined;
    return {
      ...seed.meta,
      async check(ctx) {
        const h = helmContext(ctx, binary);
        const rel = await findRelease(h, release, namespace);
        seen = { rel };
        if (!rel) return { satisfied: false, summary: `install release ${release} (chart ${chartVersion}) in ${namespace}`, detail: `values:\n${helm.valuesFileText(values)}` };
        const deployedVersion = rel.chart.replace(/^.*-(\d+\.\d+\.\d+.*)$/, '$1');
        const deployedValues = (await helm.getValues(h, { release, namespace })) ?? {};
        const sameValues = isDeepStrictEqual(JSON.parse(JSON.stringify(deployedValues)), JSON.parse(JSON.stringify(values)));
        if (rel.status === 'deployed' && deployedVersion === chartVersion && sameValues) {
          return { satisfied: true, summary: `release ${release} is at chart ${chartVersion} with the wanted values` };
        }
        const what = [
          deployedVersion !== chartVersion ? `chart ${deployedVersion} -> ${chartVersion}` : '',
          sameValues ? '' : 'values changed',
          rel.status !== 'deployed' ? `status ${rel.status}` : '',
        ].filter(Boolean);
        return { satisfied: false, summary: `upgrade release ${release}: ${what.join(', ')}`, ...(sameValues ? {} : { detail: unifiedDiff(`release ${release} values`, yamlish(deployedValues), yamlish(values)) }) };
      },
      async prepare(ctx) {
        const rel = seen ? seen.rel : await findRelease(helmContext(ctx, binary), release, namespace);
        seen = undefined;
        return { helm: binary, release, namespace, previousRevision: rel && rel.status === 'deployed' ? Number(rel.revision) : null, ...(waitGone ? { waitGone } : {}) };
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
    const rel = await findRelease(h, ref.release, ref.namespace);
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
  },
};

export const HELM_KINDS: readonly StepKindImpl[] = [helmRelease];
