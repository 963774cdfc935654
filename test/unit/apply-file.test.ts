/** The apply file: lines of YAML nodes, entries -> AddonSpec values, and messages that point at the line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applySpecs, parseApplyFile, specFromRecord, valuesToAssignments } from '../../src/lifecycle/apply-file.js';
import { formatPath, loadWithLines } from '../../src/lifecycle/yaml-lines.js';
import { plan } from '../../src/planner.js';
import { UsageError } from '../../src/errors.js';
import type { AddonSpec } from '../../src/grammar.js';
import { catalogue, specs as cliSpecs } from '../support/catalogue.js';

const specsOf = (text: string) => applySpecs(parseApplyFile(text, 'apply.yaml'), catalogue());
const shape = (s: AddonSpec[]) => s.map((x) => ({ raw: x.raw, name: x.name, positional: x.positional, flags: Object.fromEntries(x.flags) }));

/** The message the CLI gives for the same addon words. */
function cliMessage(line: string): string {
  try {
    plan({ command: 'enable', specs: cliSpecs(line).specs, catalogue: catalogue() });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`"${line}" is valid on the command line`);
}

test('lines: keys, sequence items, flow maps, comments and blank lines', () => {
  const text = [
    '# cluster.yaml', //                1
    '', //                              2
    'addons:', //                       3
    '  - name: dns', //                 4
    '    args: { servers: "1.1.1.1",', // 5
    '            domain: x }', //       6
    '  # a comment', //                 7
    '  -', //                           8
    '    name: cilium', //              9
    '    values:', //                   10
    '      hubble:', //                 11
    '        enabled: true', //         12
    '    arguments: ["a",', //          13
    '      "b"]', //                    14
  ].join('\n');
  const { data, lineOf } = loadWithLines(text);
  assert.deepEqual((data as { addons: unknown[] }).addons.length, 2);
  const table: [(string | number)[], number][] = [
    [[], 3],
    [['addons'], 3],
    [['addons', 0], 4],
    [['addons', 0, 'name'], 4],
    [['addons', 0, 'args'], 5],
    [['addons', 0, 'args', 'servers'], 5],
    [['addons', 0, 'args', 'domain'], 6],
    [['addons', 1], 9],
    [['addons', 1, 'values', 'hubble', 'enabled'], 12],
    [['addons', 1, 'arguments', 1], 14],
    // Not in the document: the nearest ancestor's line.
    [['addons', 1, 'version'], 9],
    [['addons', 7], 3],
  ];
  for (const [p, line] of table) assert.equal(lineOf(p), line, JSON.stringify(p));
});

test('paths are written as in the messages', () => {
  assert.equal(formatPath(['addons', 1, 'values', 'hubble', 'enabled']), 'addons[1].values.hubble.enabled');
  assert.equal(formatPath(['addons', 0, 'values', 'a.b', 'c d']), 'addons[0].values["a.b"]["c d"]');
  assert.equal(formatPath([]), '');
});

test('entries become the specs the command line would give', () => {
  const got = specsOf(`
addons:
  - name: dns
    args: { domain: cluster.local, servers: "1.1.1.1,8.8.8.8" }
  - name: helm3
  - name: cilium
    version: "v1.9"
  - name: hubble
    args: { ui: true }
`);
  assert.deepEqual(shape(got), [
    { raw: 'dns:1.1.1.1,8.8.8.8::cluster.local', name: 'dns', positional: ['1.1.1.1,8.8.8.8', '', 'cluster.local'], flags: {} },
    { raw: 'helm3', name: 'helm3', positional: [], flags: {} },
    { raw: 'cilium:v1.9', name: 'cilium', positional: ['v1.9'], flags: {} },
    { raw: 'hubble:ui', name: 'hubble', positional: ['ui'], flags: {} },
  ]);
  // The planner reads them as it reads `enable dns:1.1.1.1,8.8.8.8::cluster.local ...`.
  const planned = plan({ command: 'enable', specs: got, catalogue: catalogue() });
  assert.deepEqual(
    planned.addons.map((a) => [a.name, a.version, a.args]),
    [
      ['dns', '1.12.1', { servers: '1.1.1.1,8.8.8.8', domain: 'cluster.local' }],
      ['helm3', '3.17.2', {}],
      ['cilium', '1.9.18', { version: 'v1.9' }],
      ['hubble', null, { ui: true }],
    ],
  );
});

test('arguments in order, a switch that is off, and addresses with colons stay whole', () => {
  assert.deepEqual(
    shape(
      specsOf(`
addons:
  - name: dns
    arguments: ["[2606:4700::1111]:53", "", "cluster.local"]
  - name: cilium
  - name: hubble
    args: { ui: false }
`),
    ),
    [
      { raw: 'dns:[2606:4700::1111]:53::cluster.local', name: 'dns', positional: ['[2606:4700::1111]:53', '', 'cluster.local'], flags: {} },
      { raw: 'cilium', name: 'cilium', positional: [], flags: {} },
      { raw: 'hubble', name: 'hubble', positional: [], flags: {} },
    ],
  );
});

test('values become --set (typed) and --set-string (strings) assignments, escaped for Helm', () => {
  const got = specsOf(`
addons:
  - name: cilium
    version: "1.16"
    values:
      hubble: { enabled: true, relay: { enabled: true } }
      ipam: { operator: { clusterPoolIPv4PodCIDRList: ["10.1.0.0/16", "10.2.0.0/16"] } }
      operator: { replicas: 1 }
      "k8s.io/key": "a,b"
      extraArgs: []
      cni: { chainingMode: null }
`);
  assert.deepEqual(shape(got), [
    {
      raw: 'cilium:1.16 --set hubble.enabled=true --set hubble.relay.enabled=true --set operator.replicas=1 --set extraArgs={} --set cni.chainingMode=null --set-string ipam.operator.clusterPoolIPv4PodCIDRList[0]=10.1.0.0/16 --set-string ipam.operator.clusterPoolIPv4PodCIDRList[1]=10.2.0.0/16 --set-string k8s\\.io/key=a\\,b',
      name: 'cilium',
      positional: ['1.16'],
      flags: {
        '--set': ['hubble.enabled=true', 'hubble.relay.enabled=true', 'operator.replicas=1', 'extraArgs={}', 'cni.chainingMode=null'],
        '--set-string': ['ipam.operator.clusterPoolIPv4PodCIDRList[0]=10.1.0.0/16', 'ipam.operator.clusterPoolIPv4PodCIDRList[1]=10.2.0.0/16', 'k8s\\.io/key=a\\,b'],
      },
    },
  ]);
});

test('values: lists of maps and what cannot be a chart value', () => {
  const fail = (p: readonly (string | number)[], m: string): never => {
    throw new Error(`${formatPath(p)}: ${m}`);
  };
  assert.deepEqual(valuesToAssignments({ tolerations: [{ operator: 'Exists' }, { key: 'a=b', effect: 'NoSchedule' }] }, fail, ['values']), {
    set: [],
    setString: ['tolerations[0].operator=Exists', 'tolerations[1].key=a=b', 'tolerations[1].effect=NoSchedule'],
  });
  assert.throws(() => valuesToAssignments({ a: {} }, fail, ['values']), new Error('values.a: an empty map cannot be given as a chart value; leave it out'));
  assert.throws(() => valuesToAssignments({ a: Infinity }, fail, ['values']), new Error('values.a: must be a finite number'));
  assert.throws(() => valuesToAssignments({}, fail, ['values']), new Error('values: is empty; leave values out, or give chart values such as { hubble: { enabled: true } }'));
});

test('errors that need the catalogue point at the entry and field', () => {
  const table: [string, string][] = [
    ['addons:\n  - name: helm\n', 'apply.yaml:2: addons[0].name: unknown addon "helm" (did you mean "helm3"?); available: cilium, dns, helm3, hubble (see "mk8s-addons list")'],
    ['addons:\n  - name: dns\n  - name: helm3\n  - name: dns\n', 'apply.yaml:4: addons[2].name: dns is listed twice (also addons[0]); list each addon once'],
    ['addons:\n  - name: dns\n    args:\n      server: 1.1.1.1\n', 'apply.yaml:4: addons[0].args.server: dns has no argument "server"; its arguments: servers, dns-ip, domain'],
    ['addons:\n  - name: helm3\n    args: { x: "1" }\n', 'apply.yaml:3: addons[0].args.x: helm3 takes no arguments'],
    ['addons:\n  - name: dns\n    version: "1.12"\n', 'apply.yaml:3: addons[0].version: dns has no versions to choose from; leave version out'],
    ['addons:\n  - name: cilium\n    args: { version: "1.9" }\n    version: "1.9"\n', 'apply.yaml:4: addons[0].version: gives version a second time; give it once'],
    ['addons:\n  - name: hubble\n    args: { ui: "yes" }\n', 'apply.yaml:3: addons[0].args.ui: ui of hubble is a switch: give true or false'],
    ['addons:\n  - name: dns\n    args: { servers: true }\n', 'apply.yaml:3: addons[0].args.servers: servers of dns takes a string, not true or false'],
    ['addons:\n  - name: cilium\n    args: { version: true }\n', 'apply.yaml:3: addons[0].args.version: must be a string such as "1.9"'],
    ['addons:\n  - name: dns\n    values: { a: 1 }\n', 'apply.yaml:3: addons[0].values: dns takes no chart values (it has no --set option)'],
    ['addons:\n  - name: cilium\n    values: {}\n', 'apply.yaml:3: addons[0].values: is empty; leave values out, or give chart values such as { hubble: { enabled: true } }'],
    ['addons:\n  - name: cilium\n    values:\n      hubble: {}\n', 'apply.yaml:4: addons[0].values.hubble: an empty map cannot be given as a chart value; leave it out'],
    ['addons:\n  - name: dns\n    arguments: [a, b, c, d]\n', 'apply.yaml:2: addons[0]: dns takes at most 3 arguments (dns:SERVERS:DNS_IP:DOMAIN); got 4: "a", "b", "c", "d"'],
    ['addons:\n  - name: dns\n  - name: [x\n', 'apply.yaml:4: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]'],
    ['addons:\n  - name: dns\n    version: "1.1\n', 'apply.yaml:4: invalid YAML: Missing closing "quote'],
    ['addons:\n  - name: dns\n    name: helm3\n', 'apply.yaml:3: invalid YAML: Map keys must be unique'],
    ['addons:\n  - name: dns\n---\naddons: []\n', 'apply.yaml:3: invalid YAML: the file holds more than one document (a line ---); keep one'],
    ['addons:\n  - name: dns\n  - *later\n  - &later { name: helm3 }\n', 'apply.yaml:3: invalid YAML: the alias *later names no anchor defined before it (&later)'],
    ['# nothing yet\n', 'apply.yaml: the file is empty; list the addons under "addons:", such as addons: [{ name: dns }]'],
    ['- name: dns\n', 'apply.yaml:1: must be a map with "addons:", the list of addons'],
  ];
  for (const [text, message] of table) assert.throws(() => specsOf(text), new UsageError(message), text);
});

test('a bad version gets the same message as on the command line, pointed at its entry', () => {
  const table: [string, string][] = [
    ['1.7', 'cilium:1.7'],
    ['v1.8.5', 'cilium:v1.8.5'],
    ['latest', 'cilium:latest'],
  ];
  for (const [version, line] of table) {
    const text = `addons:\n  - name: dns\n  - name: cilium\n    version: "${version}"\n`;
    assert.throws(() => specsOf(text), new UsageError(`apply.yaml:3: addons[1]: ${cliMessage(line)}`), version);
  }
});

test('an installed dependency the file does not list is enabled again exactly as recorded', () => {
  const cilium = catalogue().get('cilium')!;
  const spec = specFromRecord(cilium, { version: '1.9.18', args: { version: 'v1.9' }, options: { '--set': ['hubble.enabled=true'] } });
  assert.deepEqual(shape([spec]), [{ raw: 'cilium:1.9.18 --set hubble.enabled=true', name: 'cilium', positional: ['1.9.18'], flags: { '--set': ['hubble.enabled=true'] } }]);
  const planned = plan({ command: 'enable', specs: [spec], catalogue: catalogue(), installed: new Map([['cilium', '1.9.18']]) });
  assert.deepEqual([planned.addons[1]?.version, planned.addons[1]?.options], ['1.9.18', { '--set': ['hubble.enabled=true'] }]);
  const dns = specFromRecord(catalogue().get('dns')!, { version: '1.12.1', args: { domain: 'example.org' }, options: {} });
  assert.deepEqual(dns.positional, ['', '', 'example.org']);
  const hubble = specFromRecord(catalogue().get('hubble')!, { version: null, args: { ui: true }, options: {} });
  assert.deepEqual(hubble.positional, ['ui']);
});
