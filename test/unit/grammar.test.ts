import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgv, parseDuration, splitAddonWord, defaultGlobals, parseAddonSpecs, takeNodeOption } from '../../src/grammar.js';
import { UsageError } from '../../src/errors.js';
import { didYouMean } from '../../src/text.js';
import { catalogue } from '../support/catalogue.js';

const usage = (message: string) => (e: unknown) => e instanceof UsageError && e.message === message;

test('argv: command, global options before it, --version', () => {
  assert.equal(parseArgv(['--version']).version, true);
  assert.equal(parseArgv(['-V']).version, true);
  const inv = parseArgv(['--dry-run', '--output', 'json', '--snap-data=/tmp/x', 'enable', 'cilium:v1.8', '--timeout', '90s']);
  assert.equal(inv.command, 'enable');
  assert.equal(inv.globals.dryRun, true);
  assert.equal(inv.globals.output, 'json');
  assert.equal(inv.globals.snapData, '/tmp/x');
  assert.deepEqual(inv.words, ['cilium:v1.8', '--timeout', '90s']);
  assert.equal(parseArgv(['help', 'enable']).globals.help, true);
});

test('argv errors: exact messages', () => {
  const table: [string[], string][] = [
    [['frob'], 'unknown command "frob"; commands: enable, disable, list, status, reset, apply, start, stop, sandbox, datapath, cilium, microk8s-repo, nodes, completion; run "mk8s-addons --help"'],
    [['enabel'], 'unknown command "enabel" (did you mean "enable"?); commands: enable, disable, list, status, reset, apply, start, stop, sandbox, datapath, cilium, microk8s-repo, nodes, completion; run "mk8s-addons --help"'],
    [['--frob', 'list'], 'unknown option --frob; run "mk8s-addons --help" for the options'],
    [['--output', 'xml', 'list'], 'invalid --output "xml": use pretty, plain or json'],
    [['--output'], '--output needs a value: --output pretty|plain|json'],
    [['--snap-data', '--dry-run'], '--snap-data needs a value: --snap-data DIR'],
    [['--snap-data=', 'list'], '--snap-data needs a non-empty value: --snap-data DIR'],
    [['--dry-run=yes', 'list'], '--dry-run takes no value; write --dry-run alone'],
    [['--timeout', 'soon', 'list'], 'invalid --timeout "soon": give a duration such as 90s, 5m or 1m30s'],
  ];
  for (const [argv, message] of table) assert.throws(() => parseArgv(argv), usage(message), argv.join(' '));
});

test('durations', () => {
  const table: [string, number][] = [['90s', 90_000], ['5m', 300_000], ['1m30s', 90_000], ['500ms', 500], ['300', 300_000], ['1h', 3_600_000], ['1.5s', 1500]];
  for (const [text, ms] of table) assert.equal(parseDuration(text, '--timeout'), ms, text);
  for (const bad of ['', 'm', '5x', '5m3', '-5s', '5 m']) assert.throws(() => parseDuration(bad, '--timeout'), UsageError, bad);
});

test('addon words: NAME[:ARG...], repo prefixes, bad names', () => {
  const table: [string, string, string[]][] = [
    ['cilium:v1.8', 'cilium', ['v1.8']],
    ['dns:8.8.8.8,1.1.1.1', 'dns', ['8.8.8.8,1.1.1.1']],
    ['dns:1.1.1.1:10.152.183.20:cluster.local', 'dns', ['1.1.1.1', '10.152.183.20', 'cluster.local']],
    ['core/dns', 'dns', []],
    ['community/cilium:1.9', 'cilium', ['1.9']],
    ['hubble', 'hubble', []],
    ['dns:[2606:4700::1111]:53', 'dns', ['[2606:4700::1111]:53']],
    ['dns:1.1.1.1:5353,8.8.8.8:10.152.183.20', 'dns', ['1.1.1.1:5353,8.8.8.8', '10.152.183.20']],
    ['dns:1.1.1.1,[2606:4700::1111]:53:10.152.183.20:cluster.local', 'dns', ['1.1.1.1,[2606:4700::1111]:53', '10.152.183.20', 'cluster.local']],
    ['dns::10.152.183.20', 'dns', ['', '10.152.183.20']],
    ['cilium:', 'cilium', ['']],
  ];
  for (const [word, name, positional] of table) assert.deepEqual(splitAddonWord(word), { name, positional }, word);
  const bad: [string, string][] = [
    ['', 'empty addon name in "": write NAME[:ARG...], e.g. cilium:v1.8 (see "mk8s-addons list")'],
    [':v1.8', 'empty addon name in ":v1.8": write NAME[:ARG...], e.g. cilium:v1.8 (see "mk8s-addons list")'],
    ['../cilium', 'invalid addon name "../cilium": names are lower-case letters, digits and dashes, with no path characters (see "mk8s-addons list")'],
    ['a/b', 'invalid addon name "a/b": names are lower-case letters, digits and dashes, with no path characters (see "mk8s-addons list")'],
    ['Cilium', 'invalid addon name "Cilium": names are lower-case letters, digits and dashes, with no path characters (see "mk8s-addons list")'],
  ];
  for (const [word, message] of bad) assert.throws(() => splitAddonWord(word), usage(message), word);
});

test('addon flags bind to the addon before them; globals anywhere', () => {
  const g = defaultGlobals();
  const specs = parseAddonSpecs('enable', ['cilium', '--version', '1.9', '--dry-run', 'dns:1.1.1.1', '--output=json'], g, catalogue());
  assert.deepEqual(specs.map((s) => s.name), ['cilium', 'dns']);
  assert.equal(specs[0]!.flags.get('--version'), '1.9');
  assert.equal(g.dryRun, true);
  assert.equal(g.output, 'json');
});

test('addon errors: exact messages', () => {
  const table: [string[], string][] = [
    [['cilum'], 'unknown addon "cilum" (did you mean "cilium"?); available: cilium, dns, helm3, hubble (see "mk8s-addons list")'],
    [['calico'], 'unknown addon "calico"; available: cilium, dns, helm3, hubble (see "mk8s-addons list")'],
    [['cilium', '--bogus'], 'unknown option --bogus for cilium (its options: --version, --set, --set-string, --values); run "mk8s-addons enable --help"'],
    [['helm3', '--version', '3'], 'unknown option --version for helm3 (it takes no options); run "mk8s-addons enable --help"'],
    [['--bogus', 'cilium'], 'unknown option --bogus; run "mk8s-addons enable --help" for the options'],
    [['cilium', '--version'], '--version of cilium needs a value, e.g. cilium --version VALUE'],
    [['cilium', '--version', '1.9', '--version', '1.8'], '--version is given twice for cilium; give it once'],
    [['hubble', '--ui=yes'], '--ui of hubble takes no value; write --ui alone'],
    [['cilium', 'cilium:v1.8'], 'cilium is given twice; give each addon once'],
    [[], 'enable needs at least one addon: mk8s-addons enable NAME[:ARG...] (see "mk8s-addons list")'],
    [['cilium', '--', 'x'], '"--" is not used by enable; write mk8s-addons enable NAME[:ARG...] [NAME...]'],
  ];
  for (const [words, message] of table) {
    assert.throws(() => parseAddonSpecs('enable', words, defaultGlobals(), catalogue()), usage(message), words.join(' '));
  }
});

test('--node of enable/disable: repeatable, comma lists, taken out of the addon words', () => {
  const table: [string[], { words: string[]; nodes: string | undefined }][] = [
    [['dns'], { words: ['dns'], nodes: undefined }],
    [['dns', '--node', 'node-2'], { words: ['dns'], nodes: 'node-2' }],
    [['--node=node-1,node-2', 'cilium', '--version', '1.9'], { words: ['cilium', '--version', '1.9'], nodes: 'node-1,node-2' }],
    [['dns', '--node', 'node-1', '--dry-run', '--node', ' node-3 '], { words: ['dns', '--dry-run'], nodes: 'node-1,node-3' }],
  ];
  for (const [words, want] of table) assert.deepEqual(takeNodeOption('enable', words), want, words.join(' '));
  const message = '--node needs node names: mk8s-addons disable NAME --node NODE[,NODE...] (see "mk8s-addons nodes")';
  for (const words of [['dns', '--node'], ['dns', '--node', '--dry-run'], ['dns', '--node='], ['dns', '--node', 'node-1,,node-2'], ['dns', '--node', ',']]) {
    assert.throws(() => takeNodeOption('disable', words), usage(message), words.join(' '));
  }
});

test('did-you-mean only for near misses', () => {
  assert.equal(didYouMean('cilum', ['cilium', 'dns']), 'cilium');
  assert.equal(didYouMean('hubbel', ['hubble', 'helm3']), 'hubble');
  assert.equal(didYouMean('helm', ['helm3', 'hubble']), 'helm3');
  assert.equal(didYouMean('zzz', ['cilium', 'dns']), undefined);
});
