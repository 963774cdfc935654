/**
 * Helm's value handling (src/cilium/helm-values.ts) against the real helm: every case is rendered by
 * `helm template` with a small chart that dumps `.Values` as JSON, and compared with what
 * mergeUserValues + coalesceValues compute for the same flags.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { ROOT } from '../support/cli.js';
import {
  coalesceValues,
  mergeUserValues,
  parseSet,
  parseValuesYaml,
  StrvalsError,
  valuePaths,
  formatPath,
  type HelmValues,
  type UserValues,
} from '../../src/cilium/helm-values.js';
import { UsageError } from '../../src/errors.js';

const HELM = path.join(ROOT, 'vendor', 'bin', 'helm');

const CHART_VALUES = `keep: 1
nested:
  a: 1
  b: {c: 2}
list: [x, y, z]
flag: on
empty: {}
nothing: ~
`;

let dir: string;
let chart: string;
let env: NodeJS.ProcessEnv;

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'helm-values-test-'));
  chart = path.join(dir, 'dump');
  mkdirSync(path.join(chart, 'templates'), { recursive: true });
  writeFileSync(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: dump\nversion: 0.1.0\n');
  writeFileSync(path.join(chart, 'values.yaml'), CHART_VALUES);
  writeFileSync(
    path.join(chart, 'templates', 'dump.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dump\ndata:\n  values.json: {{ toJson .Values | quote }}\n',
  );
  env = { PATH: process.env.PATH, HOME: dir, HELM_CACHE_HOME: dir, HELM_CONFIG_HOME: dir, HELM_DATA_HOME: dir };
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** A flag as given on the command line: ['--set', 'a=1'], ['--set-string', ...] or ['-f', fileName]. */
type Flag = readonly ['--set' | '--set-string' | '-f', string];

interface Case {
  name: string;
  flags: readonly Flag[];
  /** Contents of the -f files, by name. */
  files?: Record<string, string>;
}

function writeFiles(files: Record<string, string> = {}): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
}

/** What helm renders as .Values, or its error line. */
function helmValues(c: Case): { values?: HelmValues; error?: string } {
  writeFiles(c.files);
  const args = ['template', 'r', chart, ...c.flags.flatMap(([flag, v]) => (flag === '-f' ? ['-f', path.join(dir, v)] : [flag, v]))];
  const r = spawnSync(HELM, args, { encoding: 'utf8', env, cwd: dir });
  if (r.status !== 0) return { error: r.stderr.trim() };
  const docs = yaml.loadAll(r.stdout) as { data: { 'values.json': string } }[];
  const cm = docs.find((d) => d && d.data);
  assert.ok(cm, `no ConfigMap in helm's output:\n${r.stdout}`);
  return { values: JSON.parse(cm.data['values.json']) as HelmValues };
}

function userValues(c: Case): UserValues {
  return {
    files: c.flags.filter(([f]) => f === '-f').map(([, name]) => ({ path: name, text: c.files?.[name] ?? '' })),
    set: c.flags.filter(([f]) => f === '--set').map(([, v]) => v),
    setString: c.flags.filter(([f]) => f === '--set-string').map(([, v]) => v),
  };
}

function ours(c: Case): HelmValues {
  return coalesceValues(parseValuesYaml(CHART_VALUES, 'values.yaml'), mergeUserValues([], userValues(c)));
}

const set = (...lines: string[]): Flag[] => lines.map((l) => ['--set', l] as const);

const YAML11_FILE = `b1: yes
b2: No
b3: on
b4: OFF
b5: y
b6: n
b7: True
i1: 0755
i2: 0x1F
i3: 1_000
i4: +12
i5: -0
i6: 0o17
i7: 0b101
i8: -0x10
i9: 0B11
i10: 09
f1: 1e3
f2: 1.50
f3: .5
f4: 6.8523015e+5
f5: 1.
f6: +.5
f7: 1e400
s1: 2001-12-14
s2: 2001-12-14t21:59:43.10-05:00
s3: 12:30:45
s4: "{{ .Release.Name }}"
s5: |
  multi
  line
s6: 0x
s7: yes please
s8: "yes"
n1: ~
n2: null
n3:
n4: NULL
k: {1: a, true: b, 1.5: c}
y: key that YAML 1.1 reads as true
e1: =
e2: <<
`;

const CASES: Case[] = [
  { name: 'a plain value', flags: set('name=value') },
  { name: 'typed scalars', flags: set('a=+1,b=-0,c=007,d=1.5,e=TRUE,f=Null,g=99999999999999999999,h=-12,i=0,j=00,k=1e3,l=0x1F,m=falſe,n=-007') },
  { name: 'a list', flags: set('a={x,true,3,null}') },
  { name: 'an empty list is one empty string', flags: set('a={}') },
  { name: 'list items keep their spaces', flags: set('a={ x , y }') },
  { name: 'a list then another key', flags: set('a={1,2},b=3') },
  { name: 'indices with gaps', flags: set('a[0]=x,a[2]=y') },
  { name: 'maps in a list', flags: set('a[1].b=1,a[0].c=2') },
  { name: 'a scalar item replaced by a map', flags: set('a[0]=1,a[0].b=2') },
  { name: 'nested lists', flags: set('a[0][1]=x,a[0][0]=y') },
  { name: 'an index without a value', flags: set('a[0]') },
  { name: 'an index with an empty value', flags: set('a[0]=') },
  { name: 'a map in a list with an empty value at the end', flags: set('a[0].b=') },
  { name: 'a nested index without a value', flags: set('a[0][1]') },
  { name: 'a list at an index', flags: set('a[0]={x,y}') },
  { name: 'escapes', flags: set('a=x\\,y,b=c\\\\d,c\\.d=1,e=a\\=b') },
  { name: 'escaped brackets in a key', flags: set('a\\[0\\]=1') },
  { name: 'dotted keys', flags: set('a.b.c=1,a.b.d=2') },
  { name: 'two --set merge', flags: set('a.b=1', 'a.c=2') },
  { name: 'a later scalar replaces a map', flags: set('a.b=1,a=2') },
  { name: 'a key ending in a dot sets nothing', flags: set('a.') },
  { name: 'an empty value at the end', flags: set('a=') },
  { name: 'null deletes a chart key', flags: set('nested.a=null') },
  { name: 'null deletes a chart map', flags: set('nested=null') },
  { name: 'null of a key the chart lacks stays', flags: set('foo=null') },
  { name: 'nested null of a key the chart lacks stays', flags: set('foo.bar=null', 'nested.zz=null') },
  { name: 'a map over a chart scalar', flags: set('keep.x=1') },
  { name: 'a scalar over a chart map', flags: set('nested.b=5') },
  { name: 'an empty key is skipped', flags: set('=1,b=2') },
  { name: 'a value with =', flags: set('a=x=y') },
  { name: 'a trailing comma', flags: set('a=1,') },
  { name: 'spaces are part of keys and values', flags: set(' a = b ') },
  { name: 'YAML-looking strings stay strings', flags: set('a=key: value', 'b="quoted"', "c='single'", 'd=- item', 'e=#comment', 'f=&anchor', 'g=*alias', 'h=!!int 5') },
  { name: 'a newline in a value', flags: set('a=line1\nline2') },
  { name: 'template syntax in a value', flags: set('a=x{{ .Release.Name }}', 'b=}}{{') },
  { name: 'unicode', flags: set('ключ=значение,emoji=🙂') },
  { name: '__proto__ is an ordinary key', flags: set('__proto__.x=1,constructor=2') },
  { name: '31 nested keys are the limit', flags: set(`${Array.from({ length: 31 }, (_, i) => `k${i}`).join('.')}=1`) },
  { name: 'index 65536 is the limit', flags: set('a[65536]=1') },
  { name: '--set-string keeps strings', flags: [['--set-string', 'a=true,b=1,c=null,d={x,2},e=0']] },
  { name: '--set-string applies after --set', flags: [['--set-string', 'a=1'], ['--set', 'a=2']] },
  { name: '--set applies after -f', flags: [['--set', 'keep=2'], ['-f', 'over.yaml']], files: { 'over.yaml': 'keep: 3\n' } },
  { name: 'YAML 1.1 scalars in a values file', flags: [['-f', 'yaml11.yaml']], files: { 'yaml11.yaml': YAML11_FILE } },
  {
    name: 'values files deep-merge, later wins, lists are replaced',
    flags: [
      ['-f', 'one.yaml'],
      ['-f', 'two.yaml'],
    ],
    files: { 'one.yaml': 'a: {b: 1, c: [1, 2]}\nd: 1\n', 'two.yaml': 'a: {c: [3], e: 2}\nd: {x: 1}\n' },
  },
  { name: 'null in a values file deletes a chart key', flags: [['-f', 'null.yaml']], files: { 'null.yaml': 'keep: null\nnested: {b: null, q: null}\n' } },
  { name: 'a later file sets what an earlier file nulled', flags: [['-f', 'n1.yaml'], ['-f', 'n2.yaml']], files: { 'n1.yaml': 'nested: {a: null}\n', 'n2.yaml': 'nested: {a: 5}\n' } },
  {
    name: '--set edits lists and maps from a values file',
    flags: [['-f', 'list.yaml'], ['--set', 'tol[1]=X,obj.y=2']],
    files: { 'list.yaml': 'tol: [p, q, r]\nobj: {x: 1}\n' },
  },
  { name: 'only the first document of a values file counts', flags: [['-f', 'docs.yaml']], files: { 'docs.yaml': 'a: 1\n---\nb: 2\n' } },
  { name: 'an empty values file', flags: [['-f', 'empty.yaml']], files: { 'empty.yaml': '' } },
  { name: 'anchors and merge keys', flags: [['-f', 'anchors.yaml']], files: { 'anchors.yaml': 'x: &A {p: 1}\nz:\n  <<: *A\n  q: 2\n' } },
  { name: 'a duplicate key: the later one wins', flags: [['-f', 'dup.yaml']], files: { 'dup.yaml': 'a: 1\na: 2\n' } },
];

for (const c of CASES) {
  test(`helm values: ${c.name}`, () => {
    const expected = helmValues(c);
    assert.equal(expected.error, undefined, `helm failed: ${expected.error}`);
    assert.deepEqual(ours(c), expected.values);
  });
}

interface ErrorCase {
  line: string;
  /** Helm's message after "failed parsing --set data: ", which ours equals; undefined where Go panics. */
  helm?: string;
  /** Our message where it differs (Helm reports a recovered Go panic there). */
  ours?: string;
  base?: string;
}

const ERRORS: ErrorCase[] = [
  { line: 'a', helm: 'key "a" has no value' },
  { line: 'a.b', helm: 'key "b" has no value' },
  { line: 'a,b=1', helm: 'key "a" has no value (cannot end with ,)' },
  { line: 'a=1,,b=2', helm: 'key "" has no value (cannot end with ,)' },
  { line: 'a={x', helm: "list must terminate with '}'" },
  { line: 'a={{x}}', helm: 'key "}" has no value' },
  { line: 'a={}x', helm: 'key "x" has no value' },
  { line: 'a=[1,2]', helm: 'key "2]" has no value' },
  { line: 'a[-1]=x', helm: 'negative -1 index not allowed' },
  { line: 'a[x]=1', helm: 'error parsing index: strconv.Atoi: parsing "x": invalid syntax' },
  { line: 'a[99999999999999999999]=1', helm: 'error parsing index: strconv.Atoi: parsing "99999999999999999999": value out of range' },
  { line: 'a[1', helm: 'error parsing index: EOF' },
  { line: 'a[70000]=1', helm: 'index of 70000 is greater than maximum supported index of 65536' },
  { line: 'a[65537]=1', helm: 'index of 65537 is greater than maximum supported index of 65536' },
  { line: 'a[0]xy=1', helm: "unexpected data at end of array index: ['x' 'y']" },
  { line: 'a.=1', helm: 'key map "a" has no value' },
  { line: 'a\\', helm: 'key "a" has no value' },
  { line: 'a[0].b', helm: 'key "b" has no value' },
  { line: `${Array.from({ length: 32 }, (_, i) => `k${i}`).join('.')}=1`, helm: 'value name nested level is greater than maximum supported nested level of 30' },
  { line: 'a=1,a.b=2', ours: 'unable to parse key: "a" is a number, not a map' },
  { line: 'a=x,a[0]=1', ours: 'unable to parse key: "a" is a string, not a list' },
  { line: 'a=null,a.b=1', ours: 'unable to parse key: "a" is nil, not a map' },
  { line: 'a[0]=1,a[0][0]=2', ours: 'unable to parse key: index 0 is a number, not a list' },
  { line: 'obj[0]=1', base: 'obj: {x: 1}\n', ours: 'unable to parse key: "obj" is a map, not a list' },
];

for (const e of ERRORS) {
  test(`helm values: --set ${JSON.stringify(e.line)} fails as in helm`, () => {
    const files = e.base === undefined ? undefined : { 'base.yaml': e.base };
    const flags: Flag[] = [...(e.base === undefined ? [] : [['-f', 'base.yaml'] as const]), ['--set', e.line]];
    const helm = helmValues({ name: e.line, flags, files });
    const detail = e.helm ?? e.ours ?? '';
    if (e.helm !== undefined) assert.equal(helm.error, `Error: failed parsing --set data: ${e.helm}`);
    else assert.match(helm.error ?? '', /^Error: failed parsing --set data: unable to parse key: interface conversion: /);
    assert.throws(
      () => mergeUserValues(e.base === undefined ? [] : [parseValuesYaml(e.base, 'base')], { set: [e.line] }),
      (err: unknown) => err instanceof UsageError && err.message.startsWith(`--set ${e.line}: ${detail}; `),
    );
  });
}

test('helm values: a bad --set line is a usage error that says how to write one', () => {
  assert.throws(() => mergeUserValues([], { set: ['cni.binPath=/x', 'a,b=1'] }), {
    name: 'UsageError',
    message: '--set a,b=1: key "a" has no value (cannot end with ,); write KEY=VALUE pairs separated by commas, and escape a literal , . [ or = with a backslash',
  });
  assert.throws(() => mergeUserValues([], { setString: ['a'] }), { message: /^--set-string a: key "a" has no value; / });
  assert.throws(() => parseSet('a'), StrvalsError);
});

test('helm values: a values file that is not a map, or holds infinity, is refused as helm refuses it', () => {
  for (const [name, text, message] of [
    ['list.yaml', '- 1\n', '-f list.yaml must be a map of chart values at the top level, not a list'],
    ['scalar.yaml', 'hello\n', '-f scalar.yaml must be a map of chart values at the top level, not a scalar'],
    ['inf.yaml', 'v: {w: [.inf]}\n', '-f inf.yaml: v.w[0] is Infinity, which Helm cannot pass on (values become JSON); use a finite number or a quoted string'],
  ] as const) {
    assert.ok(helmValues({ name, flags: [['-f', name]], files: { [name]: text } }).error?.startsWith(`Error: failed to parse ${path.join(dir, name)}: `));
    assert.throws(() => mergeUserValues([], { files: [{ path: name, text }] }), { name: 'UsageError', message });
  }
  assert.throws(() => parseValuesYaml('a: [\n', '-f broken.yaml'), { name: 'UsageError', message: /^-f broken\.yaml is not valid YAML: .*; fix the file$/ });
});

test('helm values: base values come first, so user values override them', () => {
  const merged = mergeUserValues([{ cni: { binPath: '/snap/opt/cni/bin', customConf: true }, list: [1, 2] }], {
    files: [{ path: 'mine.yaml', text: 'cni: {customConf: false}\n' }],
    set: ['list[1]=9'],
  });
  assert.deepEqual(merged, { cni: { binPath: '/snap/opt/cni/bin', customConf: false }, list: [1, 9] });
});

test('helm values: mergeUserValues leaves the base values untouched', () => {
  const base = { a: { b: [1] } };
  mergeUserValues([base], { set: ['a.b[0]=2,a.c=1'] });
  assert.deepEqual(base, { a: { b: [1] } });
});

test('helm values: valuePaths lists scalars, lists and empty maps with escaped keys', () => {
  assert.deepEqual(
    valuePaths({ a: { b: 1, c: [1, { d: 2 }], e: {} }, 'x.y': { z: null } }).map(formatPath),
    ['a.b', 'a.c', 'a.e', 'x\\.y.z'],
  );
});
