/**
 * What one node is asked to do through its cluster agent: `configure` with the addon enable
 * `mk8s-addons-node:PAYLOAD` runs our repository's hook there (MicroK8s splits a bare name's `:ARGS` and
 * passes them on), which runs mk8s-addons in node-local mode (src/cluster/node-local.ts). PAYLOAD is
 * base64url JSON (no `:`), so it survives MicroK8s's split. Pure.
 */
import { UsageError } from '../errors.js';

/** The addon entry of our repository that runs node-local mode. */
export const NODE_ADDON = 'mk8s-addons-node';

export interface NodeRequest {
  /**
   * enable: run `steps` of `addon` (node steps only) to converge; check: the same as a dry-run, reported on
   * the Node; disable: undo every node step of `addon` this node journaled; reset: `reset` on that node
   * (every addon its journal lists undone, its files restored from its own snapshot; `addon` and `steps` unused).
   */
  action: 'enable' | 'check' | 'disable' | 'reset';
  /** The addon as the initiating node resolved it, in flag style (`cilium --version 1.20.0`): words for the grammar. */
  spec: string[];
  addon: string;
  /** The node steps to run (names within the addon; dependencies' node steps come with them). */
  steps: string[];
  /** For check: the key the node reports under (a fresh one per check). */
  nonce?: string;
  /**
   * check: the other checks to run (`spec`, `addon`, `steps`, `nonce` above are the first; src/cluster/
   * node-checks.ts). Each is reported under its own nonce, all in one patch of the Node.
   */
  checks?: NodeCheck[];
  /**
   * enable: other node-local enables to run first, each its own run (the converges an earlier fan-out step
   * handed to this one: src/cluster/node-checks.ts).
   */
  before?: NodeRun[];
}

/** One node-local enable: `steps` of `addon` (node steps; its dependencies' node steps with them). */
export interface NodeRun {
  spec: string[];
  addon: string;
  steps: string[];
}

/** One check a node runs and reports (a dry-run of `steps` of `addon`, reported under `nonce`). */
export interface NodeCheck extends NodeRun {
  nonce: string;
}

const words = (x: unknown) => Array.isArray(x) && x.every((w) => typeof w === 'string');
const isRun = (c: unknown) => {
  const x = c as Partial<NodeRun> | null;
  return typeof x === 'object' && x !== null && words(x.spec) && typeof x.addon === 'string' && words(x.steps);
};
const isCheck = (c: unknown) => isRun(c) && typeof (c as NodeCheck).nonce === 'string';
const listOf = (x: unknown, ok: (c: unknown) => boolean) => x === undefined || (Array.isArray(x) && x.every(ok));

export function encodeNodeRequest(r: NodeRequest): string {
  return `${NODE_ADDON}:${Buffer.from(JSON.stringify(r)).toString('base64url')}`;
}

export function decodeNodeRequest(arg: string): NodeRequest {
  let r: NodeRequest;
  try {
    r = JSON.parse(Buffer.from(arg, 'base64url').toString('utf8')) as NodeRequest;
  } catch {
    throw new UsageError(`${NODE_ADDON} is run by mk8s-addons through the cluster agent, with one encoded argument; do not enable it by hand`);
  }
  const ok =
    typeof r === 'object' && r !== null && ['enable', 'check', 'disable', 'reset'].includes(r.action) && words(r.spec) && typeof r.addon === 'string' && words(r.steps) && ['undefined', 'string'].includes(typeof r.nonce) && listOf(r.checks, isCheck) && listOf(r.before, isRun);
  if (!ok) throw new UsageError(`${NODE_ADDON}: the request is not one mk8s-addons sends (action, spec, addon, steps); do not enable it by hand`);
  return r;
}
