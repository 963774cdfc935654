/**
 * What a node reports after its node-local check (src/cluster/node-report.ts): every phase that would
 * change, the args changes `configure` can make exactly there (with the value now), and the phases only
 * the hook run can do. Against MicroK8s-shaped args files in a temporary folder (the sandbox's templates).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCatalogue } from '../../src/adapters/catalogue-files.js';
import { nodeCheckReport, type CheckEvent } from '../../src/cluster/node-report.js';

const templates = (era: string) => new URL(`../../../templates/sandbox/${era}/args/`, import.meta.url).pathname;

function node(era: '1.20' | '1.35'): { paths: { snap: string; snapData: string; snapCommon: string }; done: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'node-report-'));
  mkdirSync(path.join(dir, 'data', 'args'), { recursive: true });
  for (const f of ['kubelet', 'kube-apiserver']) copyFileSync(path.join(templates(era), f), path.join(dir, 'data', 'args', f));
  return { paths: { snap: path.join(dir, 'snap'), snapData: path.join(dir, 'data'), snapCommon: path.join(dir, 'common') }, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const would = (phase: string, args?: CheckEvent['args']): CheckEvent => ({ type: 'step', status: 'would-change', phase, ...(args ? { args } : {}) });

test('dns on a node: both kubelet flags through configure, no hook phase (the restart follows them)', async () => {
  const catalogue = await loadCatalogue();
  for (const [era, layout, daemon] of [['1.20', '1.20', 'kubelet'], ['1.35', 'kubelite', 'kubelite']] as const) {
    const n = node(era);
    try {
      const events = [
        { type: 'step', status: 'skipped', phase: 'enable/dns/corefile' },
        would('enable/dns/kubelet-cluster-domain', { service: 'kubelet', flag: '--cluster-domain', to: 'cluster.local' }),
        would('enable/dns/kubelet-cluster-dns', { service: 'kubelet', flag: '--cluster-dns', to: '10.152.183.10' }),
        would('enable/dns/kubelet-restart'),
      ];
      assert.deepEqual(await nodeCheckReport(events, { nonce: 'n1', enabled: false, paths: n.paths, layout, catalogue }), {
        nonce: 'n1',
        enabled: false,
        changes: ['enable/dns/kubelet-cluster-domain', 'enable/dns/kubelet-cluster-dns', 'enable/dns/kubelet-restart'],
        args: [
          { phase: 'enable/dns/kubelet-cluster-domain', service: 'kubelet', flag: '--cluster-domain', from: null, to: 'cluster.local', daemon },
          { phase: 'enable/dns/kubelet-cluster-dns', service: 'kubelet', flag: '--cluster-dns', from: null, to: '10.152.183.10', daemon },
        ],
        hook: [],
      }, era);
    } finally {
      n.done();
    }
  }
});

test('cilium on a node: kube-apiserver\'s flag through configure on 1.20; on 1.35 the hook (blank line), with the files', async () => {
  const catalogue = await loadCatalogue();
  for (const [era, layout] of [['1.20', '1.20'], ['1.35', 'kubelite']] as const) {
    const n = node(era);
    try {
      const events = [
        would('enable/cilium/allow-privileged', { service: 'kube-apiserver', flag: '--allow-privileged', to: 'false' }),
        would('enable/cilium/containerd-cilium-sock'),
        would('enable/cilium/service-restarts'),
        would('enable/cilium/flannel-lock'),
      ];
      const r = await nodeCheckReport(events, { nonce: 'n2', enabled: true, paths: n.paths, layout, catalogue });
      assert.deepEqual(r.args?.map((a) => [a.flag, a.from, a.to, a.daemon]), era === '1.20' ? [['--allow-privileged', 'true', 'false', 'apiserver']] : [], era);
      assert.deepEqual(r.hook, [...(era === '1.20' ? [] : ['enable/cilium/allow-privileged']), 'enable/cilium/containerd-cilium-sock', 'enable/cilium/flannel-lock'], era);
    } finally {
      n.done();
    }
  }
});
