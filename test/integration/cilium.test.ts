/**
 * The Cilium addon on sandbox nodes of both layouts (issue 7, item 12), through the built CLI as a user
 * runs it: `enable cilium[:VERSION]`, `enable hubble[:ui]`, `disable`, for Cilium 1.8.13 (refused on
 * Kubernetes 1.34 without --force) and the newest pinned release, 1.20.0. Every observable is read from the
 * real thing: node files (hashed), the sandbox's service log and states, the links of its network
 * namespace, `helm ls`, and objects read from the API server.
 *
 * One sandbox per layout, brought up by the layout's first test and taken down after its last (one alive
 * at a time). The tests of a layout run in order and share the node: each flow starts by checking the node
 * is back at its start state, and ends with `disable`.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../support/cli.js';
import { useSandbox, type TestSandbox } from '../support/sandbox.js';
import {
  activeCniConfigs,
  allReleases,
  argsLines,
  CALICO_OBJECTS,
  calicoPresent,
  cliEvents,
  dataTree,
  getObject,
  helmReleases,
  hostPaths,
  journalAddons,
  links,
  namespaces,
  notes,
  podNames,
  readiness,
  releaseValues,
  serverGitVersion,
  serviceLogSince,
  serviceStates,
  settle,
  stepOutcomes,
  treeChanges,
  wholeDataTree,
  workload,
  type CliEvent,
} from '../support/cilium-node.js';

type Era = '1.20' | '1.35';

const CNI_CONF = '{"cniVersion":"0.3.1","name":"cilium","type":"cilium-cni","enable-debug":true}\n';
const NEWEST = '1.20.0';
const BUNDLED = '1.8.0, 1.8.13, 1.9.0, 1.9.18, 1.10.20, 1.11.20, 1.12.19, 1.13.18, 1.14.19, 1.15.19, 1.16.19, 1.17.18, 1.18.12, 1.19.6, 1.20.0';
const HELM3 = '3.17.2';
/** What the 1.8 chart's compatibility entry says on the sandbox's Kubernetes 1.34. */
const compat18 = (k8s: string) => `the Cilium 1.8 chart requires Kubernetes < 1.22.0-0 and this cluster runs ${k8s.replace(/^v/, '')}; Cilium 1.20 is tested with Kubernetes 1.34`;
const compat19 = "Cilium 1.9 is tested with Kubernetes 1.12 - 1.19, and 1.34 is newer: it depends on Kubernetes' backward compatibility (untested); Cilium 1.20 is tested with Kubernetes 1.34";

/** The values mk8s-addons gives chart 1.20.0 on a node (templates/cilium/values-1.16.yaml.hbs). */
const values120 = (snapData: string) => ({
  cni: { confPath: `${snapData}/args/cni-network`, binPath: `${snapData}/opt/cni/bin`, customConf: true, exclusive: false },
  daemon: { runPath: `${snapData}/var/run/cilium` },
  kubeProxyReplacement: false,
  ipam: { mode: 'cluster-pool', operator: { clusterPoolIPv4PodCIDRList: ['10.1.0.0/16'] } },
  operator: { replicas: 1 },
  hubble: { enabled: false, relay: { enabled: false }, ui: { enabled: false } },
});

/** The values for chart 1.8.13: the umbrella chart's global.* layout (templates/cilium/values-1.8.yaml.hbs). */
const values18 = (snapData: string) => ({
  global: {
    cni: { confPath: `${snapData}/args/cni-network`, binPath: `${snapData}/opt/cni/bin`, customConf: true },
    daemon: { runPath: `${snapData}/var/run/cilium` },
    containerRuntime: { integration: 'containerd' },
    kubeProxyReplacement: 'disabled',
    ipam: { operator: { clusterPoolIPv4PodCIDR: '10.1.0.0/16' } },
    hubble: { enabled: false, relay: { enabled: false }, ui: { enabled: false } },
  },
  config: { ipam: 'cluster-pool' },
  operator: { numReplicas: 1 },
});

/** The phases of `enable cilium` on the layout, in order. */
const CILIUM_PHASES: Record<Era, string[]> = {
  '1.20': ['allow-privileged', 'kubelet-cni-bin-dir', 'containerd-cni-bin-dir', 'containerd-cilium-sock', 'service-restarts', 'flanneld-stop', 'flannel-lock', 'vxlan-links', 'helm-release', 'rollout', 'cni-config', 'cni-set-aside', 'agent-cli-copy', 'agent-cli', 'restart-pods'],
  '1.35': ['allow-privileged', 'containerd-cni-bin-dir', 'containerd-cilium-sock', 'service-restarts', 'flanneld-stop', 'flannel-lock', 'vxlan-links', 'helm-release', 'rollout', 'cni-config', 'cni-set-aside', 'calico-remove', 'calico-manifest-aside', 'agent-cli-copy', 'agent-cli', 'restart-pods'],
};

/** Which steps a first enable changes on a fresh node of the layout (the others are already satisfied). */
const FIRST_ENABLE_CHANGES: Record<Era, string[]> = {
  '1.20': ['containerd-cni-bin-dir', 'containerd-cilium-sock', 'service-restarts', 'flanneld-stop', 'flannel-lock', 'vxlan-links', 'helm-release', 'rollout', 'cni-config', 'cni-set-aside', 'agent-cli'],
  // containerd-env gets CILIUM_SOCK, so containerd restarts on 1.35 too.
  '1.35': ['containerd-cilium-sock', 'service-restarts', 'helm-release', 'rollout', 'cni-config', 'cni-set-aside', 'calico-remove', 'calico-manifest-aside', 'agent-cli'],
};

/** The files a first enable adds, removes and changes under $SNAP_DATA. */
const FIRST_ENABLE_FILES: Record<Era, { added: string[]; removed: string[]; changed: string[] }> = {
  '1.20': {
    added: ['args/cni-network/05-cilium-cni.conf', 'args/cni-network/flannel.conflist.mk8s-addons-aside', 'bin/', 'bin/cilium', 'bin/helm3', 'var/lock/no-flanneld'],
    removed: ['args/cni-network/flannel.conflist'],
    changed: ['args/containerd-env', 'args/containerd-template.toml'],
  },
  '1.35': {
    added: ['args/cni-network/05-cilium-cni.conf', 'args/cni-network/10-calico.conflist.mk8s-addons-aside', 'args/cni-network/cni.yaml.disabled', 'bin/', 'bin/cilium', 'bin/helm3'],
    removed: ['args/cni-network/10-calico.conflist', 'args/cni-network/cni.yaml'],
    changed: ['args/containerd-env'],
  },
};

/** Files set aside by the enable, and what they were called (their content must be unchanged). */
const SET_ASIDE: Record<Era, [string, string][]> = {
  '1.20': [['args/cni-network/flannel.conflist', 'args/cni-network/flannel.conflist.mk8s-addons-aside']],
  '1.35': [
    ['args/cni-network/10-calico.conflist', 'args/cni-network/10-calico.conflist.mk8s-addons-aside'],
    ['args/cni-network/cni.yaml', 'args/cni-network/cni.yaml.disabled'],
  ],
};

/** The node as it was before anything was enabled on it. */
interface StartState {
  tree: Record<string, string>;
  whole: Record<string, string>;
  states: Record<string, string>;
  links: string[];
  namespaces: string[];
  releases: string[];
  k8s: string;
}

async function startState(sb: TestSandbox): Promise<StartState> {
  return {
    tree: dataTree(sb),
    whole: wholeDataTree(sb),
    states: serviceStates(sb),
    links: await links(sb),
    namespaces: await namespaces(sb),
    releases: await allReleases(sb),
    k8s: await serverGitVersion(sb),
  };
}

/** Runs the CLI on the sandbox with `--output json`; the exit code and the parsed events. */
function enableJson(sb: TestSandbox, args: string[]): { code: number | null; events: CliEvent[]; stderr: string } {
  const r = sb.cli([...args, '--output', 'json']);
  let events: CliEvent[];
  try {
    events = cliEvents(r.stdout);
  } catch {
    throw new Error(`mk8s-addons ${args.join(' ')}: stdout is not JSON events:\n${r.stdout}\nstderr: ${r.stderr}`);
  }
  return { code: r.code, events, stderr: r.stderr };
}

function okJson(sb: TestSandbox, args: string[]): CliEvent[] {
  const r = enableJson(sb, args);
  assert.equal(r.code, 0, `mk8s-addons ${args.join(' ')} exited with ${r.code}:\n${JSON.stringify(r.events, null, 1)}\n${r.stderr}`);
  return r.events;
}

const resultOf = (events: readonly CliEvent[]) => events.at(-1);

/**
 * The step outcomes, with the waits (`rollout`) normalised: kwok may report the workload ready before the
 * step looks (skipped) or not (done, after a wait); both are right, and neither counts as a change.
 * `rolloutsWaited`: how many waits were done (and so journaled).
 */
function outcomesWithRollout(events: readonly CliEvent[]): { outcomes: [string, string][]; rolloutsWaited: number } {
  let waited = 0;
  const outcomes = Object.entries(stepOutcomes(events)).map(([phase, status]): [string, string] => {
    if (/\/rollout$/.test(phase) && (status === 'done' || status === 'skipped')) {
      if (status === 'done') waited++;
      return [phase, 'done|skipped'];
    }
    return [phase, status];
  });
  return { outcomes, rolloutsWaited: waited };
}

/** `changed` of a first enable: helm3's binary and every step that changes the node (a wait is no change). */
const firstEnableChanged = (era: Era) => 1 + FIRST_ENABLE_CHANGES[era].filter((s) => s !== 'rollout').length;

/** Expected outcomes for `enable cilium` when the steps in `changes` change and the others are satisfied. */
function expectedCiliumOutcomes(era: Era, changes: readonly string[], helm3: 'done' | 'skipped', status = 'done'): [string, string][] {
  return [
    ['enable/helm3/binary', helm3],
    ...CILIUM_PHASES[era].map((s): [string, string] => [`enable/cilium/${s}`, s === 'rollout' ? 'done|skipped' : changes.includes(s) ? status : 'skipped']),
  ];
}

/**
 * Checks the node is as it was before the first enable: files (byte for byte, modes too), services,
 * links, releases, namespaces (a namespace the release made may still be terminating: waited for),
 * Calico (1.35). `helm3` when helm3 is still enabled (it stays when only cilium is disabled).
 */
async function assertAtStart(sb: TestSandbox, era: Era, start: StartState, opts: { helm3: boolean }): Promise<void> {
  // The folder bin/ came with helm3 (the sandbox has none): it goes with it, and stays while helm3 does.
  assert.deepEqual(treeChanges(start.tree, dataTree(sb)), { added: opts.helm3 ? ['bin/', 'bin/helm3'] : [], removed: [], changed: [] });
  assert.deepEqual(serviceStates(sb), start.states);
  assert.deepEqual(await links(sb), start.links);
  assert.deepEqual(await allReleases(sb), start.releases);
  assert.deepEqual(await podNames(sb, 'k8s-app=cilium'), []);
  assert.deepEqual(await settle(() => namespaces(sb), start.namespaces), start.namespaces);
  if (era === '1.35') {
    assert.deepEqual(await settle(() => calicoPresent(sb), [...CALICO_OBJECTS]), [...CALICO_OBJECTS]);
    assert.equal(await settle(() => readiness(sb, 'daemonset/calico-node'), 'daemonset/calico-node: ready'), 'daemonset/calico-node: ready');
  }
  const addons = journalAddons(sb);
  assert.deepEqual(Object.keys(addons).sort(), opts.helm3 ? ['helm3'] : []);
}

/** Puts the node back (after a failed test) so that the next flow starts clean; a no-op when it is. */
function disableAll(sb: TestSandbox): void {
  const enabled = Object.keys(journalAddons(sb));
  const order = ['hubble', 'cilium', 'helm3'].filter((a) => enabled.includes(a));
  if (order.length > 0) sb.cli(['disable', ...order]);
}

/**
 * Everything a cilium install shows on the node, for chart `version`: files, args lines, services,
 * links, CNI configs, the release, the workloads and their hostPaths, Calico gone (1.35).
 */
async function assertCiliumInstalled(sb: TestSandbox, era: Era, start: StartState, version: string): Promise<void> {
  const { snapData } = sb.info;
  const tree = dataTree(sb);
  assert.deepEqual(treeChanges(start.tree, tree), FIRST_ENABLE_FILES[era]);
  for (const [from, to] of SET_ASIDE[era]) assert.equal(tree[to], start.tree[from], `${to} holds what ${from} held`);

  // Args lines: the apiserver runs privileged pods; 1.20 kubelets look for CNI plugins under $SNAP_DATA.
  assert.ok(argsLines(sb, 'kube-apiserver').includes('--allow-privileged=true'));
  if (era === '1.20') assert.ok(argsLines(sb, 'kubelet').includes('--cni-bin-dir=${SNAP_DATA}/opt/cni/bin/'));
  // containerd looks for cilium-cni where the agent installs it.
  const template = readFileSync(path.join(ROOT, 'templates', 'sandbox', era, 'args', 'containerd-template.toml'), 'utf8');
  assert.equal(readFileSync(path.join(snapData, 'args', 'containerd-template.toml'), 'utf8'), template.replace('bin_dir = "${SNAP}/opt', 'bin_dir = "${SNAP_DATA}/opt'));
  assert.deepEqual(argsLines(sb, 'containerd-template.toml').filter((l) => /^\s*bin_dir/.test(l)).map((l) => l.trim()), ['bin_dir = "${SNAP_DATA}/opt/cni/bin"']);

  // flannel is down for good: its lock, its state, and its vxlan link gone from the node's netns.
  assert.equal(readFileSync(path.join(snapData, 'var', 'lock', 'no-flanneld'), 'utf8'), '');
  assert.equal(serviceStates(sb).flanneld, 'inactive');
  assert.deepEqual(await links(sb), ['lo']);

  // Exactly one CNI config is active, ours.
  assert.deepEqual(activeCniConfigs(sb), ['05-cilium-cni.conf']);
  assert.equal(readFileSync(path.join(snapData, 'args', 'cni-network', '05-cilium-cni.conf'), 'utf8'), CNI_CONF);
  assert.equal(statSync(path.join(snapData, 'bin', 'cilium')).mode & 0o777, 0o755);
  assert.match(readFileSync(path.join(snapData, 'bin', 'cilium'), 'utf8'), new RegExp(`^#!/bin/sh\\n# Installed by mk8s-addons \\(enable cilium ${version.replace(/\./g, '\\.')}\\)`));

  // The release, and its workloads ready, with the agent's node paths under $SNAP_DATA.
  const [release] = await helmReleases(sb);
  assert.deepEqual(await helmReleases(sb), [{ name: 'cilium', namespace: 'kube-system', revision: release?.revision, status: 'deployed', chart: `cilium-${version}`, app_version: version }]);
  const agent = await workload(sb, 'daemonset/cilium');
  assert.equal(agent.readiness, 'daemonset/cilium: ready');
  assert.equal(await readiness(sb, 'deployment/cilium-operator'), 'deployment/cilium-operator: ready');
  assert.deepEqual(
    { run: agent.hostPaths['cilium-run'], cniBin: agent.hostPaths['cni-path'], cniConf: agent.hostPaths['etc-cni-netd'] },
    { run: `${snapData}/var/run/cilium`, cniBin: `${snapData}/opt/cni/bin`, cniConf: `${snapData}/args/cni-network` },
  );
  assert.match(agent.images['cilium-agent'] ?? '', new RegExp(`^quay\\.io/cilium/cilium:v${version.replace(/\./g, '\\.')}(@sha256:[0-9a-f]{64})?$`));
  assert.equal(journalAddons(sb).cilium?.version, version);

  if (era === '1.35') {
    // Calico's objects go only once Cilium is ready, and are gone when enable returns.
    assert.deepEqual(await calicoPresent(sb), []);
    assert.deepEqual(await podNames(sb, 'k8s-app=calico-node'), []);
  }
}

/** A second identical enable: every step satisfied, nothing restarted, no service action, no file touched. */
async function assertIdempotent(sb: TestSandbox, era: Era, args: string[], version: string, extraNotes: string[] = []): Promise<void> {
  const logBefore = (await sb.serviceLog()).length;
  const treeBefore = dataTree(sb);
  const [releaseBefore] = await helmReleases(sb);
  const events = okJson(sb, args);
  assert.deepEqual(resultOf(events), { type: 'result', ok: true, changed: 0, restarts: {} });
  assert.deepEqual(Object.entries(stepOutcomes(events)), expectedCiliumOutcomes(era, [], 'skipped').map(([p]) => [p, 'skipped']));
  assert.deepEqual(notes(events), [...extraNotes, `enable/helm3: helm3 is already enabled at ${HELM3}`, `enable/cilium: cilium is already enabled at ${version}`]);
  assert.equal((await sb.serviceLog()).length, logBefore, 'no service action');
  assert.deepEqual(treeChanges(treeBefore, dataTree(sb)), { added: [], removed: [], changed: [] });
  assert.deepEqual(await helmReleases(sb), [releaseBefore]);
}

/** `disable cilium` after a flow: the node's files byte-identical to the start (but helm3's), etc. */
async function disableCiliumToStart(sb: TestSandbox, era: Era, start: StartState): Promise<{ events: CliEvent[]; logFrom: number; namespacesRightAfter: string[] }> {
  const logFrom = (await sb.serviceLog()).length;
  const events = okJson(sb, ['disable', 'cilium']);
  const namespacesRightAfter = await namespaces(sb);
  const outcomes = Object.entries(stepOutcomes(events)).filter(([p]) => p !== 'disable/cilium/rollout');
  const rollout = stepOutcomes(events)['disable/cilium/rollout'];
  assert.ok(rollout === undefined || rollout === 'skipped', `undoing a wait changes nothing (${rollout})`);
  assert.deepEqual(
    outcomes,
    era === '1.20'
      ? [
          ['disable/cilium/agent-cli', 'undone'],
          ['disable/cilium/cni-set-aside', 'undone'],
          ['disable/cilium/cni-config', 'undone'],
          ['disable/cilium/helm-release', 'undone'],
          ['disable/cilium/vxlan-links', 'skipped'],
          ['disable/cilium/flannel-lock', 'undone'],
          ['disable/cilium/flanneld-stop', 'undone'],
          ['disable/cilium/service-restarts', 'skipped'],
          ['disable/cilium/containerd-cilium-sock', 'undone'],
          ['disable/cilium/containerd-cni-bin-dir', 'undone'],
        ]
      : [
          ['disable/cilium/agent-cli', 'undone'],
          ['disable/cilium/calico-manifest-aside', 'undone'],
          ['disable/cilium/calico-remove', 'undone'],
          ['disable/cilium/cni-set-aside', 'undone'],
          ['disable/cilium/cni-config', 'undone'],
          ['disable/cilium/helm-release', 'undone'],
          ['disable/cilium/service-restarts', 'skipped'],
          ['disable/cilium/containerd-cilium-sock', 'undone'],
        ],
  );
  assert.equal(resultOf(events)?.ok, true);
  assert.equal(resultOf(events)?.changed, era === '1.20' ? 8 : 7);
  // The release and its agent pods are gone when disable returns.
  assert.deepEqual(await helmReleases(sb), []);
  assert.deepEqual(await podNames(sb, 'k8s-app=cilium'), []);
  assert.equal(await getObject(sb, 'daemonset/cilium'), undefined);
  if (era === '1.20') {
    // flanneld is started again (and brings flannel.1 back).
    assert.deepEqual((await serviceLogSince(sb, logFrom)).filter((e) => e.daemon === 'flanneld'), [{ action: 'start', daemon: 'flanneld', result: 'ok' }]);
  } else {
    // containerd-env loses CILIUM_SOCK again: containerd restarts once; nothing else.
    assert.deepEqual(await serviceLogSince(sb, logFrom), [{ action: 'restart', daemon: 'containerd', result: 'ok' }]);
  }
  await assertAtStart(sb, era, start, { helm3: true });
  assert.equal(journalAddons(sb).cilium, undefined);
  return { events, logFrom, namespacesRightAfter };
}

for (const era of ['1.20', '1.35'] as const) {
  describe(`cilium on a ${era} sandbox node`, () => {
    const node = useSandbox(era, { name: `cilium-${era}` });
    let sb: TestSandbox;
    let start: StartState;

    before(async () => {
      sb = node();
      start = await startState(sb);
      // The node as the sandbox makes it, which every later check compares with.
      assert.deepEqual(start.links, era === '1.20' ? ['flannel.1', 'lo'] : ['lo']);
      assert.equal(start.states.flanneld, era === '1.20' ? 'active' : 'inactive');
      assert.deepEqual(start.releases, []);
      assert.match(start.k8s, /^v1\.34\.\d+$/, 'the compatibility messages below are those of Kubernetes 1.34');
      if (era === '1.35') assert.deepEqual(await calicoPresent(sb), [...CALICO_OBJECTS]);
    });

    test('--dry-run on a fresh node: exit 0, the plan and what would change (the rendered values), nothing changed', async () => {
      const logBefore = (await sb.serviceLog()).length;
      const { code, events } = enableJson(sb, ['enable', 'cilium', '--dry-run']);
      assert.equal(code, 0);

      const plan = events[0] as { type: string; command: string; addons: { name: string; version: string; reason: string; steps: { phase: string }[] }[] };
      assert.equal(plan.type, 'plan');
      assert.equal(plan.command, 'enable');
      assert.deepEqual(
        plan.addons.map((a) => ({ name: a.name, version: a.version, reason: a.reason, phases: a.steps.map((s) => s.phase) })),
        [
          { name: 'helm3', version: HELM3, reason: 'required by cilium', phases: ['enable/helm3/binary'] },
          { name: 'cilium', version: NEWEST, reason: 'requested', phases: CILIUM_PHASES[era].map((s) => `enable/cilium/${s}`) },
        ],
      );
      const outcomes = Object.entries(stepOutcomes(events));
      assert.deepEqual(outcomes, [
        ['enable/helm3/binary', 'would-change'],
        ...CILIUM_PHASES[era].map((s): [string, string] => [`enable/cilium/${s}`, FIRST_ENABLE_CHANGES[era].includes(s) ? 'would-change' : 'skipped']),
      ]);
      const helmRelease = events.find((e) => e.phase === 'enable/cilium/helm-release' && e.status === 'would-change');
      assert.equal(helmRelease?.summary, `install release cilium (chart ${NEWEST}) in kube-system`);
      assert.ok(helmRelease?.detail?.startsWith('values:\n'), helmRelease?.detail);
      assert.deepEqual(JSON.parse((helmRelease?.detail ?? '').slice('values:\n'.length)), values120(sb.info.snapData));
      const cniConfig = events.find((e) => e.phase === 'enable/cilium/cni-config' && e.status === 'would-change');
      assert.match(cniConfig?.detail ?? '', /\n\+\{"cniVersion":"0\.3\.1","name":"cilium","type":"cilium-cni","enable-debug":true\}$/);
      if (era === '1.20') {
        assert.equal(events.find((e) => e.phase === 'enable/cilium/service-restarts' && e.status === 'would-change')?.detail, 'sandbox: restart containerd');
        assert.equal(events.find((e) => e.phase === 'enable/cilium/vxlan-links' && e.status === 'would-change')?.detail, `ip -n ${sb.info.netns} link delete flannel.1`);
      }
      assert.deepEqual(resultOf(events), { type: 'result', ok: true, changed: 0, restarts: {}, dryRun: true });

      // Nothing changed: not a file (no journal either), not a service, not a link, not the cluster.
      assert.deepEqual(wholeDataTree(sb), start.whole);
      assert.equal((await sb.serviceLog()).length, logBefore);
      assert.deepEqual(serviceStates(sb), start.states);
      assert.deepEqual(await links(sb), start.links);
      assert.deepEqual(await allReleases(sb), []);
      if (era === '1.35') assert.deepEqual(await calicoPresent(sb), [...CALICO_OBJECTS]);
    });

    const badInputEvents: { args: string[]; events: CliEvent[] }[] = [];

    test('bad input is refused with exit 2 and the exact message, and changes nothing', async () => {
      const logBefore = (await sb.serviceLog()).length;
      const cases: { args: string[]; message: string }[] = [
        { args: ['enable', 'cilium:v1.7'], message: `cilium 1.7.x is not bundled with mk8s-addons; available: ${BUNDLED}` },
        { args: ['enable', 'cilium', '--set', 'a[=b'], message: '--set a[=b: error parsing index: EOF; write KEY=VALUE pairs separated by commas, and escape a literal , . [ or = with a backslash' },
        {
          args: ['enable', 'cilium', '--strict', '--set', 'global.hubble.enabled=true'],
          message: 'chart cilium 1.20.0 has no value global.hubble.enabled (--set), so Helm would ignore it; this chart is flat (global.* is the 1.8 layout): use hubble.enabled',
        },
        // 1.8's chart refuses Kubernetes >= 1.22: without --force this is an error before anything changes.
        { args: ['enable', 'cilium:v1.8'], message: `Cilium 1.8.13 on Kubernetes ${start.k8s}: ${compat18(start.k8s)}; choose another version (mk8s-addons list) or give --force` },
      ];
      for (const c of cases) {
        const plain = sb.cli(c.args);
        assert.deepEqual({ code: plain.code, stderr: plain.stderr, stdout: plain.stdout }, { code: 2, stderr: `mk8s-addons: error: ${c.message}\n`, stdout: '' }, c.args.join(' '));
        const json = enableJson(sb, c.args);
        assert.equal(json.code, 2, c.args.join(' '));
        assert.deepEqual(json.events[0], { type: 'error', code: 'usage', phase: null, message: c.message }, c.args.join(' '));
        // Then the result (the todo test below: an error found while planning has none yet).
        assert.deepEqual(json.events.slice(1), json.events.length > 1 ? [{ type: 'result', ok: false, changed: 0, restarts: {} }] : [], c.args.join(' '));
        badInputEvents.push({ args: c.args, events: json.events });
      }
      assert.deepEqual(wholeDataTree(sb), start.whole);
      assert.equal((await sb.serviceLog()).length, logBefore);
      assert.deepEqual(await links(sb), start.links);
      assert.deepEqual(await allReleases(sb), []);
    });

    test(
      'with --output json, every refused command ends with a result event, as the JSON event stream is documented',
      () => {
        assert.equal(badInputEvents.length, 4, 'the test above ran');
        assert.deepEqual(
          badInputEvents.map(({ args, events }) => [args.join(' '), events.at(-1)]),
          badInputEvents.map(({ args }) => [args.join(' '), { type: 'result', ok: false, changed: 0, restarts: {} }]),
        );
      },
    );

    describe('user values: a key the chart does not know, without --strict; enable hubble keeps them', () => {
      let seen: { journalOptions: unknown } | undefined;

      test(`without --strict, a key chart ${NEWEST} does not know is a warning note and the enable goes ahead; enable and disable hubble keep the --set values`, async (t) => {
        t.after(() => disableAll(sb));
        await assertAtStart(sb, era, start, { helm3: false });
        const events = okJson(sb, ['enable', 'cilium', '--set', 'cluster.name=mk8s-test', '--set', 'global.hubble.enabled=true']);
        assert.deepEqual(notes(events), [
          'enable/cilium: warning: global.hubble.enabled (from --set) is not a value of chart cilium 1.20.0, so Helm would ignore it; this chart is flat (global.* is the 1.8 layout): use hubble.enabled',
          'enable/cilium/service-restarts: restarted containerd',
        ]);
        assert.equal(resultOf(events)?.ok, true);
        const withSet = { ...values120(sb.info.snapData), cluster: { name: 'mk8s-test' }, global: { hubble: { enabled: true } } };
        assert.deepEqual(await releaseValues(sb), withSet);
        await assertCiliumInstalled(sb, era, start, NEWEST);

        // hubble pulls cilium in as it is installed: cilium's own release step finds nothing to change.
        const hubble = okJson(sb, ['enable', 'hubble']);
        assert.equal(stepOutcomes(hubble)['enable/cilium/helm-release'], 'skipped');
        assert.deepEqual(await releaseValues(sb), { ...withSet, hubble: { enabled: true, relay: { enabled: true }, ui: { enabled: false } } });
        const journalOptions = journalAddons(sb).cilium?.options;
        okJson(sb, ['disable', 'hubble']);
        assert.deepEqual(await releaseValues(sb), withSet);
        seen = { journalOptions };
        okJson(sb, ['disable', 'cilium', 'helm3']);
      });

      test(
        'the journal keeps the options cilium was enabled with when hubble pulls it in (a later enable hubble renders from them)',
        () => {
          assert.ok(seen, 'the test above ran');
          // A later `enable hubble` renders cilium's values from these: lost here, lost from the release then.
          assert.deepEqual(seen.journalOptions, { '--set': ['cluster.name=mk8s-test', 'global.hubble.enabled=true'] });
        },
      );
    });

    describe('Cilium 1.8.13 (--force), hubble on it, upgrade to 1.9, downgrade, disable', () => {
      test('enable cilium:v1.8 --force: every step, file, service, link, the release, its workloads and paths', async () => {
        await assertAtStart(sb, era, start, { helm3: false });
        const logFrom = (await sb.serviceLog()).length;
        const events = okJson(sb, ['enable', 'cilium:v1.8', '--force']);
        const { outcomes } = outcomesWithRollout(events);
        assert.deepEqual(outcomes, expectedCiliumOutcomes(era, FIRST_ENABLE_CHANGES[era], 'done'));
        assert.deepEqual(resultOf(events), {
          type: 'result',
          ok: true,
          changed: firstEnableChanged(era),
          restarts: { containerd: 1 },
        });
        assert.deepEqual(notes(events), [
          `enable/cilium: --force: installing anyway although ${compat18(start.k8s)}`,
          'enable/cilium/service-restarts: restarted containerd',
        ]);
        // containerd restarted once (the bin_dir change and CILIUM_SOCK; on 1.35 CILIUM_SOCK only), then flanneld stopped; nothing else.
        assert.deepEqual(
          await serviceLogSince(sb, logFrom),
          era === '1.20'
            ? [
                { action: 'restart', daemon: 'containerd', result: 'ok' },
                { action: 'stop', daemon: 'flanneld', result: 'ok' },
              ]
            : [{ action: 'restart', daemon: 'containerd', result: 'ok' }],
        );
        await assertCiliumInstalled(sb, era, start, '1.8.13');
        assert.deepEqual(await releaseValues(sb), values18(sb.info.snapData));
        assert.deepEqual(journalAddons(sb).cilium?.requested, 'v1.8');
      });

      test('a second enable cilium:v1.8 --force changes nothing: changed 0, no restart, no service log line', async () => {
        await assertIdempotent(sb, era, ['enable', 'cilium:v1.8', '--force'], '1.8.13', [`enable/cilium: --force: installing anyway although ${compat18(start.k8s)}`]);
      });

      test('enable hubble keeps cilium 1.8.13 (no --force needed, no upgrade), turns relay on with its hostPath under $SNAP_DATA; disable hubble turns it off', async () => {
        const valuesBefore = await releaseValues(sb);
        const [releaseBefore] = await helmReleases(sb);
        const logFrom = (await sb.serviceLog()).length;
        const events = okJson(sb, ['enable', 'hubble']);
        const { outcomes, rolloutsWaited } = outcomesWithRollout(events);
        assert.deepEqual(outcomes, [
          ...expectedCiliumOutcomes(era, [], 'skipped'),
          ['enable/hubble/helm-values', 'done'],
          ['enable/hubble/rollout', 'done|skipped'],
        ]);
        assert.deepEqual(resultOf(events), { type: 'result', ok: true, changed: 1, restarts: {} });
        assert.deepEqual(notes(events), [
          `enable/cilium: cilium 1.8.13 stays as installed although ${compat18(start.k8s)}`,
          `enable/helm3: helm3 is already enabled at ${HELM3}`,
          'enable/cilium: cilium is already enabled at 1.8.13',
        ]);
        assert.deepEqual(await helmReleases(sb), [{ ...releaseBefore, revision: String(Number(releaseBefore?.revision) + 1) }]);
        assert.equal(journalAddons(sb).cilium?.version, '1.8.13');
        assert.equal(await readiness(sb, 'deployment/hubble-relay'), 'deployment/hubble-relay: ready');
        // hubble-relay 1.8 mounts the agent's run dir as a hostPath whatever daemon.runPath says: rewritten.
        assert.deepEqual(await hostPaths(sb, 'deployment/hubble-relay'), { 'hubble-sock-dir': `${sb.info.snapData}/var/run/cilium` });
        const values = (await releaseValues(sb)) as { global: { hubble: unknown } };
        assert.deepEqual(values.global.hubble, { enabled: true, listenAddress: ':4244', relay: { enabled: true }, ui: { enabled: false } });
        assert.deepEqual(await serviceLogSince(sb, logFrom), []);

        const off = okJson(sb, ['disable', 'hubble']);
        // The wait is journaled only when it waited; undoing it changes nothing either way.
        assert.deepEqual(Object.entries(stepOutcomes(off)), [...(rolloutsWaited === 1 ? [['disable/hubble/rollout', 'skipped']] : []), ['disable/hubble/helm-values', 'undone']]);
        assert.deepEqual(resultOf(off), { type: 'result', ok: true, changed: 1, restarts: {} });
        assert.equal(await getObject(sb, 'deployment/hubble-relay'), undefined);
        assert.deepEqual(await releaseValues(sb), valuesBefore);
        assert.deepEqual((await helmReleases(sb)).map((r) => [r.chart, r.status]), [['cilium-1.8.13', 'deployed']]);
        assert.equal(journalAddons(sb).hubble, undefined);
        await assertCiliumInstalled(sb, era, start, '1.8.13');
      });

      test('enable cilium:v1.9 upgrades the release in place to chart 1.9.18; the journal records it and the 1.8.13 it replaced', async () => {
        const [releaseBefore] = await helmReleases(sb);
        const treeBefore = dataTree(sb);
        const logFrom = (await sb.serviceLog()).length;
        const events = okJson(sb, ['enable', 'cilium:v1.9']);
        const { outcomes } = outcomesWithRollout(events);
        assert.deepEqual(outcomes, expectedCiliumOutcomes(era, ['helm-release', 'agent-cli'], 'skipped'));
        assert.equal(events.find((e) => e.phase === 'enable/cilium/helm-release' && e.status === 'done')?.summary, 'upgrade release cilium: chart 1.8.13 -> 1.9.18, values changed');
        assert.deepEqual(resultOf(events), { type: 'result', ok: true, changed: 2, restarts: {} });
        assert.deepEqual(notes(events), [`enable/cilium: ${compat19}`, `enable/helm3: helm3 is already enabled at ${HELM3}`]);
        assert.deepEqual(await helmReleases(sb), [
          { name: 'cilium', namespace: 'kube-system', revision: String(Number(releaseBefore?.revision) + 1), status: 'deployed', chart: 'cilium-1.9.18', app_version: '1.9.18' },
        ]);
        // Only the agent CLI wrapper (which names the version) changed on the node; no service was touched.
        assert.deepEqual(treeChanges(treeBefore, dataTree(sb)), { added: [], removed: [], changed: ['bin/cilium'] });
        assert.deepEqual(await serviceLogSince(sb, logFrom), []);
        const journal = journalAddons(sb).cilium;
        assert.deepEqual({ version: journal?.version, requested: journal?.requested, history: journal?.history?.map((h) => h.version) }, { version: '1.9.18', requested: 'v1.9', history: ['1.8.13'] });
        await assertCiliumInstalled(sb, era, start, '1.9.18');
      });

      test('a downgrade (cilium:v1.8 on 1.9.18) is refused with exit 2 and changes nothing; with --force it goes ahead', async () => {
        const whole = wholeDataTree(sb);
        const releases = await helmReleases(sb);
        const refused = sb.cli(['enable', 'cilium:v1.8']);
        assert.deepEqual(
          { code: refused.code, stderr: refused.stderr },
          { code: 2, stderr: 'mk8s-addons: error: cilium 1.9.18 is installed; 1.8.13 would be a downgrade; give --force to downgrade anyway\n' },
        );
        const json = enableJson(sb, ['enable', 'cilium:v1.8']);
        assert.equal(json.code, 2);
        assert.deepEqual(json.events, [
          { type: 'error', code: 'usage', phase: null, message: 'cilium 1.9.18 is installed; 1.8.13 would be a downgrade; give --force to downgrade anyway' },
          { type: 'result', ok: false, changed: 0, restarts: {} },
        ]);
        assert.deepEqual(wholeDataTree(sb), whole);
        assert.deepEqual(await helmReleases(sb), releases);

        const events = okJson(sb, ['enable', 'cilium:v1.8', '--force']);
        assert.equal(events.find((e) => e.phase === 'enable/cilium/helm-release' && e.status === 'done')?.summary, 'upgrade release cilium: chart 1.9.18 -> 1.8.13, values changed');
        assert.deepEqual(await helmReleases(sb), [
          { name: 'cilium', namespace: 'kube-system', revision: String(Number(releases[0]?.revision) + 1), status: 'deployed', chart: 'cilium-1.8.13', app_version: '1.8.13' },
        ]);
        const journal = journalAddons(sb).cilium;
        assert.deepEqual({ version: journal?.version, history: journal?.history?.map((h) => h.version) }, { version: '1.8.13', history: ['1.8.13', '1.9.18'] });
        await assertCiliumInstalled(sb, era, start, '1.8.13');
      });

      let afterDisable: Awaited<ReturnType<typeof disableCiliumToStart>> | undefined;

      test('disable cilium: the node files byte-identical to before the first enable, the release and agent pods gone, the previous CNI back', async () => {
        afterDisable = await disableCiliumToStart(sb, era, start);
        okJson(sb, ['disable', 'helm3']);
        assert.deepEqual(dataTree(sb), start.tree);
      });

      if (era === '1.20') {
        test(
          'disable cilium restarts containerd after putting its bin_dir back',
          async () => {
            assert.ok(afterDisable, 'the disable test ran');
            assert.deepEqual(await serviceLogSince(sb, afterDisable.logFrom), [
              { action: 'start', daemon: 'flanneld', result: 'ok' },
              { action: 'restart', daemon: 'containerd', result: 'ok' },
            ]);
            assert.deepEqual(resultOf(afterDisable.events)?.restarts, { containerd: 1 });
          },
        );
      }
    });

    describe(`Cilium ${NEWEST} (newest, no --force), hubble:ui on it, disable`, () => {
      let afterDisable: Awaited<ReturnType<typeof disableCiliumToStart>> | undefined;

      test(`enable cilium installs ${NEWEST}: every step, file, service, link, the release, its workloads and paths`, async () => {
        await assertAtStart(sb, era, start, { helm3: false });
        const logFrom = (await sb.serviceLog()).length;
        const events = okJson(sb, ['enable', 'cilium']);
        const { outcomes } = outcomesWithRollout(events);
        assert.deepEqual(outcomes, expectedCiliumOutcomes(era, FIRST_ENABLE_CHANGES[era], 'done'));
        assert.deepEqual(resultOf(events), { type: 'result', ok: true, changed: firstEnableChanged(era), restarts: { containerd: 1 } });
        assert.deepEqual(notes(events), ['enable/cilium/service-restarts: restarted containerd']);
        assert.deepEqual(
          await serviceLogSince(sb, logFrom),
          era === '1.20'
            ? [
                { action: 'restart', daemon: 'containerd', result: 'ok' },
                { action: 'stop', daemon: 'flanneld', result: 'ok' },
              ]
            : [{ action: 'restart', daemon: 'containerd', result: 'ok' }],
        );
        await assertCiliumInstalled(sb, era, start, NEWEST);
        // What was deployed is what --dry-run showed.
        assert.deepEqual(await releaseValues(sb), values120(sb.info.snapData));
        assert.equal(journalAddons(sb).cilium?.requested, null);
      });

      test('a second enable cilium changes nothing: changed 0, no restart, no service log line', async () => {
        await assertIdempotent(sb, era, ['enable', 'cilium'], NEWEST);
      });

      test(`enable hubble:ui keeps cilium ${NEWEST}, turns relay and UI on; disable hubble turns them off`, async () => {
        const valuesBefore = await releaseValues(sb);
        const [releaseBefore] = await helmReleases(sb);
        const events = okJson(sb, ['enable', 'hubble:ui']);
        const { outcomes } = outcomesWithRollout(events);
        assert.deepEqual(outcomes, [...expectedCiliumOutcomes(era, [], 'skipped'), ['enable/hubble/helm-values', 'done'], ['enable/hubble/rollout', 'done|skipped']]);
        assert.deepEqual(resultOf(events), { type: 'result', ok: true, changed: 1, restarts: {} });
        assert.deepEqual(notes(events), [`enable/helm3: helm3 is already enabled at ${HELM3}`, `enable/cilium: cilium is already enabled at ${NEWEST}`]);
        assert.deepEqual(await helmReleases(sb), [{ ...releaseBefore, revision: String(Number(releaseBefore?.revision) + 1) }]);
        assert.equal(journalAddons(sb).cilium?.version, NEWEST);
        assert.deepEqual(journalAddons(sb).hubble?.args, { ui: true });
        assert.equal(await readiness(sb, 'deployment/hubble-relay'), 'deployment/hubble-relay: ready');
        assert.equal(await readiness(sb, 'deployment/hubble-ui'), 'deployment/hubble-ui: ready');
        // From 1.11 relay finds the agents through the hubble-peer Service: no hostPath at all.
        assert.deepEqual(await hostPaths(sb, 'deployment/hubble-relay'), {});
        assert.deepEqual(await releaseValues(sb), { ...values120(sb.info.snapData), hubble: { enabled: true, relay: { enabled: true }, ui: { enabled: true } } });

        okJson(sb, ['disable', 'hubble']);
        assert.equal(await getObject(sb, 'deployment/hubble-relay'), undefined);
        assert.equal(await getObject(sb, 'deployment/hubble-ui'), undefined);
        assert.deepEqual(await releaseValues(sb), valuesBefore);
        await assertCiliumInstalled(sb, era, start, NEWEST);
      });

      test('disable cilium: the node files byte-identical to before the first enable, the release and agent pods gone, the previous CNI back', async () => {
        afterDisable = await disableCiliumToStart(sb, era, start);
        okJson(sb, ['disable', 'helm3']);
        assert.deepEqual(dataTree(sb), start.tree);
      });

      test(
        `disable cilium returns once the release's own namespace (cilium-secrets, chart ${NEWEST}) is gone, so an enable right after it works`,
        () => {
          assert.ok(afterDisable, 'the disable test ran');
          assert.deepEqual(afterDisable.namespacesRightAfter, start.namespaces);
        },
      );
    });

    describe('a failure mid-way rolls everything back', () => {
      let failure: { events: CliEvent[]; log: Awaited<ReturnType<typeof serviceLogSince>> } | undefined;

      test('enable cilium --set nodeSelector.mk8s-test=none --timeout 5s: the rollout never completes, exit 1, every applied step undone', async (t) => {
        t.after(() => disableAll(sb));
        await assertAtStart(sb, era, start, { helm3: false });
        const logFrom = (await sb.serviceLog()).length;
        const { code, events } = enableJson(sb, ['enable', 'cilium', '--set', 'nodeSelector.mk8s-test=none', '--timeout', '5s']);
        failure = { events, log: await serviceLogSince(sb, logFrom) };
        assert.equal(code, 1);

        const sequence = events.filter((e) => e.type === 'step' && e.status !== 'started').map((e) => `${e.phase} ${e.status}`);
        const applied = era === '1.20' ? ['containerd-cni-bin-dir', 'containerd-cilium-sock', 'service-restarts', 'flanneld-stop', 'flannel-lock', 'vxlan-links', 'helm-release'] : ['containerd-cilium-sock', 'service-restarts', 'helm-release'];
        const before = CILIUM_PHASES[era].slice(0, CILIUM_PHASES[era].indexOf('rollout'));
        assert.deepEqual(sequence, [
          'enable/helm3/binary done',
          ...before.map((s) => `enable/cilium/${s} ${applied.includes(s) ? 'done' : 'skipped'}`),
          'enable/cilium/rollout failed',
          // Undone newest first; a wait, a restart request and a deleted link have nothing to undo.
          'enable/cilium/rollout skipped',
          ...[...applied].reverse().map((s) => `enable/cilium/${s} ${['service-restarts', 'vxlan-links'].includes(s) ? 'skipped' : 'undone'}`),
          'enable/helm3/binary undone',
        ]);
        assert.deepEqual(notes(events).filter((n) => n.startsWith('enable/cilium/rollout')), [`enable/cilium/rollout: rolling back ${applied.length + 2} step(s) applied in this run`]);

        const error = events.find((e) => e.type === 'error');
        assert.equal(error?.code, 'step');
        assert.equal(error?.phase, 'enable/cilium/rollout');
        assert.ok(
          error?.message?.startsWith('daemonset/cilium in kube-system is not ready after 5 s: no node is scheduled to run it; no pods exist'),
          `the error says what is not ready and why: ${error?.message}`,
        );
        assert.ok(error?.message?.endsWith('; raise --timeout or look at "kubectl -n kube-system describe daemonset cilium" (rolled back)'), error?.message);
        // changed counts the steps applied (helm3's binary and `applied`) and those undone.
        const undone = applied.filter((s) => !['service-restarts', 'vxlan-links'].includes(s)).length + 1;
        // containerd restarts twice on 1.20: once for the new bin_dir, once when the rollback puts it back.
        assert.deepEqual(resultOf(events), { type: 'result', ok: false, changed: applied.length + 1 + undone, restarts: { containerd: 2 } });

        // Everything back: files byte for byte, flanneld running with its link, no release, Calico untouched.
        if (era === '1.20') {
          assert.deepEqual(failure.log.slice(0, 3), [
            { action: 'restart', daemon: 'containerd', result: 'ok' },
            { action: 'stop', daemon: 'flanneld', result: 'ok' },
            { action: 'start', daemon: 'flanneld', result: 'ok' },
          ]);
        } else {
          // CILIUM_SOCK in containerd-env and back: containerd restarted twice; Calico never stopped serving.
          assert.deepEqual(failure.log, [
            { action: 'restart', daemon: 'containerd', result: 'ok' },
            { action: 'restart', daemon: 'containerd', result: 'ok' },
          ]);
          assert.deepEqual(await calicoPresent(sb), [...CALICO_OBJECTS]);
        }
        assert.deepEqual(await helmReleases(sb), []);
        await assertAtStart(sb, era, start, { helm3: false });
        assert.deepEqual(dataTree(sb), start.tree);
      });

      test(
        'the rollout error names only the agent DaemonSet\'s own pods and events',
        () => {
          assert.ok(failure, 'the failure test ran');
          assert.equal(
            failure.events.find((e) => e.type === 'error')?.message,
            'daemonset/cilium in kube-system is not ready after 5 s: no node is scheduled to run it; no pods exist; raise --timeout or look at "kubectl -n kube-system describe daemonset cilium" (rolled back)',
          );
        },
      );

      if (era === '1.20') {
        test(
          'the rollback restarts containerd again after putting its bin_dir back',
          () => {
            assert.ok(failure, 'the failure test ran');
            assert.deepEqual(failure.log, [
              { action: 'restart', daemon: 'containerd', result: 'ok' },
              { action: 'stop', daemon: 'flanneld', result: 'ok' },
              { action: 'start', daemon: 'flanneld', result: 'ok' },
              { action: 'restart', daemon: 'containerd', result: 'ok' },
            ]);
            assert.deepEqual(resultOf(failure.events)?.restarts, { containerd: 2 });
          },
        );
      }
    });
  });
}
