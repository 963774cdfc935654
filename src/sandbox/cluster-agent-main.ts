/**
 * The stand-in cluster agent's process: `node dist/src/sandbox/cluster-agent-main.js NODE_DIR`, started
 * detached by `sandbox up` for each sandbox node (src/sandbox/cluster-nodes.ts). HTTPS on the node's
 * address and port with `$SNAP_DATA/certs/server.{crt,key}` (as MicroK8s's agent), one configure at a
 * time, until SIGTERM. Logs one line per call to NODE_DIR/cluster-agent.log (stdout), and each request
 * (without its token) with its answer's status to NODE_DIR/configure-requests.jsonl, for tests to see
 * what a node was asked.
 *
 * Sandbox-only test hooks (MicroK8s's agent has none):
 * - while NODE_DIR/drop-next-service-answer exists, the next request with `service` entries is carried
 *   out and its connection then closed without an answer (the file removed): an agent that went away
 *   after changing the node;
 * - when NODE_DIR/test-env.json exists, each configure call reads it and passes its
 *   `MK8S_ADDONS_CRASH_AT` (the engine's crash injection) to the addon wrapper it runs, so a test can kill
 *   a node-local run on this node at a step boundary. Nothing else is taken from the file; the test
 *   removes it to stop.
 */
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { run } from '../adapters/process.js';
import { configure, type ClusterAgentNode } from './cluster-agent.js';
import { sandboxServiceManager } from './sandbox.js';

const MAX_BODY = 1 << 20;

/** The test hook's variables (see the module comment): only MK8S_ADDONS_CRASH_AT, read at each call. */
function testEnv(nodeDir: string): NodeJS.ProcessEnv {
  const file = path.join(nodeDir, 'test-env.json');
  if (!existsSync(file)) return {};
  const crashAt = (JSON.parse(readFileSync(file, 'utf8')) as { MK8S_ADDONS_CRASH_AT?: unknown }).MK8S_ADDONS_CRASH_AT;
  return typeof crashAt === 'string' ? { MK8S_ADDONS_CRASH_AT: crashAt } : {};
}

function main(nodeDir: string): void {
  const node = JSON.parse(readFileSync(path.join(nodeDir, 'node.json'), 'utf8')) as ClusterAgentNode & { netns: string };
  const services = sandboxServiceManager({ dir: nodeDir, snapData: node.snapData, netns: node.netns, layout: node.layout });
  const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
  let queue: Promise<unknown> = Promise.resolve();
  const server = https.createServer(
    { key: readFileSync(path.join(node.snapData, 'certs', 'server.key')), cert: readFileSync(path.join(node.snapData, 'certs', 'server.crt')) },
    (req, res) => {
      const answer = (status: number, body: object) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/cluster/api/v1.0/configure') {
        answer(404, { error: `no such endpoint: ${req.method} ${req.url}` });
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) chunks.push(c);
      });
      req.on('end', () => {
        if (size > MAX_BODY) return answer(413, { error: 'request too large' });
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return answer(400, { error: 'invalid request: the body is not JSON' });
        }
        queue = queue.then(async () => {
          const r = await Promise.resolve()
            .then(() => configure(node, body, { services, run, env: { ...process.env, ...testEnv(nodeDir) } }))
            .catch((err: Error) => ({ status: 500, body: { error: err.message } }));
          const b = body as { service?: { name: string }[]; addon?: { name: string }[] };
          log(`configure ${r.status} services=${(b.service ?? []).map((s) => s.name).join(',')} addons=${(b.addon ?? []).map((a) => a.name).join(',')}${r.status === 200 ? '' : ` ${String(r.body.error)}`}`);
          appendFileSync(path.join(nodeDir, 'configure-requests.jsonl'), `${JSON.stringify({ at: new Date().toISOString(), status: r.status, service: b.service ?? [], addon: b.addon ?? [] })}\n`);
          const drop = path.join(nodeDir, 'drop-next-service-answer');
          if (b.service?.length && existsSync(drop)) {
            rmSync(drop);
            log('configure: answer dropped (drop-next-service-answer)');
            req.socket.destroy();
            return;
          }
          answer(r.status, r.body);
        });
      });
    },
  );
  server.listen(node.port, node.address, () => log(`cluster agent (sandbox stand-in) for ${node.name} on https://${node.address}:${node.port}`));
  // Open keep-alive connections would hold the process: close them too, and the loop ends.
  const stop = () => {
    server.close();
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main(process.argv[2] ?? process.cwd());
