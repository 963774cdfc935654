#!/usr/bin/env node
// The baseline of the "enable" row: what MicroK8s 1.20's enable.cilium.sh did, in its order, on a
// sandbox node (../shared/reference/microk8s-addon-machinery.md, "Cilium enable (1.20 script, in order)"):
// every args edit and service restart unconditional (the apiserver restart is the sandbox's real
// kube-apiserver restart, through the same service manager mk8s-addons uses), the addon lock, flannel
// stopped with var/lock/no-flanneld, the vxlan links deleted, the CNI files renamed, `helm template` with
// the given values into $SNAP_DATA/actions/cilium.yaml, a wait for the node, `kubectl apply -f`, and
// `kubectl -n kube-system rollout status ds/cilium`.
// Differences, all in the script's favour: no helm download (enable helm3 only writes the wrapper), and
// the agent CLI is not copied out of a pod (kwok runs no containers; the wrapper file is written instead).
// The rollout wait has a timeout here (the script's had none) so that the benchmark stays bounded.
//   node scripts/bench/microk8s-1.20-enable-cilium.mjs --dir SANDBOX_DIR --values VALUES_FILE --chart TGZ
// Prints {"phases": {name: ms}} on stderr; exits non-zero on the first failing command.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { HELM, KUBECTL, ROOT, cleanEnv } from './lib.mjs';

const t0 = performance.now();
const phases = {};
let last = t0;
const phase = (name) => {
  const t = performance.now();
  phases[name] = (phases[name] ?? 0) + (t - last);
  last = t;
};

const arg = (flag) => {
  const i = process.argv.indexOf(flag);
  if (i < 0 || !process.argv[i + 1]) throw new Error(`usage: microk8s-1.20-enable-cilium.mjs --dir SANDBOX_DIR --values FILE --chart TGZ (missing ${flag})`);
  return process.argv[i + 1];
};
const dir = path.resolve(arg('--dir'));
const valuesFile = arg('--values');
const chart = arg('--chart');
const info = JSON.parse(readFileSync(path.join(dir, 'sandbox.json'), 'utf8'));
const snapData = info.snapData;
const kubeconfig = path.join(snapData, 'credentials', 'client.config');
const env = cleanEnv();

function run(file, args) {
  const r = spawnSync(file, args, { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

// The services, exactly as mk8s-addons' sandbox service manager performs them (state, log, real apiserver).
const { sandboxServiceManager } = await import(path.join(ROOT, 'dist', 'src', 'sandbox', 'sandbox.js'));
const services = sandboxServiceManager(info);
phase('load service manager');

// The addon lock (the 1.20 scripts serialised addon operations with a lock file).
const lockFile = path.join(snapData, 'var', 'lock', '.microk8s-addon-lock');
closeSync(openSync(lockFile, 'wx'));
try {
  // 1. helm3 first: its wrapper (the 1.20 script downloaded helm here; not timed against us).
  mkdirSync(path.join(snapData, 'bin'), { recursive: true });
  writeFileSync(path.join(snapData, 'bin', 'helm3'), `#!/bin/sh\nexec ${HELM} --kubeconfig ${kubeconfig} "$@"\n`, { mode: 0o755 });
  phase('helm3');

  // refresh_opt_in_config: sed -i replaces the line or appends it, whatever was there.
  const optIn = (service, flag, value) => {
    const file = path.join(snapData, 'args', service);
    const lines = readFileSync(file, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.startsWith(`${flag}=`));
    if (i >= 0) lines[i] = `${flag}=${value}`;
    else lines.splice(lines.at(-1) === '' ? lines.length - 1 : lines.length, 0, `${flag}=${value}`);
    writeFileSync(file, lines.join('\n'));
  };
  // 2. apiserver: --allow-privileged=true, restarted unconditionally.
  optIn('kube-apiserver', '--allow-privileged', 'true');
  await services.act('restart', 'apiserver', { env });
  phase('restart apiserver');
  // 3. kubelet: --cni-bin-dir, restarted unconditionally.
  optIn('kubelet', '--cni-bin-dir', '${SNAP_DATA}/opt/cni/bin/');
  await services.act('restart', 'kubelet', { env });
  phase('restart kubelet');

  // 4. flannel: the lock, the daemon, the vxlan links.
  writeFileSync(path.join(snapData, 'var', 'lock', 'no-flanneld'), '');
  await services.act('stop', 'flanneld', { env });
  const links = JSON.parse(run('ip', ['-n', info.netns, '-j', 'link', 'show', 'type', 'vxlan']) || '[]');
  for (const l of links) if (/^flannel/.test(l.ifname) || l.ifname === 'cilium_vxlan') run('ip', ['-n', info.netns, 'link', 'delete', l.ifname]);
  phase('flannel');

  // 5. containerd's CNI bin_dir, then a restart of containerd.
  const toml = path.join(snapData, 'args', 'containerd-template.toml');
  const text = readFileSync(toml, 'utf8');
  if (text.includes('bin_dir = "${SNAP}/opt')) {
    writeFileSync(toml, text.replaceAll('bin_dir = "${SNAP}/opt', 'bin_dir = "${SNAP_DATA}/opt'));
    await services.act('restart', 'containerd', { env });
  }
  phase('containerd');

  // 7. CNI files.
  const cni = path.join(snapData, 'args', 'cni-network');
  if (existsSync(path.join(cni, 'cni.conf'))) renameSync(path.join(cni, 'cni.conf'), path.join(cni, '10-kubenet.conf'));
  if (existsSync(path.join(cni, 'flannel.conflist'))) renameSync(path.join(cni, 'flannel.conflist'), path.join(cni, '20-flanneld.conflist'));
  writeFileSync(path.join(cni, '05-cilium-cni.conf'), `${JSON.stringify({ cniVersion: '0.3.1', name: 'cilium', type: 'cilium-cni', 'enable-debug': true })}\n`);
  phase('cni files');

  // 8. Render, wait for the node, apply, wait for the agent.
  const manifest = run(HELM, ['template', 'cilium', chart, '--namespace', 'kube-system', '--values', valuesFile]);
  mkdirSync(path.join(snapData, 'actions'), { recursive: true });
  writeFileSync(path.join(snapData, 'actions', 'cilium.yaml'), manifest);
  phase('helm template');
  run(KUBECTL, ['--kubeconfig', kubeconfig, 'wait', '--for=condition=Ready', 'node', '--all', '--timeout=300s']);
  phase('wait node');
  run(KUBECTL, ['--kubeconfig', kubeconfig, 'apply', '-f', path.join(snapData, 'actions', 'cilium.yaml')]);
  phase('kubectl apply');
  run(KUBECTL, ['--kubeconfig', kubeconfig, '-n', 'kube-system', 'rollout', 'status', 'ds/cilium', '--timeout=300s']);
  phase('rollout status');

  // 10. The agent CLI (here: the wrapper only).
  writeFileSync(path.join(snapData, 'bin', 'cilium'), `#!/bin/sh\nexec ${KUBECTL} --kubeconfig ${kubeconfig} -n kube-system exec ds/cilium -c cilium-agent -- cilium "$@"\n`, { mode: 0o755 });
  phase('agent cli');
} finally {
  rmSync(lockFile, { force: true });
}
process.stderr.write(`${JSON.stringify({ phases, totalMs: performance.now() - t0 })}\n`);
