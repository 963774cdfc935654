/**
 * MicroK8s's cluster agent, the one way mk8s-addons changes another node: `POST
 * /cluster/api/v1.0/configure` on the node's agent (HTTPS, port 25000) with the callback token, as
 * MicroK8s's own `scripts/wrappers/distributed_op.py` does. Like MicroK8s, the agent's certificate is not
 * verified (each node's `server.crt` is self-signed for its own addresses); the callback token is what
 * the agent trusts, and the answer carries nothing mk8s-addons acts on but success.
 *
 * Every failure names the node and says what to do: an unreachable agent and a refused token are
 * precondition errors (exit 3).
 */
import https from 'node:https';
import { PreconditionError, StepError } from '../errors.js';

/** One node's cluster agent: its Node name (or address when the node list has no name for it), address, port and callback token. */
export interface ClusterEndpoint {
  name: string;
  host: string;
  port: number;
  token: string;
  /** Where the token was read (for the message when the node refuses it). */
  tokenFrom?: string;
}

/** A `configure` request without the token (the endpoint adds it). */
export interface ConfigureCall {
  service?: { name: string; arguments_update?: Record<string, string>[]; arguments_remove?: string[]; restart?: boolean }[];
  addon?: { name: string; enable: boolean }[];
}

export const endpointText = (e: ClusterEndpoint) => `${e.name} (${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port})`;

/**
 * Sends one configure call; resolves on 200. `timeoutMs` bounds the whole call (an addon enable on the node
 * runs within it: MicroK8s's own agent allows 240 s). Default 10 s, for calls that only edit and restart.
 */
export function configureNode(e: ClusterEndpoint, call: ConfigureCall, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const payload = JSON.stringify({ callback: e.token, service: call.service ?? [], addon: call.addon ?? [] });
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: e.host, port: e.port, path: '/cluster/api/v1.0/configure', method: 'POST', rejectUnauthorized: false, agent: false, timeout: timeoutMs, signal: opts.signal, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(unreachable(e, err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status === 200) return resolve();
          let message = text.trim();
          try {
            const body = JSON.parse(text) as { error?: unknown; message?: unknown };
            message = String(body.error ?? body.message ?? message);
          } catch {
            // a plain-text answer (MicroK8s 1.20's Python agent answers "Invalid token" as text)
          }
          if (status === 401 || status === 403 || /invalid token/i.test(message)) {
            return reject(new PreconditionError(`node ${endpointText(e)}: its cluster agent refused the callback token${e.tokenFrom ? ` from ${e.tokenFrom}` : ''}, which must match that node's credentials/callback-token.txt; re-join the node (microk8s join) or fix the token`));
          }
          reject(new StepError(`node ${endpointText(e)}: configure failed (HTTP ${status}): ${message.split('\n')[0] || '(no message)'}; see that node's cluster agent log (journalctl -u snap.microk8s.daemon-cluster-agent)`));
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => reject(unreachable(e, err)));
    req.end(payload);
  });
}

function unreachable(e: ClusterEndpoint, err: Error & { code?: string }): Error {
  if (err.name === 'AbortError') return err;
  const why = err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'ETIMEDOUT' ? err.message : (err.code ?? err.message);
  return new PreconditionError(`node ${endpointText(e)}: its cluster agent cannot be reached (${why}); check that MicroK8s runs there (microk8s status on that node) and that port ${e.port} is open, or remove the node from the cluster (microk8s remove-node ${e.name})`);
}
