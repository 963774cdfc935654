/**
 * Step parameter placeholders: `${SNAP}`, `${SNAP_DATA}`, `${SNAP_COMMON}`, `${args.NAME}`, `${vars.NAME}`,
 * and for addons with pinned charts `${version}`, `${chart}`, `${helm}`, `${release.name}`,
 * `${release.namespace}`, `${values}` (src/addons/chart-addon.ts). Pure.
 */
import { InternalError } from '../errors.js';

export interface Scope {
  SNAP: string;
  SNAP_DATA: string;
  SNAP_COMMON: string;
  args: Record<string, unknown>;
  vars: Record<string, unknown>;
  /** The resolved version of an addon with pinned charts. */
  version?: string;
  /** The pinned chart file for that version. */
  chart?: string;
  /** The helm binary (MicroK8s's own, else mk8s-addons's). */
  helm?: string;
  /** The manifest's release. */
  release?: { name: string; namespace: string };
  /** The values template for the version with the arguments' values set. */
  values?: Record<string, unknown>;
}

/** The placeholders a manifest may use besides `${vars.X}` (src/addons/chart-addon.ts computes them). */
export type ChartScope = Pick<Scope, 'version' | 'chart' | 'helm' | 'release' | 'values'>;

// `$${X}` stands for a literal `${X}` (MicroK8s files hold such variables themselves).
const PLACEHOLDER = /\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?)\}/g;

function lookup(name: string, scope: Scope, where: string): unknown {
  const [head, key] = name.split('.') as [string, string | undefined];
  let value: unknown;
  if (key === undefined) value = head === 'args' || head === 'vars' || head === 'release' ? undefined : (scope as unknown as Record<string, unknown>)[head];
  else if (head === 'args' || head === 'vars') value = scope[head][key];
  else if (head === 'release' && (key === 'name' || key === 'namespace')) value = scope.release?.[key];
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

/** The placeholder heads (`helm`, `values`, `vars`, ...) that parameters use, to compute only those. */
export function usedPlaceholders(params: unknown, into = new Set<string>()): Set<string> {
  if (typeof params === 'string') {
    for (const m of params.matchAll(PLACEHOLDER)) if (!m[1]) into.add((m[2] as string).split('.')[0] as string);
  } else if (Array.isArray(params)) for (const v of params) usedPlaceholders(v, into);
  else if (params !== null && typeof params === 'object') for (const v of Object.values(params)) usedPlaceholders(v, into);
  return into;
}

