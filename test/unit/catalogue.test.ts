import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadCatalogue } from '../../src/adapters/catalogue-files.js';
import { CatalogueError } from '../../src/errors.js';

const GOOD = `name: tool
description: A tool
steps:
  - name: binary
    kind: file
    description: Install it
    params: { path: "\${SNAP_DATA}/bin/tool", content: "#!/bin/sh\\n" }
`;

async function withCatalogue(files: Record<string, string>, fn: (dir: string) => Promise<void>) {
  const dir = mkdtempSync(path.join(tmpdir(), 'mk8s-cat-'));
  try {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.join(dir, name));
      writeFileSync(path.join(dir, name, 'manifest.yaml'), text);
    }
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the shipped catalogue loads', async () => {
  const c = await loadCatalogue();
  assert.deepEqual(c.addons.map((a) => a.name), ['cilium', 'dns', 'helm3', 'hubble']);
  assert.deepEqual(c.get('hubble')!.requires, ['cilium']);
  assert.deepEqual(c.get('cilium')!.requires, ['helm3']);
});

test('an addon that is only data needs no code', async () => {
  await withCatalogue({ tool: GOOD }, async (dir) => assert.equal((await loadCatalogue(dir)).get('tool')!.steps[0]!.kind, 'file'));
});

test('broken manifests name the file and the field', async () => {
  const table: [Record<string, string>, string][] = [
    [{ tool: GOOD.replace('description: A tool\n', '') }, 'invalid addon manifest addons/tool/manifest.yaml: field description: is required'],
    [{ tool: GOOD.replace('kind: file', 'kind: teleport') }, 'invalid addon manifest addons/tool/manifest.yaml: field steps.0.kind: must be one of file, args-flag, lock, rename, service, process, link, kube-apply, kube-configmap, kube-wait, kube-restart-pods, helm-release, pod-file, node-fanout; got "teleport"'],
    [{ tool: `${GOOD}colour: blue\n` }, 'invalid addon manifest addons/tool/manifest.yaml: field colour: is not a known field'],
    [{ tool: GOOD.replace('name: tool', 'name: Tool') }, 'invalid addon manifest addons/tool/manifest.yaml: field name: must be lower-case letters, digits and dashes'],
    [{ tool: GOOD.replace('name: tool', 'name: other') }, 'invalid addon manifest addons/tool/manifest.yaml: field name: "other" must match its folder name "tool"'],
    [{ tool: `${GOOD}requires: [ghost]\n` }, 'invalid addon manifest addons/tool/manifest.yaml: field requires.0: no addon named "ghost" in the catalogue'],
    [{ tool: 'name: [unclosed\n' }, 'invalid addon manifest addons/tool/manifest.yaml: unexpected end of the stream within a flow collection (2:1)'],
    [{ tool: `${GOOD}  - name: binary\n    kind: file\n    description: again\n` }, 'invalid addon manifest addons/tool/manifest.yaml: field steps.1.name: step "binary" is listed twice'],
    [
      { tool: `${GOOD}versions:\n  chart: tool\n  default: 1.0.0\n  pins:\n    - { version: 1.0.0, sha256: abc }\n` },
      'invalid addon manifest addons/tool/manifest.yaml: field versions.pins.0.sha256: must be 64 lower-case hex digits',
    ],
    [
      { tool: `${GOOD}versions:\n  chart: tool\n  default: 2.0.0\n  pins:\n    - { version: 1.0.0, sha256: ${'a'.repeat(64)} }\n` },
      'invalid addon manifest addons/tool/manifest.yaml: field versions.default: 2.0.0 is not one of the pinned versions',
    ],
    [
      { a: GOOD.replace('tool', 'a') + 'requires: [b]\n', b: GOOD.replace('tool', 'b') + 'requires: [a]\n' },
      'addon catalogue: dependency cycle a -> b -> a',
    ],
  ];
  for (const [files, message] of table) {
    await withCatalogue(files, async (dir) => {
      await assert.rejects(loadCatalogue(dir), (e: unknown) => e instanceof CatalogueError && e.message === message, message);
    });
  }
});

/** A manifest with one step of `kind` and `params` (YAML flow text), in a catalogue folder of its own. */
const withStep = (kind: string, params: string, extra = '') => `name: tool
description: A tool
${extra}steps:
  - name: first
    kind: lock
    description: A lock
    params: { lock: tool }
  - name: second
    kind: ${kind}
    description: The step under test
    params: ${params}
`;

test('every step\'s params are checked by its kind when the catalogue loads: file, step and field', async () => {
  const where = 'invalid addon manifest addons/tool/manifest.yaml: step second: field steps.1.params';
  const table: [string, string, string][] = [
    ['file', '{ path: /x, contnet: "a" }', `${where}.contnet: is not a known field`],
    ['file', '{ path: /x }', `${where}: needs exactly one of content, line, replace or remove`],
    ['file', '{ content: "a" }', `${where}.path: is required`],
    ['file', '{ path: /x, content: "a", mode: "755" }', `${where}.mode: must be a file mode such as 0o755 or a placeholder such as \${vars.NAME}`],
    ['args-flag', '{ service: kubelet, flag: -v }', `${where}.flag: must look like --flag-name`],
    ['service', '{ action: stop }', `${where}: a start or stop step needs service`],
    ['service', '{ action: reload, service: kubelet }', `${where}.action: must be one of start, stop, restart; got "reload"`],
    ['process', '{ command: [ls, -l] }', `${where}.command.1: must be a list of arguments`],
    ['process', '{ command: [ls, [-l, 3]] }', `${where}.command.1.1: must be a string; got 3`],
    ['kube-wait', '{ rollouts: [{ kind: Deployment, name: x }] }', `${where}.rollouts.0.namespace: is required`],
    ['kube-wait', '{ rollouts: [{ kind: Job, name: x, namespace: y }] }', `${where}.rollouts.0.kind: must be one of Deployment, DaemonSet; got "Job"`],
    ['kube-wait', '{ rollouts: oops }', `${where}.rollouts: must be a list of {kind, name, namespace} or a placeholder such as \${vars.NAME}`],
    ['kube-apply', '{ objects: [], mode: remove }', `${where}.mode: must be one of apply, delete; got "remove"`],
    ['helm-release', '{ helm: h, release: r, namespace: n, chart: c }', `${where}.chartVersion: is required`],
    ['helm-release', '{ helm: "${helm}", release: r, namespace: n, chart: "${chart}", chartVersion: "${version}" }', `${where}: \${version} needs the manifest's versions`],
    ['kube-restart-pods', '{ agent: { namespace: kube-system } }', `${where}.agent.selector: is required`],
    ['pod-file', '{ namespace: a, selector: b, container: c, program: d, path: e, enabled: yes }', `${where}.enabled: must be true or false or a placeholder such as \${vars.NAME}`],
    ['lock', '{ lock: "${colour}" }', `${where}: unknown placeholder \${colour}; use SNAP, SNAP_DATA, SNAP_COMMON, args.NAME, vars.NAME, version, chart, helm, release.name, release.namespace or values`],
    ['lock', '{ lock: "${release.name}" }', `${where}: \${release.name} needs the manifest's release`],
  ];
  for (const [kind, params, message] of table) {
    await withCatalogue({ tool: withStep(kind, params) }, async (dir) => {
      await assert.rejects(loadCatalogue(dir), (e: unknown) => e instanceof CatalogueError && e.message === message, `${kind} ${params}: ${message}`);
    });
  }
  // A whole placeholder stands for any value; placeholders the manifest provides for are accepted.
  await withCatalogue({ tool: withStep('kube-wait', '{ rollouts: "${vars.rollouts}" }') }, async (dir) => assert.equal((await loadCatalogue(dir)).addons.length, 1));
  await withCatalogue({ tool: withStep('lock', '{ lock: "${release.name}" }', 'release: { name: tool, namespace: tools }\n') }, async (dir) => assert.equal((await loadCatalogue(dir)).addons.length, 1));
});

test('MK8S_ADDONS_EXTRA_ADDONS adds folders of addons to the catalogue; a name already in it is refused', async () => {
  const extraManifest = GOOD.replace('name: tool', 'name: extra').replace('description: A tool', 'description: An extra tool\nrequires: [helm3]');
  const saved = process.env.MK8S_ADDONS_EXTRA_ADDONS;
  try {
    await withCatalogue({ extra: extraManifest }, async (dir) => {
      process.env.MK8S_ADDONS_EXTRA_ADDONS = dir;
      const c = await loadCatalogue();
      assert.deepEqual(c.addons.map((a) => a.name), ['cilium', 'dns', 'extra', 'helm3', 'hubble']);
      assert.equal(c.folder('extra'), path.join(dir, 'extra'));
    });
    await withCatalogue({ dns: GOOD.replace('name: tool', 'name: dns') }, async (dir) => {
      process.env.MK8S_ADDONS_EXTRA_ADDONS = dir;
      await assert.rejects(loadCatalogue(), { message: `invalid addon manifest ${path.join(dir, 'dns', 'manifest.yaml')}: field name: addon "dns" is defined twice` });
    });
    await withCatalogue({ extra: extraManifest.replace('contnet', 'x').replace('content:', 'contnet:') }, async (dir) => {
      process.env.MK8S_ADDONS_EXTRA_ADDONS = dir;
      await assert.rejects(loadCatalogue(), { message: `invalid addon manifest ${path.join(dir, 'extra', 'manifest.yaml')}: step binary: field steps.0.params.contnet: is not a known field` });
    });
  } finally {
    if (saved === undefined) delete process.env.MK8S_ADDONS_EXTRA_ADDONS;
    else process.env.MK8S_ADDONS_EXTRA_ADDONS = saved;
  }
});
