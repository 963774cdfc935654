/**
 * Issue 13, item 3, as reported: kube-apiserver killed (SIGKILL) while `enable cilium` is past its Helm
 * release, on a 1.20 sandbox node. The rollback must not stop at the first undo that needs the API: it
 * undoes every node-local step (flanneld back, its lock gone, containerd's template and the args back),
 * restarts what the restored args need, and retries the Helm release's undo until the API server answers
 * again, within --timeout. Killed as the Helm release starts (as reported) and once it is installed. The node ends byte-identical, with no Cilium release and no CNI-less state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnCli, waitFor } from '../support/cli.js';
import { useSandbox } from '../support/sandbox.js';
import { dataTree, serviceStates, helmReleases } from '../support/cilium-node.js';
import { jsonEvents } from '../support/node.js';
import { isRunning, startComponent } from '../../src/sandbox/control-plane.js';

const sandbox = useSandbox('1.20', { name: 'sb-api-down' });

for (const killAt of ['helm-release', 'rollout'] as const) {
  test(`kube-apiserver killed as enable/cilium/${killAt} starts: rolled back byte-identical once the API answers again`, async () => {
    const sb = sandbox();
    const cpDir = path.join(sb.dir, 'cp');
    try {
      const tree = dataTree(sb);
      const states = serviceStates(sb);
      const releases = await helmReleases(sb);
      const run = spawnCli(['enable', 'cilium', '--output', 'json', '--timeout', '120s'], sb.env);
      await waitFor(() => run.out().includes(`"phase":"enable/cilium/${killAt}","status":"started"`), killAt, 240_000);
      process.kill(sb.apiserver().pid, 'SIGKILL');
      // Either the rollback's own restart of the API server (restored args) brings it back, or it retries
      // until we start it again.
      await waitFor(() => run.out().includes('the API server cannot be reached; retrying') || run.out().includes('"type":"result"'), 'a retry or the end', 240_000);
      if (!isRunning(sb.apiserver())) {
        // The node-local steps are undone while the API server is still down: flanneld runs again.
        assert.equal(serviceStates(sb).flanneld, 'active');
        await startComponent(cpDir, 'kube-apiserver', { env: { ...process.env, ...sb.env } });
      }
      const code = await run.done;
      const events = jsonEvents(run.out());
      assert.equal(code, 1, run.out() + run.err());
      assert.equal(run.err(), '');
      const errors = events.filter((e) => e.type === 'error');
      assert.equal(errors.length, 1, run.out());
      // The simulated agent is Ready at once, so the kill can land after the rollout wait is done: then the
      // next step that needs the API (restart-pods) is the one that fails, and the rollback is the same.
      const failing = killAt === 'rollout' ? ['enable/cilium/rollout', 'enable/cilium/restart-pods'] : ['enable/cilium/helm-release'];
      assert.ok(failing.includes(String(errors[0]!.phase)), `failed in ${errors[0]!.phase}`);
      assert.match(String(errors[0]!.message), /\(rolled back\)$/);
      if (killAt === 'rollout') assert.ok(events.some((e) => e.phase === 'enable/cilium/helm-release' && e.status === 'undone'), 'the release was undone');
      assert.deepEqual(dataTree(sb), tree);
      assert.deepEqual(serviceStates(sb), states);
      assert.deepEqual(await helmReleases(sb), releases);
    } finally {
      if (!isRunning(sb.apiserver())) await startComponent(cpDir, 'kube-apiserver', { env: { ...process.env, ...sb.env } });
    }
  });
}
