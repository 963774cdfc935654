/**
 * Node-local mode: what a node runs when another node's fan-out asks it through its cluster agent
 * (`mk8s-addons-node:PAYLOAD`, our repository's hook; src/cluster/payload.ts). Only the addon's node
 * steps (`node: true`; a dependency's node steps with them), through the same engine, lock and journal
 * as any run on this node: check before change, exact undo, its own rollback. Allowed on workers (that
 * is where node steps must run too), never fans out further.
 * - enable: converge the steps named (and its dependencies' node steps), after the enables handed to it
 *   (`before`: each its own run);
 * - check: the same as a dry-run, reported on this node's Node object (annotation: one report per check,
 *   each with its nonce; one dry-run per addon);
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
import { nodeCheckReport, type CheckEvent, type NodeCheckReport } from './node-report.js';
import type { NodeCheck, NodeRequest } from './payload.js';
import type { Catalogue } from '../catalogue.js';

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
  const { withNodeSession } = await import('../commands/run.js');
  if (req.action === 'check') {
    await checkAndReport([{ spec: req.spec, addon: req.addon, steps: req.steps, nonce: req.nonce ?? '' }, ...(req.checks ?? [])], globals, io, catalogue);
    return EXIT.ok;
  }
  // An enable runs the converges handed to it first, each its own run (journal operation, rollback).
  const runs = command === 'enable' ? [...(req.before ?? []), req] : [req];
  let code: number = EXIT.ok;
  for (const run of runs) {
    const specs = parseAddonSpecs(command, command === 'enable' ? run.spec : [run.addon], globals, catalogue);
    const commandLine = `mk8s-addons (node-local, for another node) ${command} ${specs.map((s) => s.raw).join(' ')}`;
    code = await withNodeSession({ ...globals, dryRun: false }, 'plain', io, commandLine, async (s) => {
      const result = await s.runPlan(command, specs, catalogue);
      s.sink.result(result);
      return EXIT.ok;
    }, { nodeLocal: onlyFor(run.addon, run.steps, command === 'disable') });
    if (code !== EXIT.ok) return code;
  }
  return code;
}

/** A node-local run's steps: the addon's node steps named (every one for a disable), and its dependencies' node steps. */
const onlyFor = (addon: string, steps: readonly string[], all: boolean) => (name: string, step: { name: string; node?: boolean }) => step.node === true && (name !== addon || all || steps.includes(step.name));

/**
 * Each check a dry-run of its steps whose events are collected, then all reported at once on this node's
 * Node object (annotation `mk8s-addons.io/node-check`: a list of reports, each under its nonce).
 */
async function checkAndReport(checks: readonly NodeCheck[], globals: GlobalOptions, io: Streams, catalogue: Catalogue): Promise<void> {
  const { withNodeSession } = await import('../commands/run.js');
  const reports: NodeCheckReport[] = [];
  let paths: SnapPaths | undefined;
  let kubeconfig = '';
  // One dry-run per addon (and spec): the checks of its fan-out steps are each the addon's node steps up
  // to that step, and a dry-run checks each step on its own (nothing is applied), so each check's report
  // is the dry-run's events for its steps (and the dependencies' node steps, as in a run of its own).
  const groups = new Map<string, NodeCheck[]>();
  for (const c of checks) groups.set(JSON.stringify(c.spec), [...(groups.get(JSON.stringify(c.spec)) ?? []), c]);
  for (const group of groups.values()) {
    const { spec, addon } = group[0] as NodeCheck;
    const lines: string[] = [];
    const collect = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    let layout: Layout = '1.20';
    let enabled = false;
    const specs = parseAddonSpecs('enable', spec, globals, catalogue);
    await withNodeSession({ ...globals, dryRun: true }, 'json', { ...io, stdout: collect }, `mk8s-addons (node-local check) ${spec.join(' ')}`, async (s) => {
      paths = s.paths;
      layout = s.layout;
      kubeconfig = s.kubeconfig;
      enabled = addon in s.journal.addons;
      await s.runPlan('enable', specs, catalogue);
      return EXIT.ok;
    }, { nodeLocal: onlyFor(addon, [...new Set(group.flatMap((c) => c.steps))], false) });
    const events = lines.map((l) => JSON.parse(l) as CheckEvent);
    for (const c of group) {
      const mine = (e: CheckEvent) => {
        const [, a, step] = (e.phase ?? '').split('/');
        return a !== c.addon || c.steps.includes(step ?? '');
      };
      // What would change, and which args edits configure can make there exactly (src/cluster/node-report.ts).
      reports.push(await nodeCheckReport(events.filter(mine), { nonce: c.nonce, enabled, paths: paths as SnapPaths, layout, catalogue }));
    }
  }
  if (!paths) return;
  const { connectHttp } = await import('../adapters/kube-http.js');
  const kube = await connectHttp(kubeconfig);
  const name = await selfNodeName(paths);
  const r = await kube.request<{ message?: string }>('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}`, {
    body: { metadata: { annotations: { [CHECK_ANNOTATION]: JSON.stringify(reports) } } },
    contentType: 'application/merge-patch+json',
  });
  if (r.status !== 200) throw new StepError(`cannot report the check on Node ${name}: HTTP ${r.status} ${r.body?.message ?? ''}`.trimEnd());
  for (const report of reports) io.stdout.write(`${name}: ${report.changes.length ? `would change ${report.changes.join(', ')}` : 'as wanted'}\n`);
}
