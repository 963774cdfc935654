/** Runs a plan on the node through the engine. */
import type { Catalogue } from '../catalogue.js';
import type { AddonSpec, GlobalOptions, OutputMode } from '../grammar.js';
import type { Plan } from '../planner.js';
import type { Streams } from './index.js';
import { PreconditionError } from '../errors.js';

export async function runPlan(plan: Plan, _specs: AddonSpec[], _catalogue: Catalogue, _globals: GlobalOptions, _output: OutputMode, _io: Streams): Promise<number> {
  throw new PreconditionError(`${plan.command} on a node needs the execution engine, which this build does not have yet; use --dry-run to see the plan`);
}
