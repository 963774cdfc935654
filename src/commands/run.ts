/**
 * enable / disable on a node: preflight, the node's adapters (paths, layout, services, proxy-free env),
 * the lock, then the engine. Loaded only for commands that touch a node.
 */
import type { Catalogue } from '../catalogue.js';
import type { AddonSpec, GlobalOptions, OutputMode } from '../grammar.js';
import { plan as makePlan, type Plan } from '../planner.js';
import type { Streams } from './index.js';
import { EXIT, Mk8sError } from '../errors.js';
import { planEvent } from '../output/plan.js';
import { resolveSnapPaths, detectLayout, readSandboxMarker, type SnapPaths } from '../node/node.js';
import { preflight, isNode } from '../node/preflight.js';
import { run as runProcess, withoutProxy, type Command } from '../adapters/process.js';
import { hostManager, snapctlManager, type ServiceManager } from '../engine/services.js';
import { acquireLock } from '../engine/lock.js';
import { loadJournal } from '../engine/journal.js';
import { createSink } from '../output/events.js';
import { runDisable, runEnable, type EngineOptions } from '../engine/engine.js';
import { buildSteps } from '../engine/build.js';
import { ensureKinds } from '../engine/kinds/index.js';
import { prepareAddon } from '../addons/hooks.js';
import { renderPlan } from '../output/plan.js';
import { exists } from '../adapters/fs.js';

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

export async function runPlan(pureplan: Plan, specs: AddonSpec[], catalogue: Catalogue, globals: GlobalOptions, output: OutputMode, io: Streams): Promise<number> {
  const paths = resolveSnapPaths(globals, process.env);
  const dryRun = globals.dryRun;
  if (dryRun && !(await isNode(paths))) {
    // No node to check against: the plan alone is what a dry-run can show.
    io.stdout.write(renderPlan(pureplan, output));
    if (output !== 'json') io.stdout.write(`(no MicroK8s node at ${paths.snapData}: showing the plan without checking the node)\n`);
    return EXIT.ok;
  }
  await preflight(paths, { write: !dryRun });
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

  const commandLine = ['mk8s-addons', pureplan.command, ...specs.map((s) => s.raw)].join(' ');
  const stats = { changed: 0, restarts: {} };
  const lock = dryRun ? undefined : await acquireLock(paths.snapData, { command: commandLine, timeoutMs: globals.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, env: process.env, signal: controller.signal });
  try {
    const journal = await loadJournal(paths.snapData);
    const installed = new Map(Object.entries(journal.addons).map(([n, a]) => [n, a.version]));
    const thePlan = makePlan({ command: pureplan.command, specs, catalogue, installed, layout });
    if (dryRun) sink.plan(planEvent(thePlan));
    await ensureKinds([...thePlan.addons.flatMap((a) => a.steps.map((s) => s.kind)), ...Object.values(journal.addons).flatMap((a) => a.steps.map((s) => s.kind)), ...(journal.operation?.steps.map((s) => s.kind) ?? [])]);
    const services = await serviceManagerFor(paths, env);
    const ipCommand = await ipCommandFor(paths);
    const kubeconfig = globals.kubeconfig ?? `${paths.snapData}/credentials/client.config`;
    const opts: EngineOptions = {
      base: {
        paths,
        layout,
        services,
        signal: controller.signal,
        env: { ...env, KUBECONFIG: kubeconfig, ...(lock ? { MK8S_ADDONS_LOCK_TOKEN: lock.owner.token } : {}) },
        run: (cmd, o) => runProcess(cmd, { env, signal: controller.signal, ...o }),
        ipCommand,
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
    const kctx = { paths, layout };
    const result =
      thePlan.command === 'enable'
        ? await runEnable(
            thePlan,
            async (addon) => {
              const prepared = await prepareAddon(addon, { paths, layout, globals, kubeconfig, env });
              return buildSteps(addon, kctx, prepared.vars);
            },
            opts,
          )
        : await runDisable(thePlan, opts);
    sink.result({ ...result, ...(dryRun ? { dryRun: true } : {}) });
    return EXIT.ok;
  } catch (err) {
    if (output === 'json' && err instanceof Mk8sError) {
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
