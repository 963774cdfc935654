/**
 * The API server relay into the node's network namespace. The sandbox's kube-apiserver listens on
 * 127.0.0.1 of the host's namespace, which processes in the node's namespace (the Cilium agent) cannot
 * reach. Two halves, joined by a unix socket that both namespaces see (it is a file):
 * - host half (in the kubelet): unix socket -> 127.0.0.1:PORT in the host namespace;
 * - node half (this module run as a program inside the node's namespace): 127.0.0.1:PORT there -> the unix socket.
 * TLS passes through untouched: the agent talks to https://127.0.0.1:PORT and sees the apiserver's own certificate.
 *
 *   node dist/src/sandbox/relay.js PORT SOCKET    (started with `ip netns exec NODE_NS ...`)
 */
import net from 'node:net';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

function pipe(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const close = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', close);
  b.on('error', close);
  a.on('close', close);
  b.on('close', close);
}

/** Host half: serves `socket`, forwarding each connection to 127.0.0.1:`port`. */
export function serveHostRelay(socket: string, port: number): Promise<net.Server> {
  rmSync(socket, { force: true });
  const server = net.createServer((conn) => pipe(conn, net.connect(port, '127.0.0.1')));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve(server));
  });
}

/** Node half: listens on 127.0.0.1:`port` of the namespace it runs in, forwarding to `socket`. */
export function serveNodeRelay(port: number, socket: string): Promise<net.Server> {
  const server = net.createServer((conn) => pipe(conn, net.connect(socket)));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, socket] = process.argv.slice(2);
  if (!port || !socket || !/^\d+$/.test(port)) {
    process.stderr.write('usage: relay.js PORT SOCKET\n');
    process.exitCode = 2;
  } else {
    serveNodeRelay(Number(port), socket).then(
      // SIGTERM's default action ends the relay and its connections.
      () => process.stderr.write(`relay: 127.0.0.1:${port} -> ${socket}\n`),
      (err: Error) => {
        process.stderr.write(`relay: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
        process.exitCode = 1;
      },
    );
  }
}
