/**
 * Running on a node: preflight, the node's adapters (paths, layout, services, proxy-free env), the lock,
 * the journal, then the engine. `withNodeSession` is the one door every node-changing command (enable,
 * disable, apply, reset) goes through. Loaded only for commands that touch a node.
 */
import type { AddonManifest, Catalogue, StepKind } from '../catalogue.js';
import type { AddonSpec, GlobalOptions, OutputMode } from '../grammar.js';
import { plan as makePlan, type Plan } from '../planner.js';
import type { Streams } from './index.js';
import { EXIT, Mk8sError, PreconditionError, UsageError } from '../errors.js';
import { planEvent, renderPlan } from '../output/plan.js';
import { resolveSnapPaths, detectLayout, hostResolvConf, readSandboxMarker, nodeFiles, type SnapPaths } from '../node/node.js';
import { preflight, isNode } from '../node/preflight.js';
import { run as runProcess, withoutProxy, type Command } from '../adapters/process.js';
import { hostManager, snapctlManager, type ServiceManager } from '../engine/services.js';
import { acquireLock } from '../engine/lock.js';
import { loadJournal, saveJournal, type Journal } from '../engine/journal.js';
import { createSink, type EventSink } from '../output/events.js';
import { runDisable, runEnable, type EngineOptions, type RunResult, type RunStats } from '../engine/engine.js';
import { buildSteps } from '../engine/build.js';
import { ensureKinds } from '../engine/kinds/index.js';
import { prepareAddon, preloadHooks } from '../addons/hooks.js';
import { exists, readText } from '../adapters/fs.js';
import type { Layout, PlannedAddon, PlannedStep } from '../planner.js';
import type { ClusterEndpoint } from '../adapters/cluster-agent.js';
import type { NodeChecks } from '../cluster/node-checks.js';
import type { StepContext } from '../engine/step.js';
import path from 'node:path';

const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

/** Picks the service manager: the sandbox's when the node has the marker, else snapctl or the host's. */
export async function serviceManagerFor(paths: SnapPaths, env: NodeJS.ProcessEnv): Promise<ServiceManager> {
  const marker = await readSandboxMarker(paths);
  if (marker) {
    const { sandboxServices } = await import('../sandbox/services.js');
    return sandboxServices(marker, paths);
  }
  if (env.SNAP_NAME === 'microk8s' && env.SNAP) return snapctlManager(runProcess);
  return hostManager(runProcess, await exists('/usr/bin/snap'));
}

export async function ipCommandFor(paths: SnapPaths): Promise<(args: readonly string[]) => Command> {
  const marker = await readSandboxMarker(paths);
  const netns = marker?.netns;
  return (args) => (netns ? ['ip', ['-n', netns, ...args]] : ['ip', [...args]]);
}

/** How tools reach the node's network (its namespace on a sandbox) and where its bpffs is. */
export async function nodeNetFor(paths: SnapPaths): Promise<{ netCommand: (cmd: Command) => Command; bpffs: string }> {
  const marker = await readSandboxMarker(paths);
  const netns = marker?.netns;
  return {
    netCommand: (cmd) => (netns ? ['ip', ['netns', 'exec', netns, cmd[0], ...cmd[1]]] : cmd),
    bpffs: marker?.bpffs ?? '/sys/fs/bpf',
  };
}

/** What a node-changing command works with, inside withNodeSession. */
export interface NodeSession {
  paths: SnapPaths;
  layout: Layout;
  kubeconfig: string;
  env: NodeJS.ProcessEnv;
  sink: EventSink;
  stats: RunStats;
  /** The journal as loaded at the start of the session (the engine reloads it for each run). */
  journal: Journal;
  /** Engine options for runEnable / runDisable. */
  engine: EngineOptions;
  /** Plans and runs an enable or disable with the node's layout and installed addons. */
  runPlan(command: 'enable' | 'disable', specs: readonly AddonSpec[], catalogue: Catalogue): Promise<RunResult>;
}

/** How a session runs: as usual (and fanned out to a cluster's other nodes), or node-local for another node. */
export interface SessionOptions {
  /** Node-local mode (src/cluster/node-local.ts): only the planned steps this keeps run; no fan-out; allowed on workers. */
  nodeLocal?: (addon: string, step: PlannedStep) => boolean;
  /** `--node NAME[,NAME...]`: the other nodes an enable fans out to (default: every node; this node's name is allowed). */
  nodes?: string;
}

/**
 * Opens a session on the node: preflight (exit 3 when it is not a node we may change), proxy-free env,
 * signal handling (Ctrl+C cancels the running step and rolls back), the lock (not for dry-runs), and
 * closes it whatever happens. With --output json a failure is written as an error event and a result.
 */
export async function withNodeSession<T>(
  globals: GlobalOptions,
  output: OutputMode,
  io: Streams,
  commandLine: string,
  fn: (s: NodeSession) => Promise<T>,
  opts: SessionOptions = {},
): Promise<T> {
  const paths = resolveSnapPaths(globals, process.env);
  const dryRun = globals.dryRun;
  await preflight(paths, { write: !dryRun, allowWorker: opts.nodeLocal !== undefined });
  const layout = await detectLayout(paths);
  const { env, dropped } = globals.keepProxy ? { env: { ...process.env }, dropped: [] as string[] } : withoutProxy(process.env);
  const sink = createSink(output, io.stdout);
  if (dropped.length) sink.note('preflight', `proxy variables removed for MicroK8s services and cluster calls: ${dropped.join(', ')} (--keep-proxy keeps them)`);
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    sink.note('signal', `${sig} received: cancelling the running step and rolling back`);
    controller.abort(new Error(sig));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const stats: RunStats = { changed: 0, restarts: {} };
  const lock = dryRun ? undefined : await acquireLock(paths.snapData, { command: commandLine, timeoutMs: globals.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, env: process.env, signal: controller.signal }).catch((err: unknown) => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    throw err;
  });
  try {
    const journal = await loadJournal(paths.snapData);
    await ensureKinds([...Object.values(journal.addons).flatMap((a) => a.steps.map((s) => s.kind)), ...(journal.operation?.steps.map((s) => s.kind) ?? [])]);
    const services = await serviceManagerFor(paths, env);
    const ipCommand = await ipCommandFor(paths);
    const { netCommand, bpffs } = await nodeNetFor(paths);
    const kubeconfig = globals.kubeconfig ?? `${paths.snapData}/credentials/client.config`;
    const resolvConf = await hostResolvConf(paths);
    const engine: EngineOptions = {
      base: {
        paths,
        layout,
        services,
        signal: controller.signal,
        env: { ...env, KUBECONFIG: kubeconfig, ...(lock ? { MK8S_ADDONS_LOCK_TOKEN: lock.owner.token } : {}) },
        run: (cmd, o) => runProcess(cmd, { env, signal: controller.signal, ...o }),
        ipCommand,
        netCommand,
        bpffs,
        kubeconfig,
        timeoutMs: globals.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      },
      sink,
      dryRun,
      noRollback: globals.noRollback,
      force: globals.force,
      commandLine,
      stats,
      ...(process.env.MK8S_ADDONS_CRASH_AT ? { crashAt: process.env.MK8S_ADDONS_CRASH_AT } : {}),
    };
    const session: NodeSession = {
      paths,
      layout,
      kubeconfig,
      env,
      sink,
      stats,
      journal,
      engine,
      async runPlan(command, specs, catalogue) {
        const current = await loadJournal(paths.snapData);
        const installed = new Map(Object.entries(current.addons).map(([n, a]) => [n, a.version]));
        const planned = makePlan({ command, specs, catalogue, installed, layout });
        const only = opts.nodeLocal;
        const thePlan = only ? { ...planned, addons: planned.addons.map((a) => ({ ...a, steps: a.steps.filter((st) => only(a.name, st)) })) } : planned;
        // A cluster's other nodes (src/cluster/): found only when this node has any (no API call on a single non-HA node).
        const cluster = only || command !== 'enable' ? undefined : (await clusterNodesFor(paths, kubeconfig, opts.nodes)).picked;
        if (cluster?.length) await refuseWithoutRepositories(paths, thePlan, cluster);
        if (dryRun) sink.plan(planEvent(thePlan));
        const prepare = (addon: PlannedAddon) =>
          prepareAddon(addon, { paths, layout, globals, kubeconfig, env, resolvConf, manifest: catalogue.get(addon.name) as AddonManifest, folder: catalogue.folder(addon.name), plan: thePlan, installed: current.addons, nodeLocal: only !== undefined });
        // Hooks only read. A dry-run recovers nothing first, so every addon's hook starts now, side by side
        // (their helm and API calls wait while the rest loads), and the engine takes them in plan order; a
        // real run prepares each addon when the engine builds it, after recovering an interrupted run.
        const early = new Map<string, ReturnType<typeof prepare>>();
        if (dryRun && command === 'enable') {
          for (const addon of thePlan.addons) {
            const prepared = prepare(addon);
            prepared.catch(() => undefined);
            early.set(addon.name, prepared);
          }
        }
        // The other nodes' checks: those of the fan-out steps before the first cluster-wide step asked now,
        // side by side with the hooks, when there is no interrupted run to recover first; each step takes
        // its report as long as nothing changed that node since (src/cluster/node-checks.ts).
        const checks = cluster?.length ? await nodeChecksFor(thePlan, catalogue, cluster, engine.base, dryRun || current.operation === null) : undefined;
        await ensureKinds(thePlan.addons.flatMap((a) => a.steps.map((s) => s.kind as StepKind)));
        const kctx = { paths, layout };
        // An addon's notes are said once its hook's verdict (cilium's render check) passed, in plan order:
        // the output is the same as when the hook returned only after it.
        let previous: Promise<void> = Promise.resolve();
        return command === 'enable'
          ? runEnable(
              thePlan,
              async (addon) => {
                const prepared = await (early.get(addon.name) ?? prepare(addon));
                const ready = previous.then(() => prepared.verdict).then(() => {
                  for (const n of prepared.notes ?? []) sink.note(`enable/${addon.name}`, n);
                });
                ready.catch(() => undefined);
                previous = ready;
                const steps = buildSteps(addon, { ...kctx, edits: prepared.edits ?? {} }, prepared.vars, prepared.chart);
                if (cluster?.length) await ensureKinds(['node-fanout']);
                if (!cluster?.length) return { steps, ready };
                const { withFanOut, fanOutNodes } = await import('../cluster/fan-out.js');
                return { steps: withFanOut(addon, steps, cluster, checks as NodeChecks, fanOutNodes(current.addons[addon.name]?.steps)), ready };
              },
              engine,
            )
          : runDisable(thePlan, engine);
      },
    };
    return await fn(session);
  } catch (err) {
    if (output === 'json' && err instanceof Mk8sError && !err.reported) {
      sink.error({ code: err.code, phase: err.phase ?? null, message: err.message });
      sink.result({ ok: false, ...stats });
      err.reported = true;
    }
    throw err;
  } finally {
    sink.flush();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await lock?.release();
  }
}

/**
 * The run's node checks (src/cluster/node-checks.ts); `ahead`: the checks of the fan-out steps before
 * the plan's first cluster-wide step are sent to every other node now (one node-local process each), not
 * awaited.
 */
async function nodeChecksFor(plan: Plan, catalogue: Catalogue, nodes: readonly ClusterEndpoint[], ctx: Pick<StepContext, 'kubeconfig' | 'timeoutMs' | 'signal'>, ahead: boolean): Promise<NodeChecks> {
  const { planFanOuts, NodeChecks } = await import('../cluster/node-checks.js');
  const { askChecks, nodeSpec } = await import('../cluster/fan-out.js');
  const checks = new NodeChecks(planFanOuts(plan.addons, (a) => nodeSpec(a, catalogue.get(a.name) as AddonManifest), (n) => catalogue.get(n)?.requires ?? []));
  if (ahead && checks.plan.leading.length) checks.startedAhead(askChecks(ctx, checks, nodes, checks.expand(checks.plan.leading), 'other-nodes'));
  return checks;
}

/**
 * The other nodes of this node's cluster (those `wanted`, a `--node` comma list, names; an unknown name is
 * exit 2), each agent asked once (token checked, nothing changed), so an unreachable node or a refused
 * token stops the run before any change (exit 3, naming the node). None without an API call when this
 * node is not HA, lists no joined node and no node is named.
 */
export async function clusterNodesFor(paths: SnapPaths, kubeconfig: string, wanted?: string): Promise<{ self: string | undefined; picked: ClusterEndpoint[] }> {
  const files = nodeFiles(paths);
  const tokens = await readText(path.join(paths.snapData, 'credentials', 'callback-tokens.txt'));
  if (wanted === undefined && !(await exists(files.lock('ha-cluster'))) && !tokens?.trim()) return { self: undefined, picked: [] };
  const { discoverCluster, selectNodes } = await import('../cluster/nodes.js');
  const { configureNode } = await import('../adapters/cluster-agent.js');
  const view = await discoverCluster(paths, { kubeconfig });
  const picked = selectNodes(view, wanted);
  await Promise.all(picked.map((e) => configureNode(e, {}, { timeoutMs: 10_000 })));
  return { self: view.self, picked };
}

/**
 * The other nodes run an addon's node steps through our MicroK8s addons repository there (the cluster
 * agent's addon enable reaches `microk8s-enable.wrapper`, which finds our hook in `$SNAP_COMMON/addons`).
 * MicroK8s has addon repositories from 1.24 on; on 1.20-1.23 the wrapper knows only the addons of the snap
 * (`$SNAP/actions`), so no node could check or converge: refused before any change, exit 3. This node's
 * folder stands for the cluster's MicroK8s (every node of a cluster runs the same channel).
 */
async function refuseWithoutRepositories(paths: SnapPaths, plan: Plan, others: readonly ClusterEndpoint[]): Promise<void> {
  const withNodeSteps = plan.addons.filter((a) => a.steps.some((st) => st.node)).map((a) => a.name);
  if (withNodeSteps.length === 0 || (await exists(path.join(paths.snapCommon, 'addons')))) return;
  throw new PreconditionError(
    `this MicroK8s has no addon repositories (no ${path.join(paths.snapCommon, 'addons')}: they came with MicroK8s 1.24), so the cluster agents of ${others.map((o) => o.name).join(', ')} cannot run mk8s-addons there for the node steps of ${withNodeSteps.join(', ')}; upgrade MicroK8s to 1.24 or later on every node, then run sudo mk8s-addons microk8s-repo install on each`,
  );
}

/**
 * `disable NAME... --node NODE`: each addon's node steps undone on the named other nodes only (a
 * node-local disable there, from that node's own journal, as the fan-out step's undo does); this node
 * and the cluster-wide steps stay, and `status` shows those nodes as not converged until an enable.
 */
async function disableOnNodes(s: NodeSession, plan: Plan, wanted: string): Promise<RunResult> {
  const { self, picked } = await clusterNodesFor(s.paths, s.kubeconfig, wanted);
  if (self !== undefined && wanted.split(',').includes(self)) {
    throw new UsageError(`disable --node names other nodes: ${self} is this node; to disable ${plan.addons.map((a) => a.name).join(' ')} here and on every node, leave out --node`);
  }
  const { undoOnSomeNodes } = await import('../cluster/fan-out.js');
  const names = picked.map((e) => e.name).join(', ');
  for (const addon of plan.addons) {
    const phase = `disable/${addon.name}/other-nodes`;
    if (s.engine.dryRun) {
      s.sink.note(phase, `would undo ${addon.name}'s node steps on ${names}`);
      continue;
    }
    const enabled = s.journal.addons[addon.name];
    const steps = await undoOnSomeNodes(s.engine.base, addon.name, enabled?.steps ?? [], picked, phase);
    // The fan-out records no longer name those nodes (what configure changed there is back).
    if (enabled) {
      enabled.steps = steps;
      await saveJournal(s.paths.snapData, s.journal);
    }
    s.sink.note(phase, `undone on ${names}`);
  }
  return { ok: true, changed: 0, restarts: {} };
}

/** enable / disable from the command line. */
export async function runPlan(pureplan: Plan, specs: AddonSpec[], catalogue: Catalogue, globals: GlobalOptions, output: OutputMode, io: Streams, nodes?: string): Promise<number> {
  const paths = resolveSnapPaths(globals, process.env);
  if (globals.dryRun && !(await isNode(paths))) {
    // No node to check against: the plan alone is what a dry-run can show.
    io.stdout.write(renderPlan(pureplan, output));
    if (output !== 'json') io.stdout.write(`(no MicroK8s node at ${paths.snapData}: showing the plan without checking the node)\n`);
    return EXIT.ok;
  }
  // A dry-run runs every addon's hook as soon as the session is open: their modules load meanwhile.
  if (globals.dryRun && pureplan.command === 'enable') preloadHooks(pureplan.addons.map((a) => a.name));
  const commandLine = ['mk8s-addons', pureplan.command, ...specs.map((s) => s.raw)].join(' ');
  return withNodeSession(
    globals,
    output,
    io,
    commandLine,
    async (s) => {
      const result = nodes !== undefined && pureplan.command === 'disable' ? await disableOnNodes(s, pureplan, nodes) : await s.runPlan(pureplan.command, specs, catalogue);
      s.sink.result({ ...result, ...(globals.dryRun ? { dryRun: true } : {}) });
      return EXIT.ok;
    },
    nodes === undefined ? {} : { nodes },
  );
}
