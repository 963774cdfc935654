/**
 * From planned steps (catalogue data) to runnable steps: parameters are substituted (`${SNAP_DATA}`,
 * `${SNAP}`, `${SNAP_COMMON}`, `${args.NAME}`, `${vars.NAME}`, and for addons with pinned charts
 * `${version}`, `${chart}`, `${helm}`, `${release.name}`, `${release.namespace}`, `${values}`), then each
 * kind's factory builds the step. `vars` come from the addon's hooks (Cilium's values, validated DNS
 * arguments, ...); the chart placeholders from the manifest alone (src/addons/chart-addon.ts).
 */
import type { PlannedAddon } from '../planner.js';
import type { Step } from './step.js';
import type { KindContext } from './kinds/types.js';
import { kindImpl } from './kinds/index.js';

export { substitute, usedPlaceholders, type Scope, type ChartScope } from './placeholders.js';
import { substitute, type Scope, type ChartScope } from './placeholders.js';

export function buildSteps(addon: PlannedAddon, kctx: KindContext, vars: Record<string, unknown>, chart: ChartScope = {}): Step[] {
  const scope: Scope = { SNAP: kctx.paths.snap, SNAP_DATA: kctx.paths.snapData, SNAP_COMMON: kctx.paths.snapCommon, args: addon.args, vars, ...chart };
  return addon.steps.map((s) => {
    const params = substitute(s.params, scope, s.phase) as Record<string, unknown>;
    const step = kindImpl(s.kind).create({ phase: s.phase, meta: { phase: s.phase, kind: s.kind, description: s.description }, params }, kctx);
    // Any step may name the services that read what it changes (`restarts: [containerd]`).
    const restarts = params.restarts;
    if (Array.isArray(restarts)) return { ...step, restarts: [...(step.restarts ?? []), ...restarts.map(String)] };
    return step;
  });
}
