/**
 * `mk8s-addons nodes [--node NAME[,NAME...]]`: the cluster's MicroK8s nodes as mk8s-addons reaches them
 * (src/cluster/nodes.ts), each other node's cluster agent asked once with an empty `configure` (the token
 * is checked, nothing is changed). Prints every node, then fails (exit 3) naming the first node that
 * cannot be reached or refuses the token; an unknown --node is bad input (exit 2). Changes nothing.
 */
import path from 'node:path';
import type { GlobalOptions, OutputMode } from '../grammar.js';
import { parseCommandWords } from '../grammar.js';
import type { Streams } from './index.js';
import { EXIT, PreconditionError, UsageError } from '../errors.js';
import { resolveSnapPaths } from '../node/node.js';
import { exists } from '../adapters/fs.js';
import { configureNode, endpointText } from '../adapters/cluster-agent.js';
import { discoverCluster, selectNodes } from '../cluster/nodes.js';

export const NODES_HELP = `Usage: mk8s-addons nodes [--node NAME[,NAME...]] [--output pretty|plain|json]

The cluster's MicroK8s nodes, found as MicroK8s finds them (HA: the API's Nodes at port 25000 with this
node's callback token; otherwise credentials/callback-tokens.txt), and whether each one's cluster agent
answers and accepts the token (an empty configure call: nothing changes). Exit 3 naming the first node
that cannot be reached or refuses the token; refused on a worker node (run it on a control-plane node).
`;

export async function runNodes(words: string[], globals: GlobalOptions, outputOf: () => OutputMode, io: Streams): Promise<number> {
  const { options, positional } = parseCommandWords('nodes', words, globals, [{ flag: '--node', type: 'string' }]);
  if (globals.help) {
    io.stdout.write(NODES_HELP);
    return EXIT.ok;
  }
  if (positional.length) throw new UsageError(`nodes takes no arguments; got "${positional.join(' ')}" (to pick nodes: --node NAME)`);
  const paths = resolveSnapPaths(globals, process.env);
  if (!(await exists(path.join(paths.snapData, 'args')))) {
    throw new PreconditionError(`MicroK8s not found: ${path.join(paths.snapData, 'args')} does not exist; install MicroK8s or point --snap-data at a node`);
  }
  const view = await discoverCluster(paths, { kubeconfig: globals.kubeconfig ?? path.join(paths.snapData, 'credentials', 'client.config') });
  const wanted = options.get('--node') as string | undefined;
  const picked = selectNodes(view, wanted);
  const results = await Promise.all(
    picked.map(async (e) => {
      try {
        await configureNode(e, {}, { timeoutMs: 5_000 });
        return { endpoint: e, error: undefined };
      } catch (err) {
        return { endpoint: e, error: err as Error };
      }
    }),
  );
  const json = outputOf() === 'json';
  if (json) {
    const nodes = [
      ...(wanted === undefined || wanted.split(',').includes(view.self) ? [{ name: view.self, self: true }] : []),
      ...results.map((r) => ({ name: r.endpoint.name, address: `${r.endpoint.host}:${r.endpoint.port}`, ok: r.error === undefined, ...(r.error ? { error: r.error.message } : {}) })),
    ];
    io.stdout.write(`${JSON.stringify({ type: 'nodes', mode: view.mode, self: view.self, nodes })}\n`);
  } else {
    io.stdout.write(`${view.mode === 'ha' ? 'HA cluster (nodes from the API)' : 'non-HA cluster (nodes from credentials/callback-tokens.txt)'}:\n`);
    if (wanted === undefined || wanted.split(',').includes(view.self)) io.stdout.write(`  ${view.self}  this node\n`);
    for (const r of results) io.stdout.write(`  ${endpointText(r.endpoint)}  ${r.error ? 'FAILED (below)' : 'cluster agent answers, token accepted'}\n`);
  }
  const failed = results.filter((r) => r.error);
  if (failed.length) {
    const first = failed[0]?.error as Error;
    const more = failed.length > 1 ? ` (and ${failed.length - 1} more: ${failed.slice(1).map((f) => f.endpoint.name).join(', ')})` : '';
    if (first instanceof PreconditionError || first instanceof UsageError) throw new PreconditionError(`${first.message}${more}`);
    throw first;
  }
  return EXIT.ok;
}
