/** What a step kind implementation provides: a factory from planned data, and undo from a record. */
import type { StepKind } from '../../catalogue.js';
import type { SnapPaths } from '../../node/node.js';
import type { Layout } from '../../planner.js';
import type { Step, StepContext, UndoRecord } from '../step.js';

/** A planned step with its parameters already substituted (`${SNAP_DATA}`, `${args.X}`, `${vars.X}`). */
export interface StepSeed {
  phase: string;
  meta: { phase: string; kind: StepKind; description: string };
  params: Record<string, unknown>;
}

/**
 * An edit of one ConfigMap value, for kube-configmap steps: the current text (undefined when the ConfigMap
 * or its key is absent) and the step's `args` in, the wanted text out. Pure.
 */
export type ConfigMapEdit = (current: string | undefined, args: Record<string, unknown>) => string;

/** What a kind may know when it builds a step: where the node is and its era, and what the addon's hook prepared. */
export interface KindContext {
  paths: SnapPaths;
  layout: Layout;
  /** The ConfigMap edits the addon's hook returned, by the name its kube-configmap steps give in `edit`. */
  edits?: Readonly<Record<string, ConfigMapEdit>>;
}

export interface StepKindImpl {
  kind: StepKind;
  create(seed: StepSeed, ctx: KindContext): Step;
  /**
   * Undo from the journaled record alone (used by rollback, crash recovery, disable and reset).
   * Resolves `false` when there was nothing to undo (a wait, a restart request), so it is not counted.
   */
  undo(ctx: StepContext, record: UndoRecord): Promise<boolean | void>;
}
