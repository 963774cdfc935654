/**
 * The one kubeconfig reader and the one HTTP client (src/adapters/kube-http.ts), and the one readiness
 * poller (src/poll.ts): a real local HTTP server, real files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { connectHttp, httpRequest, readKubeconfig } from '../../src/adapters/kube-http.js';
import { pollUntil } from '../../src/poll.js';

function kubeconfig(dir: string, server: string, user: string): string {
  const file = path.join(dir, 'config', 'client.config');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: second',
      'clusters:',
      '- name: first',
      '  cluster: { server: "https://first.invalid:16443" }',
      '- name: second',
      `  cluster: { server: "${server}", certificate-authority: ../pki/ca.crt }`,
      'users:',
      '- name: admin',
      `  user: ${user}`,
      'contexts:',
      '- name: first',
      '  context: { cluster: first, user: admin }',
      '- name: second',
      '  context: { cluster: second, user: admin }',
      '',
    ].join('\n'),
  );
  return file;
}

test('the kubeconfig reader takes the current context and resolves files against the kubeconfig folder', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kube-http-'));
  try {
    mkdirSync(path.join(dir, 'pki'));
    writeFileSync(path.join(dir, 'pki', 'ca.crt'), 'CA BYTES');
    mkdirSync(path.join(dir, 'config'));
    writeFileSync(path.join(dir, 'config', 'token'), 'tok-123\n');
    const t = await readKubeconfig(kubeconfig(dir, 'https://admin:s3cret@127.0.0.1:16443/prefix', '{ tokenFile: token }'));
    assert.equal(t.ca?.toString(), 'CA BYTES');
    assert.equal(t.token, 'tok-123');
    assert.equal(t.insecure, false);
    // Credentials in the URL are basic auth, and never shown.
    assert.deepEqual([t.username, t.password], ['admin', 's3cret']);
    assert.ok(!t.shownServer.includes('s3cret'), t.shownServer);
    const u = await readKubeconfig(kubeconfig(dir, 'https://127.0.0.1:16443', '{ username: ann, password: pw }'));
    assert.deepEqual([u.username, u.password, u.token], ['ann', 'pw', undefined]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('one HTTP client: the API client sends its credentials through httpRequest; a silent server times out with a message', async () => {
  const seen: { url?: string; auth?: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ url: req.url, auth: req.headers.authorization, body });
      if (req.url?.endsWith('/silent')) return; // never answers
      res.setHeader('Content-Type', 'application/json');
      res.end(req.url?.endsWith('/text') ? 'not json' : JSON.stringify({ kind: 'Status', path: req.url }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kube-http-'));
  try {
    mkdirSync(path.join(dir, 'pki'));
    writeFileSync(path.join(dir, 'pki', 'ca.crt'), '');
    const kube = await connectHttp(kubeconfig(dir, `http://127.0.0.1:${port}/base/`, '{ token: abc }'));
    assert.deepEqual(await kube.request('POST', '/api/v1/x?dryRun=All', { body: { a: 1 } }), { status: 200, body: { kind: 'Status', path: '/base/api/v1/x?dryRun=All' } });
    assert.deepEqual(seen.at(-1), { url: '/base/api/v1/x?dryRun=All', auth: 'Bearer abc', body: '{"a":1}' });
    assert.deepEqual(await kube.request('GET', '/text'), { status: 200, body: 'not json' });
    await assert.rejects(kube.request('GET', '/silent', { timeoutMs: 200 }), {
      name: 'StepError',
      message: `cannot reach the API server http://127.0.0.1:${port}/base/: no answer from http://127.0.0.1:${port}/base/ within 200 ms; is MicroK8s running? (mk8s-addons start)`,
    });
    assert.deepEqual(await httpRequest(new URL(`http://127.0.0.1:${port}/plain`)), { status: 200, text: JSON.stringify({ kind: 'Status', path: '/plain' }) });
  } finally {
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the readiness poller returns the first done value, times out with the last reason, and stops on a thrown error', async () => {
  let n = 0;
  assert.equal(await pollUntil(async () => (++n < 3 ? { done: false, reason: `try ${n}` } : { done: true, value: n }), { timeoutMs: 5_000, intervalMs: 1, timedOut: (r) => new Error(r) }), 3);
  let m = 0;
  await assert.rejects(
    pollUntil(async () => ({ done: false, reason: `try ${++m}` }), { timeoutMs: 30, intervalMs: 5, timedOut: (r) => new Error(`gave up: ${r}`) }),
    (err: Error) => err.message === `gave up: try ${m}` && m >= 2,
  );
  await assert.rejects(
    pollUntil(async () => {
      throw new Error('the kubelet exited');
    }, { timeoutMs: 1_000, intervalMs: 1, timedOut: () => new Error('timeout') }),
    { message: 'the kubelet exited' },
  );
});
