/**
 * `status` on a cluster: each enabled addon's node steps checked on every other node (node-local check
 * through the node's cluster agent, reported on its Node object; nothing on the node changes), so an
 * addon whose node steps drifted on one node (flannel running again on node-2), or that a node joined
 * since the last enable never got, is named with that node.
 */
import { randomBytes } from 'node:crypto';
import type { Catalogue } from '../catalogue.js';
import type { Journal } from '../engine/journal.js';
import type { StepContext } from '../engine/step.js';
import type { ClusterEndpoint } from '../adapters/cluster-agent.js';
import type { NodeCheck } from './payload.js';
import { fanOutNodes, nodeSpec, onNodes, readReports } from './fan-out.js';

/**
 * Per addon with node steps: `node-2: enable/cilium/flannel-lock, ...` for each node that would change.
 * Every addon's check in one node-local process per node (each reported under its own nonce).
 */
export async function clusterDrift(nodes: readonly ClusterEndpoint[], journal: Journal, catalogue: Catalogue, ctx: Pick<StepContext, 'kubeconfig' | 'timeoutMs' | 'signal'>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const checks: (NodeCheck & { converged: Set<string> })[] = [];
  for (const [name, rec] of Object.entries(journal.addons)) {
    const manifest = catalogue.get(name);
    const steps = manifest?.steps.filter((s) => s.node).map((s) => s.name) ?? [];
    if (!manifest || steps.length === 0) continue;
    const spec = nodeSpec({ name, version: rec.version, args: (rec.args ?? {}) as Record<string, string | boolean> } as Parameters<typeof nodeSpec>[0], manifest);
    // A node whose node steps all went through configure has no journal entry of its own: the fan-out records here name it.
    checks.push({ spec, addon: name, steps, nonce: randomBytes(8).toString('hex'), converged: fanOutNodes(rec.steps) });
  }
  const [first, ...rest] = checks.map(({ converged: _, ...c }) => c);
  if (!first) return out;
  await onNodes(ctx as StepContext, nodes, { action: 'check', ...first, ...(rest.length ? { checks: rest } : {}) }, 'status/other-nodes');
  const reports = await readReports(ctx, nodes.map((n) => n.name));
  for (const c of checks) {
    const problems: string[] = [];
    for (const n of nodes) {
      const r = reports.get(n.name)?.find((x) => x.nonce === c.nonce);
      if (!r) problems.push(`${n.name}: did not report its check`);
      else if (r.changes.length) problems.push(`${n.name} ${r.enabled || c.converged.has(n.name) ? 'drifted' : 'not converged (joined later?)'}: ${r.changes.join(', ')}; run mk8s-addons enable ${c.addon} again`);
    }
    if (problems.length) out.set(c.addon, problems);
  }
  return out;
}
