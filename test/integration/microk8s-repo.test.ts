/**
 * `microk8s enable` through mk8s-addons (issue 16, part 3), on a 1.20 sandbox node with MicroK8s's core
 * repository beside ours. MicroK8s's dispatch is test/support/microk8s-emulator.py: it reads the addon
 * repositories, decides enabled/disabled with MicroK8s's rule (check_status in a `kubectl get` line, or an
 * existing file), holds the fcntl lock on $SNAP_DATA/var/lock/.microk8s-addon-lock around the hooks (with
 * MICROK8S_ADDONS_SKIP_LOCK=1 for nested calls) and runs `addons/NAME/enable ARGS` with MicroK8s's
 * environment, whose exit code becomes its own. After every step, MicroK8s's view and `mk8s-addons status`
 * must agree.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { ROOT } from '../support/cli.js';
import { treeDigest } from '../support/node.js';
import { KUBECTL, useSandbox, type TestSandbox } from '../support/sandbox.js';
import { journalAddons } from '../support/cilium-node.js';

const EMULATOR = path.join(ROOT, 'test', 'support', 'microk8s-emulator.py');

describe('microk8s enable / disable / status through the mk8s-addons repository', () => {
  const sandbox = useSandbox('1.20');
  let sb: TestSandbox;
  let commonBefore: Record<string, string>;
  const coreCalls = () => path.join(sb.dir, 'core-hook-calls');

  /** MicroK8s's environment: its snap paths and SNAP_NAME, as its wrappers have them. */
  const microk8sEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    ...sb.env,
    SNAP_NAME: 'microk8s',
    MICROK8S_EMULATOR_KUBECTL: KUBECTL,
    NO_COLOR: '1',
    ...extra,
  });
  const microk8s = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync('python3', [EMULATOR, ...args], { encoding: 'utf8', env: microk8sEnv(extra), timeout: 400_000 });
    if (r.error) throw r.error;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  /** MicroK8s's status for the repository `repo`: addon -> enabled|disabled. */
  const microk8sStatus = (repo: string): Record<string, string> => {
    const r = microk8s(['status']);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => /^([^/]+)\/([^:]+): (enabled|disabled)$/.exec(l) as RegExpExecArray)
        .filter((m) => m[1] === repo)
        .map((m) => [m[2], m[3]]),
    );
  };
  const ourStatus = (): Record<string, string> => {
    const r = sb.cli(['status', '--format', 'yaml']);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries((yaml.load(r.stdout) as { addons: { name: string; status: string }[] }).addons.map((a) => [a.name, a.status]));
  };
  const assertAgree = (want: Record<string, string>) => {
    assert.deepEqual(ourStatus(), want, 'mk8s-addons status');
    // MicroK8s also lists mk8s-addons-node, what other nodes' fan-outs run here: never enabled (its check file never exists).
    assert.deepEqual(microk8sStatus('mk8s-addons'), { ...want, 'mk8s-addons-node': 'disabled' }, "microk8s status's rule on our repository");
  };

  before(() => {
    sb = sandbox();
    // MicroK8s 1.24+'s core repository: it has dns and helm3 too. Its hooks only record that they ran.
    const core = path.join(sb.info.snapCommon, 'addons', 'core');
    for (const name of ['dns', 'helm3']) {
      mkdirSync(path.join(core, 'addons', name), { recursive: true });
      for (const action of ['enable', 'disable']) {
        const hook = path.join(core, 'addons', name, action);
        writeFileSync(hook, `#!/bin/sh\necho "core ${name} ${action} $*" >> ${coreCalls()}\n`);
        chmodSync(hook, 0o755);
      }
    }
    writeFileSync(
      path.join(core, 'addons.yaml'),
      'microk8s-addons:\n  addons:\n' +
        '    - {name: dns, description: CoreDNS, version: 1.10.1, check_status: pod/coredns, supported_architectures: [amd64, arm64, s390x]}\n' +
        '    - {name: helm3, description: Helm 3, version: 3.9.1, check_status: "${SNAP}/bin/helm3-core-marker", supported_architectures: [amd64, arm64, s390x]}\n',
    );
    commonBefore = treeDigest(sb.info.snapCommon);
    const r = sb.cli(['microk8s-repo', 'install']);
    assert.equal(r.code, 0, r.stderr);
  });

  test('MicroK8s lists our addons, all disabled, as mk8s-addons does', () => {
    assertAgree({ cilium: 'disabled', dns: 'disabled', helm3: 'disabled', hubble: 'disabled' });
  });

  test('an addon both repositories have needs the repository prefix (MicroK8s refuses, nothing runs)', () => {
    const r = microk8s(['enable', 'dns:1.1.1.1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Addon dns exists in more than repository/m);
    assert.deepEqual(journalAddons(sb), {});
  });

  test('bad input through a hook: our exit 2 is microk8s\'s, one line, nothing changed', () => {
    const tree = treeDigest(sb.info.snapData);
    const r = microk8s(['enable', 'mk8s-addons/dns', '--servers', '999.1.1.1']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'mk8s-addons: error: invalid dns server "999.1.1.1" in "999.1.1.1": give IPv4 or IPv6 addresses with optional ports, e.g. 1.1.1.1,[2606:4700::1111]:53, or /etc/resolv.conf\n');
    assert.deepEqual(treeDigest(sb.info.snapData), tree);
  });

  test('microk8s enable mk8s-addons/dns --servers S --dns-ip IP runs our hook with those arguments', () => {
    const r = microk8s(['enable', 'mk8s-addons/dns', '--servers', '1.1.1.1,8.8.8.8', '--dns-ip', '10.152.183.10']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const dns = journalAddons(sb).dns as unknown as { args: Record<string, string> };
    assert.deepEqual(dns.args, { servers: '1.1.1.1,8.8.8.8', 'dns-ip': '10.152.183.10' });
    assertAgree({ cilium: 'disabled', dns: 'enabled', helm3: 'disabled', hubble: 'disabled' });
    // MicroK8s's core dns is "enabled" too: its check_status (pod/coredns) is a substring of our CoreDNS pod.
    assert.equal(microk8sStatus('core').dns, 'enabled');
  });

  test('microk8s enable cilium (positional version) and hubble (flag style), while MicroK8s holds its lock', () => {
    const c = microk8s(['enable', 'cilium:v1.20']);
    assert.equal(c.code, 0, `${c.stdout}\n${c.stderr}`);
    const h = microk8s(['enable', 'hubble', '--ui']);
    assert.equal(h.code, 0, `${h.stdout}\n${h.stderr}`);
    const j = journalAddons(sb) as unknown as Record<string, { version: string; args: Record<string, unknown> }>;
    assert.equal(j.cilium?.version, '1.20.0');
    assert.equal(j.hubble?.args.ui, true);
    assertAgree({ cilium: 'enabled', dns: 'enabled', helm3: 'enabled', hubble: 'enabled' });
    // The lock MicroK8s held is its own file; ours is another, and free again.
    assert.equal(readFileSync(path.join(sb.info.snapData, 'var', 'lock', '.microk8s-addon-lock'), 'utf8'), '');
  });

  test('MicroK8s skips an addon it sees enabled: microk8s enable cilium:v1.19 does not reach mk8s-addons', () => {
    const before = journalAddons(sb);
    const r = microk8s(['enable', 'cilium:v1.19']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Addon mk8s-addons\/cilium is already enabled$/m);
    assert.deepEqual(journalAddons(sb), before);
  });

  test('a nested call (MICROK8S_ADDONS_SKIP_LOCK=1 under a caller holding the lock) does not deadlock', () => {
    // The caller holds MicroK8s's lock and calls microk8s disable as an addon's hook would.
    const script = `
import fcntl, os, subprocess, sys
with open(os.path.join(os.environ["SNAP_DATA"], "var", "lock", ".microk8s-addon-lock"), "w") as f:
    fcntl.lockf(f, fcntl.LOCK_EX)
    os.environ["MICROK8S_ADDONS_SKIP_LOCK"] = "1"
    sys.exit(subprocess.run([sys.executable, ${JSON.stringify(EMULATOR)}, "disable", "hubble"], timeout=300).returncode)
`;
    const r = spawnSync('python3', ['-c', script], { encoding: 'utf8', env: microk8sEnv(), timeout: 400_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    assertAgree({ cilium: 'enabled', dns: 'enabled', helm3: 'enabled', hubble: 'disabled' });
  });

  test('MicroK8s drops the :ARGS of a repository-prefixed addon: microk8s enable mk8s-addons/dns:1.1.1.1 gets no arguments', () => {
    assert.equal(microk8s(['disable', 'mk8s-addons/dns']).code, 0);
    const r = microk8s(['enable', 'mk8s-addons/dns:1.1.1.1']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual((journalAddons(sb).dns as unknown as { args: Record<string, string> }).args, {});
  });

  test('microk8s disable cilium and dns; then remove leaves $SNAP_COMMON as before install', () => {
    for (const name of ['cilium', 'mk8s-addons/dns', 'mk8s-addons/helm3']) {
      const r = microk8s(['disable', name]);
      assert.equal(r.code, 0, `${name}: ${r.stdout}\n${r.stderr}`);
    }
    assertAgree({ cilium: 'disabled', dns: 'disabled', helm3: 'disabled', hubble: 'disabled' });
    const rm = sb.cli(['microk8s-repo', 'remove']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(treeDigest(sb.info.snapCommon), commonBefore);
    // The core repository's hooks never ran.
    assert.throws(() => readFileSync(coreCalls()), { code: 'ENOENT' });
  });
});
