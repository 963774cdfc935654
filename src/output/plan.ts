/** Renders a plan for people (pretty/plain) or as one JSON line. Pure: returns text. */
import type { Plan } from '../planner.js';
import type { OutputMode } from '../grammar.js';

export function planEvent(plan: Plan): Record<string, unknown> {
  return {
    type: 'plan',
    command: plan.command,
    addons: plan.addons.map((a) => ({
      name: a.name,
      requested: a.requested,
      version: a.version,
      reason: a.reason,
      args: a.args,
      options: a.options,
      steps: a.steps.map((s) => ({ phase: s.phase, kind: s.kind, description: s.description })),
    })),
  };
}

export function renderPlan(plan: Plan, mode: OutputMode): string {
  if (mode === 'json') return `${JSON.stringify(planEvent(plan))}\n`;
  const lines = [`Plan: ${plan.command} ${plan.addons.map((a) => a.name).join(', ')} (dry run: nothing on the node is read or changed)`];
  const width = Math.max(...plan.addons.flatMap((a) => a.steps.map((s) => s.phase.length)));
  for (const a of plan.addons) {
    const version = a.version ? ` ${a.version}` : '';
    const why = a.reason === 'requested' ? (a.requested ? ` (requested ${a.requested})` : '') : ` (${a.reason})`;
    lines.push(`${a.name}${version}${why}`);
    for (const s of a.steps) lines.push(`  ${s.phase.padEnd(width)}  ${s.description}`);
  }
  return `${lines.join('\n')}\n`;
}
