/**
 * `mk8s-addons reset`: puts a single-node MicroK8s back as it was before mk8s-addons. Any interrupted
 * operation is finished or rolled back first (inside the engine), every enabled addon is disabled,
 * dependants first, then every node file mk8s-addons ever changed is restored from the journal's snapshot
 * (each one reported), and the daemons that read restored args files are restarted: the restores are undo
 * steps the engine runs inside a journaled operation, so a reset killed half-way is finished by the next
 * run. Idempotent: a second reset has nothing to do.
 *
 * Refused when the cluster has more than one Node object: every MicroK8s node (control plane or worker)
 * registers one, and reset undoes cluster-wide changes (CoreDNS, the CNI) that the other nodes use. A
 * sandbox started with --nodes N stands for an N-node cluster, so it is refused there too. Worker nodes
 * (var/lock/clustered.lock) are refused by the preflight.
 */
import type { GlobalOptions, OutputMode, AddonSpec } from '../grammar.js';
import { parseCommandWords } from '../grammar.js';
import type { Streams } from './index.js';
import { EXIT, PreconditionError, UsageError } from '../errors.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
import { loadJournal } from '../engine/journal.js';
import type { NodeSession } from './run.js';
import { RESET_HELP } from '../lifecycle/help.js';

/** Refuses a cluster of more than one node (see the module comment for why every Node counts). */
async function refuseMultiNode(s: NodeSession): Promise<void> {
  const kube = await import('../adapters/kube.js');
  let names: string[];
  try {
    const k = await kube.connect(s.kubeconfig);
    names = (await kube.listNodes(k)).map((n) => n.metadata?.name ?? '?');
  } catch (err) {
    throw new PreconditionError(`cannot list the cluster's nodes (${(err as Error).message.split('\n')[0]}); reset needs the API server: check that MicroK8s is running (mk8s-addons status --wait-ready)`);
  }
  if (names.length > 1) {
    throw new PreconditionError(
      `this node is part of a cluster of ${names.length} nodes (${names.join(', ')}); reset works on a single-node MicroK8s only: remove the other nodes first (microk8s leave on each of them, then microk8s remove-node here)`,
    );
  }
}

export async function runReset(words: string[], globals: GlobalOptions, outputOf: () => OutputMode, io: Streams): Promise<number> {
  const { options, positional } = parseCommandWords('reset', words, globals, [{ flag: '--destroy-storage', type: 'boolean' }]);
  if (globals.help) {
    io.stdout.write(RESET_HELP);
    return EXIT.ok;
  }
  if (positional.length) throw new UsageError(`reset takes no arguments; got "${positional.join(' ')}" (to disable one addon: mk8s-addons disable NAME)`);
  const destroyStorage = options.has('--destroy-storage');
  const catalogue = await loadCatalogue();
  const commandLine = ['mk8s-addons', 'reset', ...(destroyStorage ? ['--destroy-storage'] : [])].join(' ');
  const { withNodeSession } = await import('./run.js');
  const { driftedFiles, restoreSummary, daemonReading } = await import('../lifecycle/snapshot.js');

  return withNodeSession(globals, outputOf(), io, commandLine, async (s) => {
    await refuseMultiNode(s);
    const dryRun = globals.dryRun;
    const names = Object.keys(s.journal.addons).sort();
    const unknown = names.filter((n) => !catalogue.get(n));
    if (unknown.length) {
      throw new PreconditionError(`the journal lists ${unknown.join(', ')}, which this mk8s-addons does not know; reset with the mk8s-addons version that enabled ${unknown.length > 1 ? 'them' : 'it'}`);
    }
    if (destroyStorage) s.sink.note('reset', '--destroy-storage: no addon in the catalogue keeps storage, so there is no storage to destroy; addons are disabled as usual');

    // The planner puts dependants first; the engine finishes or rolls back an interrupted run before it.
    const specs: AddonSpec[] = names.map((name) => ({ raw: name, name, positional: [], flags: new Map() }));
    if (specs.length > 0 || s.journal.operation) await s.runPlan('disable', specs, catalogue);

    // The files still not as before mk8s-addons are put back by the engine, journaled like every change.
    const journal = await loadJournal(s.paths.snapData);
    const drifted = await driftedFiles(s.paths.snapData, journal.snapshot);
    if (dryRun) {
      for (const f of drifted) s.sink.note('reset/restore', `would restore ${f.rel} if the disables leave it different from before mk8s-addons`);
    } else {
      const { runRestore } = await import('../engine/engine.js');
      await runRestore(
        drifted.map((f) => {
          const daemon = daemonReading(f.rel, s.layout);
          return { rel: f.rel, path: f.abs, previous: f.before, summary: restoreSummary(f), ...(daemon ? { daemon } : {}) };
        }),
        s.engine,
      );
    }
    if (names.length === 0 && !s.journal.operation && drifted.length === 0) {
      s.sink.note('reset', 'nothing to do: no addon is enabled and every node file mk8s-addons changed is as it was before');
    } else if (!dryRun) {
      s.sink.note('reset', `done: ${names.length ? `disabled ${names.join(', ')}` : 'no addon was enabled'}; ${drifted.length} node file(s) restored from the snapshot`);
    }
    s.sink.result({ ok: true, changed: s.stats.changed, restarts: s.stats.restarts, ...(dryRun ? { dryRun: true } : {}) });
    return EXIT.ok;
  });
}
