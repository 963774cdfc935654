/**
 * `mk8s-addons cilium -- ARGS`: the Cilium agent's debug CLI on this node (`cilium` up to 1.14,
 * `cilium-dbg` from 1.15) with CILIUM_SOCK, CILIUM_HEALTH_SOCK and CILIUM_MONITOR_SOCK under
 * $SNAP_DATA/var/run/cilium: a copy of the agent's binary ($SNAP_DATA/bin/cilium-<version>) when there is
 * one, else run in the agent pod. The same as the $SNAP_DATA/bin/cilium wrapper that enable installs.
 */
import path from 'node:path';
import type { GlobalOptions } from '../grammar.js';
import { parseCommandWords } from '../grammar.js';
import type { Streams } from './index.js';
import { EXIT, PreconditionError } from '../errors.js';
import { resolveSnapPaths, nodeFiles } from '../node/node.js';
import { loadJournal } from '../engine/journal.js';
import { assertTrusted, exists } from '../adapters/fs.js';
import { runAttached, withoutProxy, type Command } from '../adapters/process.js';
import { resolveTool } from '../adapters/tools.js';
import { agentCli } from '../addons/cilium.js';

/** The command that runs the agent CLI with `args` on this node, and its environment. */
export async function ciliumCliCommand(snap: string, snapData: string, version: string, kubeconfig: string, args: readonly string[]): Promise<{ cmd: Command; env: Record<string, string> }> {
  const run = path.join(snapData, 'var', 'run', 'cilium');
  const env = { CILIUM_SOCK: path.join(run, 'cilium.sock'), CILIUM_HEALTH_SOCK: path.join(run, 'health.sock'), CILIUM_MONITOR_SOCK: path.join(run, 'monitor1_2.sock') };
  const copy = path.join(snapData, 'bin', `cilium-${version}`);
  if (await exists(copy)) {
    await assertTrusted(copy, "the agent's CLI");
    return { cmd: [copy, [...args]], env };
  }
  return { cmd: [(await resolveTool('kubectl', snap)).path, ['--kubeconfig', kubeconfig, '-n', 'kube-system', 'exec', 'ds/cilium', '-c', 'cilium-agent', '--', agentCli(version), ...args]], env };
}

export async function runCiliumCli(words: string[], globals: GlobalOptions, io: Streams): Promise<number> {
  const sep = words.indexOf('--');
  const before = sep === -1 ? words : words.slice(0, sep);
  const args = sep === -1 ? [] : words.slice(sep + 1);
  const { positional } = parseCommandWords('cilium', before, globals, []);
  if (globals.help || (positional.length === 0 && args.length === 0)) {
    io.stdout.write('Usage: mk8s-addons cilium -- ARGS...\n\nRuns the Cilium agent\'s debug CLI on this node with its sockets, e.g.\n  mk8s-addons cilium -- status\n  mk8s-addons cilium -- bpf endpoint list\n');
    return globals.help ? EXIT.ok : EXIT.usage;
  }
  const paths = resolveSnapPaths(globals, process.env);
  const journal = await loadJournal(paths.snapData);
  const version = journal.addons.cilium?.version;
  if (!version) throw new PreconditionError('cilium is not enabled on this node; enable it first: mk8s-addons enable cilium');
  const kubeconfig = globals.kubeconfig ?? nodeFiles(paths).clientConfig;
  const { cmd, env } = await ciliumCliCommand(paths.snap, paths.snapData, version, kubeconfig, [...positional, ...args]);
  return runAttached(cmd, { env: { ...withoutProxy(process.env).env, ...env } });
}
