/**
 * `mk8s-addons reset`: puts MicroK8s back as it was before mk8s-addons, on this node and, on a cluster,
 * on every other node. Any interrupted operation is finished or rolled back first (inside the engine),
 * every enabled addon is disabled, dependants first (its fan-out steps' undo disables its node steps on
 * the other nodes it reached), then each other node resets itself (a node-local `reset` through its
 * cluster agent, as the fan-out sends: every addon its own journal lists undone, its files restored from
 * its own snapshot), then every node file mk8s-addons ever changed here is restored from the journal's
 * snapshot (each one reported), and the daemons that read restored args files are restarted: the restores
 * are undo steps the engine runs inside a journaled operation, so a reset killed half-way is finished by
 * the next run (and the other nodes' resets, idempotent, are asked again by every reset). Idempotent: a
 * second reset has nothing to do.
 *
 * Every other node is asked before anything changes (an unreachable node or a refused token: exit 3,
 * naming it). A Node object that is not a node mk8s-addons can reach (a non-HA cluster's Node missing from
 * credentials/callback-tokens.txt) is refused: reset undoes cluster-wide changes (CoreDNS, the CNI) that
 * every node uses, so it returns every node or none. Worker nodes (var/lock/clustered.lock) are refused by
 * the preflight.
 */
import type { GlobalOptions, OutputMode, AddonSpec } from '../grammar.js';
import { parseCommandWords } from '../grammar.js';
import type { Streams } from './index.js';
import { EXIT, PreconditionError, UsageError } from '../errors.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
import { loadJournal } from '../engine/journal.js';
import type { NodeSession } from './run.js';
import type { Catalogue } from '../catalogue.js';
import type { ClusterEndpoint } from '../adapters/cluster-agent.js';
import { RESET_HELP } from '../lifecycle/help.js';

/**
 * The other nodes reset must reach (each agent asked once, nothing changed): the cluster's nodes as the
 * fan-out finds them. A Node object outside them is refused (see the module comment).
 */
async function clusterToReset(s: NodeSession): Promise<ClusterEndpoint[]> {
  const { clusterNodesFor } = await import('./run.js');
  const { self, picked } = await clusterNodesFor(s.paths, s.kubeconfig);
  const kube = await import('../adapters/kube.js');
  let names: string[];
  try {
    const k = await kube.connect(s.kubeconfig);
    names = (await kube.listNodes(k)).map((n) => n.metadata?.name ?? '?');
  } catch (err) {
    throw new PreconditionError(`cannot list the cluster's nodes (${(err as Error).message.split('\n')[0]}); reset needs the API server: check that MicroK8s is running (mk8s-addons status --wait-ready)`);
  }
  // No cluster found (a single non-HA node): this node's own Node name.
  const me = self ?? (await (await import('../cluster/nodes.js')).selfNodeName(s.paths));
  const known = new Set([me, ...picked.map((e) => e.name)]);
  const strangers = names.filter((n) => !known.has(n));
  // A single node: its one Node is this node (its name may differ from ours when there is no cluster).
  if (picked.length === 0 && names.length <= 1) return [];
  if (strangers.length) {
    throw new PreconditionError(
      `the cluster has ${names.length} nodes (${names.join(', ')}) and mk8s-addons cannot reach ${strangers.join(', ')} through a cluster agent (not in credentials/callback-tokens.txt); reset returns every node of the cluster: remove ${strangers.length > 1 ? 'those nodes' : 'that node'} first (microk8s remove-node NAME), then run reset again`,
    );
  }
  return picked;
}

/** What reset did on one node. */
export interface ResetOutcome {
  disabled: string[];
  restored: number;
  /** Nothing was enabled, nothing interrupted, no file to restore. */
  nothing: boolean;
}

/**
 * Reset on the node of an open session: the journal's addons disabled (dependants first; on a cluster
 * their fan-out undo reaches the other nodes), then `others` reset themselves, then the files this node's
 * snapshot holds and that are not as they were are restored. Also what a node-local reset runs
 * (src/cluster/node-local.ts), with no others.
 */
export async function resetHere(s: NodeSession, catalogue: Catalogue, opts: { dryRun: boolean; others: readonly ClusterEndpoint[] }): Promise<ResetOutcome> {
  const { driftedFiles, restoreSummary, daemonReading } = await import('../lifecycle/snapshot.js');
  const names = Object.keys(s.journal.addons).sort();
  const unknown = names.filter((n) => !catalogue.get(n));
  if (unknown.length) {
    throw new PreconditionError(`the journal lists ${unknown.join(', ')}, which this mk8s-addons does not know; reset with the mk8s-addons version that enabled ${unknown.length > 1 ? 'them' : 'it'}`);
  }
  // The planner puts dependants first; the engine finishes or rolls back an interrupted run before it.
  const specs: AddonSpec[] = names.map((name) => ({ raw: name, name, positional: [], flags: new Map() }));
  if (specs.length > 0 || s.journal.operation) await s.runPlan('disable', specs, catalogue);

  if (opts.others.length) {
    const who = opts.others.map((e) => e.name).join(', ');
    if (opts.dryRun) {
      s.sink.note('reset/other-nodes', `would reset ${who} (each undoes what its own journal lists and restores its files from its own snapshot)`);
    } else {
      const { onNodes } = await import('../cluster/fan-out.js');
      await onNodes(s.engine.base, opts.others, { action: 'reset', spec: [], addon: '', steps: [] }, 'reset/other-nodes');
      s.sink.note('reset/other-nodes', `reset ${who} (each undid what its own journal listed and restored its files from its own snapshot)`);
    }
  }

  // The files still not as before mk8s-addons are put back by the engine, journaled like every change.
  const journal = await loadJournal(s.paths.snapData);
  const drifted = await driftedFiles(s.paths.snapData, journal.snapshot);
  if (opts.dryRun) {
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
  return { disabled: names, restored: drifted.length, nothing: names.length === 0 && !s.journal.operation && drifted.length === 0 };
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

  return withNodeSession(globals, outputOf(), io, commandLine, async (s) => {
    const others = await clusterToReset(s);
    const dryRun = globals.dryRun;
    if (destroyStorage) s.sink.note('reset', '--destroy-storage: no addon in the catalogue keeps storage, so there is no storage to destroy; addons are disabled as usual');
    const done = await resetHere(s, catalogue, { dryRun, others });
    const elsewhere = others.length ? `; other nodes reset: ${others.map((e) => e.name).join(', ')}` : '';
    if (done.nothing && others.length === 0) {
      s.sink.note('reset', 'nothing to do: no addon is enabled and every node file mk8s-addons changed is as it was before');
    } else if (!dryRun) {
      s.sink.note('reset', `done: ${done.disabled.length ? `disabled ${done.disabled.join(', ')}` : 'no addon was enabled'}; ${done.restored} node file(s) restored from the snapshot${elsewhere}`);
    }
    s.sink.result({ ok: true, changed: s.stats.changed, restarts: s.stats.restarts, ...(dryRun ? { dryRun: true } : {}) });
    return EXIT.ok;
  });
}
