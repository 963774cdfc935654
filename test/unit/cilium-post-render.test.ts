/** The hostPath post-renderer: the pure rewrite and the shipped script as a process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { ROOT } from '../support/cli.js';
import {
  ciliumHostPathRewrites,
  ciliumPostRenderer,
  parsePostRenderArgs,
  POST_RENDER_SCRIPT,
  postRendererCommand,
  rewriteHostPaths,
} from '../../src/cilium/post-render.js';

const RELAY = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hubble-relay
spec:
  template:
    spec:
      containers:
        - name: hubble-relay
          volumeMounts:
          - mountPath: /var/run/cilium
            name: hubble-sock-dir
      volumes:
      - configMap:
          name: hubble-relay-config
        name: config
      - hostPath:
          path: /var/run/cilium
          type: Directory
        name: hubble-sock-dir
      - name: other
        hostPath:
          path: '/var/run/cilium/sub'
      - name: untouched
        hostPath:
          path: /var/run/ciliumx
`;

const OTHER = `# Source: cilium/templates/agent.yaml
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: cilium}
spec:
  template:
    spec:
      volumes:
      - hostPath: {path: /var/run/cilium, type: DirectoryOrCreate}
        name: cilium-run
`;

const RULE = { kind: 'Deployment', name: 'hubble-relay', from: '/var/run/cilium', to: '/snap data/var/run/cilium' };

test('post-render: only the path lines of the named object change; everything else stays byte for byte', () => {
  const stream = `---\n# Source: cilium/templates/relay.yaml\n${RELAY}---\n${OTHER}`;
  const out = rewriteHostPaths(stream, [RULE]);
  const expected = stream
    .replace('          path: /var/run/cilium\n', '          path: "/snap data/var/run/cilium"\n')
    .replace("          path: '/var/run/cilium/sub'\n", '          path: "/snap data/var/run/cilium/sub"\n');
  assert.equal(out, expected);
  // The mountPath inside the container stays: only the host side moves.
  assert.match(out, /- mountPath: \/var\/run\/cilium\n/);
});

test('post-render: a stream without the named object passes through unchanged', () => {
  assert.equal(rewriteHostPaths(OTHER, [RULE]), OTHER);
  assert.equal(rewriteHostPaths('', [RULE]), '');
  assert.equal(rewriteHostPaths(`---\n${RELAY}`, []), `---\n${RELAY}`);
});

test('post-render: a hostPath the text rewrite cannot reach is an error, not a silent pass', () => {
  const flow = RELAY.replace('      - hostPath:\n          path: /var/run/cilium\n          type: Directory\n', '      - hostPath: {path: /var/run/cilium, type: Directory}\n');
  assert.throws(() => rewriteHostPaths(flow, [RULE]), {
    message: 'Deployment hubble-relay: could not rewrite hostPath /var/run/cilium (volume hubble-sock-dir) to /snap data/var/run/cilium',
  });
});

test('post-render: Cilium 1.8 - 1.10 need the relay rewrite, 1.11 and later none', () => {
  for (const v of ['1.8.0', '1.8.13', '1.9.0', '1.9.18', '1.10.20']) {
    assert.deepEqual(ciliumHostPathRewrites(v, '/var/snap/microk8s/current/'), [
      { kind: 'Deployment', name: 'hubble-relay', from: '/var/run/cilium', to: '/var/snap/microk8s/current/var/run/cilium' },
    ]);
  }
  for (const v of ['1.11.20', '1.15.19', '1.20.0']) assert.deepEqual(ciliumHostPathRewrites(v, '/s'), []);
  assert.deepEqual(ciliumPostRenderer('1.9.18', '/s'), [
    process.execPath,
    [POST_RENDER_SCRIPT, '--rewrite', 'Deployment/hubble-relay', '/var/run/cilium', '/s/var/run/cilium'],
  ]);
  assert.equal(ciliumPostRenderer('1.12.19', '/s'), undefined);
});

test('post-render: the arguments round-trip and bad ones are refused', () => {
  const [, args] = postRendererCommand([RULE, { ...RULE, kind: 'DaemonSet', name: 'x' }]) ?? ['', []];
  assert.deepEqual(parsePostRenderArgs(args.slice(1)), [RULE, { ...RULE, kind: 'DaemonSet', name: 'x' }]);
  assert.throws(() => parsePostRenderArgs(['--rewrite', 'hubble-relay', '/a', '/b']), {
    message: 'usage: post-render-hostpath.mjs (--rewrite KIND/NAME FROM TO)...; got ["--rewrite","hubble-relay","/a","/b"]',
  });
  assert.throws(() => parsePostRenderArgs(['--rewrite', 'Deployment/x', 'a', '/b']), /^Error: usage: /);
});

test('post-render: the shipped script is a post-renderer: manifests on stdin, rewritten on stdout', () => {
  accessSync(POST_RENDER_SCRIPT, constants.R_OK);
  const [node, args] = postRendererCommand([RULE]) ?? ['', []];
  const ok = spawnSync(node, args, { input: `---\n${RELAY}`, encoding: 'utf8', cwd: ROOT });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, rewriteHostPaths(`---\n${RELAY}`, [RULE]));
  const bad = spawnSync(node, [POST_RENDER_SCRIPT, '--rewrite'], { input: RELAY, encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.equal(bad.stdout, '');
  assert.equal(bad.stderr, 'post-render-hostpath: usage: post-render-hostpath.mjs (--rewrite KIND/NAME FROM TO)...; got ["--rewrite"]\n');
});
