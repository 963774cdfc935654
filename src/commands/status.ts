/**
 * `mk8s-addons status`: is MicroK8s running, and is each addon enabled, disabled or degraded (the journal
 * checked against the node and the cluster, src/lifecycle/verify.ts). Read-only: no lock, no preflight
 * for writing, so it works without root when the node's files are readable.
 */
import path from 'node:path';
import type { GlobalOptions, OutputMode } from '../grammar.js';
import { parseCommandWords } from '../grammar.js';
import type { Streams } from './index.js';
import { EXIT, PreconditionError, UsageError } from '../errors.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
import { exists, readText } from '../adapters/fs.js';
import { withoutProxy } from '../adapters/process.js';
import { detectLayout, nodeFiles, readSandboxMarker, resolveSnapPaths, type SnapPaths } from '../node/node.js';
import { isNode } from '../node/preflight.js';
import { loadJournal, journalPath, type Journal } from '../engine/journal.js';
import { readLockOwner } from '../engine/lock.js';
import { didYouMean } from '../text.js';
import type { Catalogue } from '../catalogue.js';
import type { ServiceManager } from '../engine/services.js';
import type { DatapathStatus, StatusReport } from '../lifecycle/status-report.js';
import type { ObjectRef } from '../adapters/kube.js';
import { STATUS_HELP } from '../lifecycle/help.js';

const DEFAULT_WAIT_MS = 5 * 60_000;

type Format = 'pretty' | 'yaml' | 'json';

/** Reads a file the status needs, or says how to get permission. */
async function readable(file: string, what: string, hint: string): Promise<void> {
  try {
    await readText(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new PreconditionError(`no permission to read ${what} ${file}; ${hint}`);
    throw err;
  }
}

async function readJournal(paths: SnapPaths): Promise<Journal> {
  await readable(journalPath(paths.snapData), 'the journal', 'run mk8s-addons status with sudo (mk8s-addons writes its journal readable by root only)');
  return loadJournal(paths.snapData);
}

function parseFormat(value: string | true | undefined, output: OutputMode): Format {
  if (value === undefined) return output === 'json' ? 'json' : 'pretty';
  if (value === 'pretty' || value === 'yaml' || value === 'json') return value;
  throw new UsageError(`invalid --format "${String(value)}": use pretty, yaml or json`);
}

function checkAddonName(name: string, catalogue: Catalogue, journal: Journal): void {
  if (catalogue.get(name) || journal.addons[name]) return;
  const names = catalogue.addons.map((a) => a.name);
  const hint = didYouMean(name, names);
  throw new UsageError(`unknown addon "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; available: ${names.join(', ')} (see "mk8s-addons list")`);
}

/** Whether the journal's operation belongs to a live mk8s-addons that holds the lock (not an interrupted one). */
async function operationRunning(paths: SnapPaths, journal: Journal): Promise<boolean> {
  const op = journal.operation;
  if (!op) return false;
  const holder = await readLockOwner(paths.snapData);
  if (!holder || holder.pid !== op.pid) return false;
  try {
    process.kill(op.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The Cilium agent's configuration (configmap/cilium-config in kube-system), read over plain HTTPS; undefined
 * when it cannot be read (the datapath check then does not claim what depends on it).
 */
async function agentConfig(kubeconfig: string): Promise<Record<string, string> | undefined> {
  try {
    const kube = await import('../adapters/kube.js');
    const cm = await kube.readObject<{ data?: Record<string, string> } & ObjectRef>(await kube.connect(kubeconfig), {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cilium-config', namespace: 'kube-system' },
    });
    return cm?.data;
  } catch {
    return undefined;
  }
}

/** The datapath verdict for `--datapath`; never throws (a failure is reported, status goes on). */
async function datapathStatus(journal: Journal, paths: SnapPaths, kubeconfig: string): Promise<DatapathStatus> {
  const cilium = journal.addons.cilium;
  if (!cilium) return { checked: false, reason: 'cilium is not enabled' };
  try {
    const { checkDatapath } = await import('./datapath.js');
    const marker = await readSandboxMarker(paths);
    const report = await checkDatapath({ ciliumVersion: cilium.version ?? undefined, netns: marker?.netns, ciliumConfig: await agentConfig(kubeconfig) });
    return {
      checked: true,
      complete: report.complete,
      era: report.era,
      ciliumVersion: report.ciliumVersion,
      problems: report.problems.map((p) => `${[p.interface, p.hook].filter(Boolean).join(' ') || 'datapath'}: ${p.message}`),
      notes: report.notes,
    };
  } catch (err) {
    return { checked: false, reason: (err as Error).message.split('\n')[0] ?? String(err) };
  }
}

export async function runStatus(words: string[], globals: GlobalOptions, outputOf: () => OutputMode, io: Streams): Promise<number> {
  const { options, positional } = parseCommandWords('status', words, globals, [
    { flag: '--format', type: 'string' },
    { flag: '--wait-ready', type: 'boolean' },
    { flag: '--addon', short: '-a', type: 'string' },
    { flag: '--datapath', type: 'boolean' },
  ]);
  if (globals.help) {
    io.stdout.write(STATUS_HELP);
    return EXIT.ok;
  }
  if (positional.length) throw new UsageError(`status takes no arguments; got "${positional.join(' ')}" (for one addon: mk8s-addons status -a NAME)`);
  const format = parseFormat(options.get('--format'), outputOf());
  const only = options.get('--addon') as string | undefined;

  const paths = resolveSnapPaths(globals, process.env);
  const files = nodeFiles(paths);
  const node = await isNode(paths).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EACCES' || err.code === 'EPERM') throw new PreconditionError(`no permission to read ${paths.snapData}; run mk8s-addons status with sudo`);
    throw err;
  });
  if (!node) {
    throw new PreconditionError(`MicroK8s not found: ${path.join(paths.snapData, 'args')} does not exist; install MicroK8s (sudo snap install microk8s --classic) or point --snap-data at a node`);
  }
  if (await exists(files.lock('clustered.lock'))) {
    throw new PreconditionError('this node is a worker of a MicroK8s cluster (var/lock/clustered.lock exists); run mk8s-addons status on a control-plane node');
  }
  const catalogue = await loadCatalogue();
  const journal = await readJournal(paths);
  if (only !== undefined) checkAddonName(only, catalogue, journal);
  const kubeconfig = globals.kubeconfig ?? files.clientConfig;
  const env = globals.keepProxy ? { ...process.env } : withoutProxy(process.env).env;

  const { readiness, waitReady } = await import('../lifecycle/readiness.js');
  if (!(await exists(files.lock('stopped.lock')))) {
    await readable(kubeconfig, 'the kubeconfig', 'run mk8s-addons status with sudo, or add your user to the microk8s group (sudo usermod -a -G microk8s $USER) and log in again');
  }
  const ready = options.has('--wait-ready') ? await waitReady(paths, kubeconfig, globals.timeoutMs ?? DEFAULT_WAIT_MS) : await readiness(paths, kubeconfig);

  const { addonStatuses, renderStatusJson, renderStatusPretty, renderStatusYaml } = await import('../lifecycle/status-report.js');
  const layout = await detectLayout(paths);
  let services: ServiceManager | undefined;
  if (ready.api) {
    const { serviceManagerFor } = await import('./run.js');
    services = await serviceManagerFor(paths, env);
  }
  const addons = await addonStatuses(journal, catalogue, { paths, layout, kubeconfig, env, cluster: ready.api, services }, { only, operationRunning: await operationRunning(paths, journal) });
  // On a cluster, each addon's node steps on the other nodes too (src/cluster/drift.ts).
  if (ready.api && ((await exists(files.lock('ha-cluster'))) || (await readText(path.join(paths.snapData, 'credentials', 'callback-tokens.txt')))?.trim())) {
    const { discoverCluster } = await import('../cluster/nodes.js');
    const { clusterDrift } = await import('../cluster/drift.js');
    const view = await discoverCluster(paths, { kubeconfig });
    const shown = only === undefined ? journal : { ...journal, addons: Object.fromEntries(Object.entries(journal.addons).filter(([n]) => n === only)) };
    const drift = view.others.length ? await clusterDrift(view.others, shown, catalogue, { kubeconfig, timeoutMs: globals.timeoutMs ?? DEFAULT_WAIT_MS, signal: new AbortController().signal }) : new Map<string, string[]>();
    for (const a of addons) {
      const problems = drift.get(a.name);
      if (problems && a.status !== 'disabled') Object.assign(a, { status: 'degraded', problems: [...(a.problems ?? []), ...problems] });
    }
  }

  if (only !== undefined) {
    const a = addons[0];
    const status = a?.status ?? 'disabled';
    if (format === 'json') io.stdout.write(`${JSON.stringify({ type: 'addon-status', name: only, status, ...(a?.problems ? { reason: a.problems.join('; ') } : {}) })}\n`);
    else {
      io.stdout.write(`${status}\n`);
      if (a?.problems) io.stderr.write(`mk8s-addons: ${only} is degraded: ${a.problems.join('; ')}\n`);
    }
    return status === 'degraded' ? EXIT.step : EXIT.ok;
  }

  const report: StatusReport = {
    microk8s: ready.ready ? { running: true } : { running: false, reason: ready.reason },
    'high-availability': { enabled: await exists(files.lock('ha-cluster')) },
    addons,
    clusterChecked: ready.api,
    ...(options.has('--datapath') ? { datapath: await datapathStatus(journal, paths, kubeconfig) } : {}),
  };
  io.stdout.write(format === 'json' ? renderStatusJson(report) : format === 'yaml' ? renderStatusYaml(report) : renderStatusPretty(report));
  return addons.some((a) => a.status === 'degraded') ? EXIT.step : EXIT.ok;
}
