/**
 * Node-local mode: what a node runs when another node's fan-out asks it through its cluster agent
 * (`mk8s-addons-node:PAYLOAD`, our repository's hook; src/cluster/payload.ts). Only the addon's node
 * steps (`node: true`; a dependency's node steps with them), through the same engine, lock and journal
 * as any run on this node: check before change, exact undo, its own rollback. Allowed on workers (that
 * is where node steps must run too), never fans out further.
 * - enable: converge the steps named (and its dependencies' node steps);
 * - check: the same as a dry-run, reported on this node's Node object (annotation, with the nonce);
 * - disable: undo every step of the addon this node journaled;
 * - reset: `reset` here (src/commands/reset.ts `resetHere`): every addon this node's journal lists undone,
 *   its files restored from its own snapshot; what another node's `reset` asks of each node.
 */
import { Writable } from 'node:stream';
import type { GlobalOptions } from '../grammar.js';
import { parseAddonSpecs } from '../grammar.js';
import type { Streams } from '../commands/index.js';
import { EXIT, StepError } from '../errors.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
import type { SnapPaths } from '../node/node.js';
import type { Layout } from '../planner.js';
import { selfNodeName } from './nodes.js';
import { CHECK_ANNOTATION } from './fan-out.js';
import { nodeCheckReport, type CheckEvent } from './node-report.js';
import type { NodeRequest } from './payload.js';

export async function runNodeLocal(req: NodeRequest, globals: GlobalOptions, io: Streams): Promise<number> {
  const catalogue = await loadCatalogue();
  if (req.action === 'reset') {
    const { withNodeSession } = await import('../commands/run.js');
    const { resetHere } = await import('../commands/reset.js');
    return withNodeSession({ ...globals, dryRun: false }, 'plain', io, 'mk8s-addons (node-local, for another node) reset', async (s) => {
      await resetHere(s, catalogue, { dryRun: false, others: [] });
      s.sink.result({ ok: true, changed: s.stats.changed, restarts: s.stats.restarts });
      return EXIT.ok;
    }, { nodeLocal: (_addon, step) => step.node === true });
  }
  const command = req.action === 'disable' ? 'disable' : 'enable';
  const specs = parseAddonSpecs(command, command === 'enable' ? req.spec : [req.addon], globals, catalogue);
  const { withNodeSession } = await import('../commands/run.js');
  const only = (addon: string, step: { name: string; node?: boolean }) => step.node === true && (addon !== req.addon || command === 'disable' || req.steps.includes(step.name));
  if (req.action !== 'check') {
    const commandLine = `mk8s-addons (node-local, for another node) ${command} ${specs.map((s) => s.raw).join(' ')}`;
    return withNodeSession({ ...globals, dryRun: false }, 'plain', io, commandLine, async (s) => {
      const result = await s.runPlan(command, specs, catalogue);
      s.sink.result(result);
      return EXIT.ok;
    }, { nodeLocal: only });
  }
  // A dry-run whose events are collected, then reported on this node's Node object.
  const lines: string[] = [];
  const collect = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  let paths: SnapPaths | undefined;
  let layout: Layout = '1.20';
  let enabled = false;
  let kubeconfig = '';
  await withNodeSession({ ...globals, dryRun: true }, 'json', { ...io, stdout: collect }, `mk8s-addons (node-local check) ${req.spec.join(' ')}`, async (s) => {
    paths = s.paths;
    layout = s.layout;
    kubeconfig = s.kubeconfig;
    enabled = req.addon in s.journal.addons;
    await s.runPlan('enable', specs, catalogue);
    return EXIT.ok;
  }, { nodeLocal: only });
  // What would change, and which args edits configure can make there exactly (src/cluster/node-report.ts).
  const report = await nodeCheckReport(lines.map((l) => JSON.parse(l) as CheckEvent), { nonce: req.nonce ?? '', enabled, paths: paths as SnapPaths, layout, catalogue });
  const changes = report.changes;
  const { connectHttp } = await import('../adapters/kube-http.js');
  const kube = await connectHttp(kubeconfig);
  const name = await selfNodeName(paths as SnapPaths);
  const r = await kube.request<{ message?: string }>('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}`, {
    body: { metadata: { annotations: { [CHECK_ANNOTATION]: JSON.stringify(report) } } },
    contentType: 'application/merge-patch+json',
  });
  if (r.status !== 200) throw new StepError(`cannot report the check on Node ${name}: HTTP ${r.status} ${r.body?.message ?? ''}`.trimEnd());
  io.stdout.write(`${name}: ${changes.length ? `would change ${changes.join(', ')}` : 'as wanted'}\n`);
  return EXIT.ok;
}
