/**
 * Node-local mode: what a node runs when another node's fan-out asks it through its cluster agent
 * (`mk8s-addons-node:PAYLOAD`, our repository's hook; src/cluster/payload.ts). Only the addon's node
 * steps (`node: true`; a dependency's node steps with them), through the same engine, lock and journal
 * as any run on this node: check before change, exact undo, its own rollback. Allowed on workers (that
 * is where node steps must run too), never fans out further.
 * - enable: converge the steps named (and its dependencies' node steps); with a nonce, report what changed
 *   on this node's Node object (the fan-out's converge without a check run first); with a run id, an
 *   addon new here is remembered as that run's (var/mk8s-addons/fanout-runs/ADDON) before any change;
 * - check: the same as a dry-run, reported on this node's Node object (annotation, with the nonce);
 * - disable: undo every step of the addon this node journaled (with a run id: only when that run enabled
 *   it here; otherwise only an interrupted run of this node is recovered);
 * - reset: `reset` here (src/commands/reset.ts `resetHere`): every addon this node's journal lists undone,
 *   its files restored from its own snapshot; what another node's `reset` asks of each node.
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import type { GlobalOptions } from '../grammar.js';
import { parseAddonSpecs } from '../grammar.js';
import type { Streams } from '../commands/index.js';
import { EXIT, StepError } from '../errors.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
import { readText, removeFile, writeAtomic } from '../adapters/fs.js';
import type { SnapPaths } from '../node/node.js';
import { selfNodeName } from './nodes.js';
import { CHECK_ANNOTATION, type NodeCheckReport } from './fan-out.js';
import type { NodeRequest } from './payload.js';

/** Where a node remembers which fan-out run enabled an addon here (see NodeRequest.run). */
const runMarker = (paths: SnapPaths, addon: string) => path.join(paths.snapData, 'var', 'mk8s-addons', 'fanout-runs', addon);

/** A stream that keeps the JSON events a session writes (one per line). */
function eventCollector(): { stream: Writable; events: () => { type?: string; status?: string; phase?: string; changed?: boolean }[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, events: () => lines.map((l) => JSON.parse(l) as { type?: string; status?: string; phase?: string; changed?: boolean }) };
}

/** Reports on this node's Node object, under the annotation the fan-out reads. */
async function report(paths: SnapPaths, kubeconfig: string, r: NodeCheckReport): Promise<string> {
  const { connectHttp } = await import('../adapters/kube-http.js');
  const kube = await connectHttp(kubeconfig);
  const name = await selfNodeName(paths);
  const answer = await kube.request<{ message?: string }>('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}`, {
    body: { metadata: { annotations: { [CHECK_ANNOTATION]: JSON.stringify(r) } } },
    contentType: 'application/merge-patch+json',
  });
  if (answer.status !== 200) throw new StepError(`cannot report the check on Node ${name}: HTTP ${answer.status} ${answer.body?.message ?? ''}`.trimEnd());
  return name;
}

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
    // An enable that reports runs with JSON events, kept to say which phases changed.
    const collected = command === 'enable' && req.nonce !== undefined ? eventCollector() : undefined;
    return withNodeSession({ ...globals, dryRun: false }, collected ? 'json' : 'plain', collected ? { ...io, stdout: collected.stream } : io, commandLine, async (s) => {
      const enabled = req.addon in s.journal.addons;
      const marker = runMarker(s.paths, req.addon);
      if (command === 'disable' && req.run !== undefined && enabled && (await readText(marker))?.trim() !== req.run) {
        // Enabled here before that run: kept. An interrupted run of this node is still recovered.
        if (s.journal.operation) await s.runPlan('disable', [], catalogue);
        io.stdout.write(`${req.addon} was enabled here before run ${req.run}: kept\n`);
        return EXIT.ok;
      }
      if (command === 'enable' && req.run !== undefined && !enabled) await writeAtomic(marker, `${req.run}\n`, { mode: 0o600 });
      const result = await s.runPlan(command, specs, catalogue);
      if (command === 'disable') await removeFile(marker);
      s.sink.result(result);
      if (collected) {
        const changes = collected.events().filter((e) => e.type === 'step' && e.status === 'done' && e.changed).map((e) => e.phase as string);
        const name = await report(s.paths, s.kubeconfig, { nonce: req.nonce ?? '', enabled, changes });
        io.stdout.write(`${name}: ${changes.length ? `changed ${changes.join(', ')}` : 'as wanted'}\n`);
      }
      return EXIT.ok;
    }, { nodeLocal: only });
  }
  // A dry-run whose events are collected, then reported on this node's Node object.
  const collected = eventCollector();
  let paths: SnapPaths | undefined;
  let enabled = false;
  let kubeconfig = '';
  await withNodeSession({ ...globals, dryRun: true }, 'json', { ...io, stdout: collected.stream }, `mk8s-addons (node-local check) ${req.spec.join(' ')}`, async (s) => {
    paths = s.paths;
    kubeconfig = s.kubeconfig;
    enabled = req.addon in s.journal.addons;
    await s.runPlan('enable', specs, catalogue);
    return EXIT.ok;
  }, { nodeLocal: only });
  const changes = collected.events().filter((e) => e.type === 'step' && e.status === 'would-change').map((e) => e.phase as string);
  const name = await report(paths as SnapPaths, kubeconfig, { nonce: req.nonce ?? '', enabled, changes });
  io.stdout.write(`${name}: ${changes.length ? `would change ${changes.join(', ')}` : 'as wanted'}\n`);
  return EXIT.ok;
}
