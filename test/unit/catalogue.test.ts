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
