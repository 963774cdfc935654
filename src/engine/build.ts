/**
 * From planned steps (catalogue data) to runnable steps: parameters are substituted (`${SNAP_DATA}`,
 * `${SNAP}`, `${SNAP_COMMON}`, `${args.NAME}`, `${vars.NAME}`), then each kind's factory builds the step.
 * `vars` come from the addon's hooks (values rendered for its version, validated DNS arguments, ...).
 */
import type { PlannedAddon } from '../planner.js';
import type { Step } from './step.js';
import type { KindContext } from './kinds/types.js';
import { kindImpl } from './kinds/index.js';
import { InternalError } from '../errors.js';

export interface Scope {
  SNAP: string;
  SNAP_DATA: string;
  SNAP_COMMON: string;
  args: Record<string, unknown>;
  vars: Record<string, unknown>;
}

// `$${X}` stands for a literal `${X}` (MicroK8s files hold such variables themselves).
const PLACEHOLDER = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\}/g;

function lookup(name: string, scope: Scope, where: string): unknown {
  const [head, key] = name.split('.') as [string, string | undefined];
  let value: unknown;
  if (key === undefined) value = (scope as unknown as Record<string, unknown>)[head];
  else if (head === 'args' || head === 'vars') value = scope[head][key];
  if (value === undefined) throw new InternalError(`${where}: \${${name}} has no value`);
  return value;
}

/** Substitutes placeholders; a string that is exactly one placeholder takes the value as it is. */
export function substitute(value: unknown, scope: Scope, where: string): unknown {
  if (typeof value === 'string') {
    const whole = /^\$\{([^}]+)\}$/.exec(value);
    if (whole) return lookup(whole[1] as string, scope, where);
    return value.replace(PLACEHOLDER, (_, escaped: string, name: string) => (escaped ? `\${${name}}` : String(lookup(name, scope, where))));
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, scope, where));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, scope, where)]));
  }
  return value;
}

export function buildSteps(addon: PlannedAddon, kctx: KindContext, vars: Record<string, unknown>): Step[] {
  const scope: Scope = { SNAP: kctx.paths.snap, SNAP_DATA: kctx.paths.snapData, SNAP_COMMON: kctx.paths.snapCommon, args: addon.args, vars };
  return addon.steps.map((s) => {
    const params = substitute(s.params, scope, s.phase) as Record<string, unknown>;
    const step = kindImpl(s.kind).create({ phase: s.phase, meta: { phase: s.phase, kind: s.kind, description: s.description }, params }, kctx);
    // Any step may name the services that read what it changes (`restarts: [containerd]`).
    const restarts = params.restarts;
    if (Array.isArray(restarts)) return { ...step, restarts: [...(step.restarts ?? []), ...restarts.map(String)] };
    return step;
  });
}
