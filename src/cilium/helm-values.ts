/**
 * Helm's own value handling, reproduced so that mk8s-addons knows the exact values a release gets
 * before helm runs (for the values lint, `--dry-run` and the single values file passed to helm).
 *
 * Pure. Ported from Helm v3.17 (the vendored helm): `pkg/strvals` for `--set` / `--set-string`,
 * `pkg/cli/values.Options.MergeValues` for the order of `-f`, `--set`, `--set-string`,
 * `pkg/chartutil.CoalesceValues` for how the result meets the chart's defaults (null deletes a key), and
 * sigs.k8s.io/yaml (YAML 1.1 scalars through JSON) for how a values file is read. The tests compare
 * every case with the real helm binary.
 *
 * One deliberate difference: numbers are JavaScript numbers. Helm keeps a `--set` integer as an int64,
 * but values reach helm through a file here, and Helm reads every number in a values file as a float64,
 * which is exactly what a JavaScript number is; only integers beyond 2^53 given with --set differ.
 */
import yaml from 'js-yaml';
import { checkExpansion, isValueName } from '../input.js';
import { UsageError } from '../errors.js';

/** A values tree as Helm sees it: maps, lists, strings, numbers, booleans and null. */
export type HelmValues = Record<string, unknown>;

/** Helm's own limits (pkg/strvals). */
export const MAX_INDEX = 65536;
export const MAX_NESTED_NAME_LEVEL = 30;

/** A `--set` line Helm would reject; the message is the one Helm prints after "failed parsing --set data: ". */
export class StrvalsError extends Error {
  override readonly name = 'StrvalsError';
}

// ---------------------------------------------------------------------------------------------------
// Plain-object helpers that treat every key (including "__proto__") as data.

export function isTable(v: unknown): v is HelmValues {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasKey(o: HelmValues, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function setKey(o: HelmValues, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

function table(): HelmValues {
  return {};
}

/** A deep copy of a values tree. */
export function cloneValues<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x: unknown) => cloneValues(x)) as T;
  if (isTable(v)) {
    const out = table();
    for (const [k, x] of Object.entries(v)) setKey(out, k, cloneValues(x));
    return out as T;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------
// strvals: --set and --set-string

/** Go's %q for a string (strconv.Quote), close enough for messages: quotes, backslashes, control characters. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) out += goEscape(ch, '"');
  return `${out}"`;
}

function goQuoteRune(ch: string): string {
  return `'${goEscape(ch, "'")}'`;
}

function goEscape(ch: string, quote: string): string {
  if (ch === quote || ch === '\\') return `\\${ch}`;
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
  if (named[ch] !== undefined) return named[ch];
  const cp = ch.codePointAt(0) ?? 0;
  if (cp < 0x20 || cp === 0x7f) return `\\x${cp.toString(16).padStart(2, '0')}`;
  return ch;
}

/** Go's strings.EqualFold against an ASCII lower-case word, with Go's simple folds (ſ is s, K is k). */
function equalFold(s: string, lowerAscii: string): boolean {
  const chars = [...s];
  if (chars.length !== lowerAscii.length) return false;
  return chars.every((c, i) => {
    const folded = c === '\u017f' ? 's' : c === '\u212a' ? 'k' : c.length === 1 && c < '\x80' ? c.toLowerCase() : c;
    return folded === lowerAscii[i];
  });
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Go's strconv.ParseInt(s, 10, 64), as a number; undefined when Go would fail. */
function parseInt64Base10(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const n = BigInt(s.startsWith('+') ? s.slice(1) : s);
  if (n < INT64_MIN || n > INT64_MAX) return undefined;
  return zero(Number(n));
}

function zero(n: number): number {
  return n === 0 ? 0 : n; // -0 is 0 in Go's integers and in JSON
}

/** strvals.typedVal: Helm's typing of a --set value. */
export function typedVal(val: string, forceString: boolean): unknown {
  if (forceString) return val;
  if (equalFold(val, 'true')) return true;
  if (equalFold(val, 'false')) return false;
  if (equalFold(val, 'null')) return null;
  if (val === '0') return 0;
  // A value that starts with 0 (other than "0" itself) stays a string: 007, 0x1F.
  if (val.length !== 0 && val[0] !== '0') {
    const n = parseInt64Base10(val);
    if (n !== undefined) return n;
  }
  return val;
}

class EOF extends Error {
  constructor() {
    super('EOF');
  }
}
class NotList extends Error {
  constructor() {
    super('not a list');
  }
}

function goType(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (Array.isArray(v)) return 'a list';
  if (isTable(v)) return 'a map';
  return `a ${typeof v}`;
}

/** A rune reader over a string, like the bytes.Buffer strvals reads from. */
class Scanner {
  private pos = 0;
  private readonly runes: string[];
  constructor(s: string) {
    this.runes = [...s];
  }
  read(): string | undefined {
    return this.pos < this.runes.length ? this.runes[this.pos++] : undefined;
  }
  unread(): void {
    this.pos--;
  }
  /** strvals.runesUntil: reads up to a stop rune, honouring backslash escapes. */
  until(stop: string): { text: string; last: string | undefined; eof: boolean } {
    let text = '';
    for (;;) {
      const r = this.read();
      if (r === undefined) return { text, last: undefined, eof: true };
      if (stop.includes(r)) return { text, last: r, eof: false };
      if (r === '\\') {
        const next = this.read();
        if (next === undefined) return { text, last: undefined, eof: true };
        text += next;
      } else {
        text += r;
      }
    }
  }
}

/** Go's strconv.Atoi for an index, with its error text. */
function atoi(s: string): number {
  if (!/^[+-]?[0-9]+$/.test(s)) throw new StrvalsError(`error parsing index: strconv.Atoi: parsing ${goQuote(s)}: invalid syntax`);
  const n = BigInt(s);
  if (n < INT64_MIN || n > INT64_MAX) throw new StrvalsError(`error parsing index: strconv.Atoi: parsing ${goQuote(s)}: value out of range`);
  return zero(Number(n));
}

class StrvalsParser {
  constructor(
    private readonly sc: Scanner,
    private readonly forceString: boolean,
  ) {}

  parse(data: HelmValues): void {
    for (;;) {
      try {
        this.key(data, 0);
      } catch (err) {
        if (err instanceof EOF) return;
        throw err;
      }
    }
  }

  /** Returns normally after one key=value; throws EOF at the end of the line. */
  private key(data: HelmValues, nestedNameLevel: number): void {
    const { text: k, last, eof } = this.sc.until('=[,.');
    if (eof) {
      if (k.length === 0) throw new EOF();
      throw new StrvalsError(`key ${goQuote(k)} has no value`);
    }
    switch (last) {
      case '[': {
        const i = this.keyIndex();
        let list: unknown[] = [];
        if (hasKey(data, k)) {
          const existing = data[k];
          if (!Array.isArray(existing)) throw new StrvalsError(`unable to parse key: ${goQuote(k)} is ${goType(existing)}, not a list`);
          list = existing;
        }
        // Helm stores the list even when the item stops at the end of the line (`a[0]` sets a to []).
        let stopped: EOFWithList | undefined;
        try {
          list = this.listItem(list, i, nestedNameLevel);
        } catch (err) {
          if (!(err instanceof EOF)) throw err;
          stopped = err;
          list = stopped.list ?? list;
        }
        set(data, k, list);
        if (stopped) throw stopped;
        return;
      }
      case '=': {
        let vl: unknown[];
        try {
          vl = this.valList();
        } catch (err) {
          if (err instanceof EOF) {
            set(data, k, '');
            throw err;
          }
          if (err instanceof NotList) {
            const rs = this.val();
            set(data, k, typedVal(rs, this.forceString));
            return;
          }
          throw err;
        }
        set(data, k, vl);
        return;
      }
      case ',':
        set(data, k, '');
        throw new StrvalsError(`key ${goQuote(k)} has no value (cannot end with ,)`);
      default: {
        // '.': a nested map.
        nestedNameLevel++;
        if (nestedNameLevel > MAX_NESTED_NAME_LEVEL) {
          throw new StrvalsError(`value name nested level is greater than maximum supported nested level of ${MAX_NESTED_NAME_LEVEL}`);
        }
        let inner: HelmValues = table();
        if (hasKey(data, k)) {
          const existing = data[k];
          if (!isTable(existing)) throw new StrvalsError(`unable to parse key: ${goQuote(k)} is ${goType(existing)}, not a map`);
          inner = existing;
        }
        let failure: unknown;
        try {
          this.key(inner, nestedNameLevel);
        } catch (err) {
          failure = err;
        }
        if (failure === undefined && Object.keys(inner).length === 0) throw new StrvalsError(`key map ${goQuote(k)} has no value`);
        if (Object.keys(inner).length !== 0) set(data, k, inner);
        if (failure !== undefined) throw failure;
      }
    }
  }

  private keyIndex(): number {
    const { text, eof } = this.sc.until(']');
    if (eof) throw new StrvalsError('error parsing index: EOF');
    return atoi(text);
  }

  /** Returns the updated list; an EOF it throws carries the list as Helm would store it. */
  private listItem(list: unknown[], i: number, nestedNameLevel: number): unknown[] {
    if (i < 0) throw new StrvalsError(`negative ${i} index not allowed`);
    const { text: k, last, eof } = this.sc.until('[.=');
    if (k.length > 0) throw new StrvalsError(`unexpected data at end of array index: [${[...k].map(goQuoteRune).join(' ')}]`);
    if (eof) throw eofWith(list);
    switch (last) {
      case '=': {
        let vl: unknown[];
        try {
          vl = this.valList();
        } catch (err) {
          if (err instanceof EOF) return setIndex(list, i, '');
          if (err instanceof NotList) return setIndex(list, i, typedVal(this.val(), this.forceString));
          throw err;
        }
        return setIndex(list, i, vl);
      }
      case '[': {
        const nextI = this.keyIndex();
        let current: unknown[] = [];
        if (list.length > i && list[i] !== null && list[i] !== undefined) {
          const existing = list[i];
          if (!Array.isArray(existing)) throw new StrvalsError(`unable to parse key: index ${i} is ${goType(existing)}, not a list`);
          current = existing;
        }
        let inner: unknown[];
        try {
          inner = this.listItem(current, nextI, nestedNameLevel);
        } catch (err) {
          // Helm returns the outer list unchanged when the inner one stops (even at a plain EOF).
          if (err instanceof EOF) throw eofWith(list);
          throw err;
        }
        return setIndex(list, i, inner);
      }
      default: {
        // '.': a map inside the list.
        let inner: HelmValues = table();
        if (list.length > i) {
          const existing = list[i];
          if (isTable(existing)) {
            inner = existing;
          } else {
            // Indices out of order: Helm starts an empty map there.
            list[i] = inner;
          }
        }
        try {
          this.key(inner, nestedNameLevel);
        } catch (err) {
          if (err instanceof EOF) throw eofWith(list);
          throw err;
        }
        return setIndex(list, i, inner);
      }
    }
  }

  private val(): string {
    return this.sc.until(',').text;
  }

  private valList(): unknown[] {
    const r = this.sc.read();
    if (r === undefined) throw new EOF();
    if (r !== '{') {
      this.sc.unread();
      throw new NotList();
    }
    const list: unknown[] = [];
    for (;;) {
      const { text, last, eof } = this.sc.until(',}');
      if (eof) throw new StrvalsError("list must terminate with '}'");
      if (last === '}') {
        const next = this.sc.read();
        if (next !== undefined && next !== ',') this.sc.unread();
        list.push(typedVal(text, this.forceString));
        return list;
      }
      list.push(typedVal(text, this.forceString));
    }
  }
}

type EOFWithList = EOF & { list?: unknown[] };

function eofWith(list: unknown[]): EOFWithList {
  const e: EOFWithList = new EOF();
  e.list = list;
  return e;
}

function set(data: HelmValues, key: string, val: unknown): void {
  if (key.length === 0) return;
  setKey(data, key, val);
}

function setIndex(list: unknown[], index: number, val: unknown): unknown[] {
  if (index < 0) throw new StrvalsError(`negative ${index} index not allowed`);
  if (index > MAX_INDEX) throw new StrvalsError(`index of ${index} is greater than maximum supported index of ${MAX_INDEX}`);
  while (list.length <= index) list.push(null);
  list[index] = val;
  return list;
}

/**
 * strvals.ParseInto / ParseIntoString: parses one `--set` (or, with `forceString`, `--set-string`) line
 * into `dest`, changing it in place as Helm does. Throws StrvalsError with Helm's message.
 */
export function parseSetInto(line: string, dest: HelmValues, opts: { forceString?: boolean } = {}): HelmValues {
  new StrvalsParser(new Scanner(line), opts.forceString ?? false).parse(dest);
  return dest;
}

/** One `--set` line on its own. */
export function parseSet(line: string, opts: { forceString?: boolean } = {}): HelmValues {
  return parseSetInto(line, table(), opts);
}

// ---------------------------------------------------------------------------------------------------
// Values files: YAML 1.1 scalars (go-yaml v2) converted through JSON (sigs.k8s.io/yaml)

type Scalar = { kind: 'null' } | { kind: 'bool'; value: boolean } | { kind: 'number'; value: number } | { kind: 'str' };

const GO_YAML_MAP: Record<string, Scalar> = {};
for (const [value, words] of [
  [true, ['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']],
  [false, ['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']],
] as const) {
  for (const w of words) GO_YAML_MAP[w] = { kind: 'bool', value };
}
for (const w of ['~', 'null', 'Null', 'NULL']) GO_YAML_MAP[w] = { kind: 'null' };
for (const w of ['.nan', '.NaN', '.NAN']) GO_YAML_MAP[w] = { kind: 'number', value: NaN };
for (const w of ['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF']) GO_YAML_MAP[w] = { kind: 'number', value: Infinity };
for (const w of ['-.inf', '-.Inf', '-.INF']) GO_YAML_MAP[w] = { kind: 'number', value: -Infinity };

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** Go's strconv.ParseInt(s, 0, 64) (or ParseUint with `unsigned`): base prefixes 0x, 0o, 0b and a leading 0 for octal. */
function parseGoIntBase0(s: string, unsigned: boolean): number | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const sign = m[1] ?? '';
  if (unsigned && sign !== '') return undefined;
  let digits = m[2] ?? '';
  if (/^0[0-7]+$/.test(digits)) digits = `0o${digits.slice(1)}`;
  let n = BigInt(digits.replace(/^0([XOB])/, (_, p: string) => `0${p.toLowerCase()}`));
  if (sign === '-') n = -n;
  if (unsigned ? n > 2n ** 64n - 1n : n < INT64_MIN || n > INT64_MAX) return undefined;
  return zero(Number(n));
}

/** go-yaml v2's resolve() for a plain scalar, as sigs.k8s.io/yaml hands it to Helm. */
export function resolveYaml11Scalar(s: string): Scalar {
  if (s === '') return { kind: 'null' };
  const c = s[0] ?? '';
  const hint = c === '+' || c === '-' ? 'S' : c >= '0' && c <= '9' ? 'D' : 'yYnNtTfFoO~'.includes(c) ? 'M' : c === '.' ? '.' : '';
  if (hint === '') return { kind: 'str' };
  const known = GO_YAML_MAP[s];
  if (known) return known;
  if (hint === '.') {
    if (/^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s)) return finite(Number(s));
  } else if (hint === 'D' || hint === 'S') {
    // Timestamps stay strings through sigs.k8s.io/yaml and never parse as numbers, so they need no case here.
    const plain = s.replaceAll('_', '');
    const n = parseGoIntBase0(plain, false) ?? parseGoIntBase0(plain, true);
    if (n !== undefined) return { kind: 'number', value: n };
    if (YAML_STYLE_FLOAT.test(plain)) return finite(Number(plain));
  }
  return { kind: 'str' };
}

function finite(n: number): Scalar {
  // Go's ParseFloat fails on overflow, so the scalar stays a string.
  return Number.isFinite(n) ? { kind: 'number', value: zero(n) } : { kind: 'str' };
}

const scalarType = (tag: string, kind: Scalar['kind']) =>
  new yaml.Type(tag, {
    kind: 'scalar',
    resolve: (data: unknown) => typeof data === 'string' && resolveYaml11Scalar(data).kind === kind,
    construct: (data: string) => {
      const r = resolveYaml11Scalar(data);
      return r.kind === 'null' ? null : r.kind === 'str' ? data : r.value;
    },
  });

/** js-yaml's merge key (`<<`), which go-yaml v2 honours too. */
const mergeType = new yaml.Type('tag:yaml.org,2002:merge', { kind: 'scalar', resolve: (data: unknown) => data === '<<' });

/** The scalars of YAML 1.1 as go-yaml v2 resolves them (yes/no/on/off are booleans, 0755 is octal). */
export const HELM_YAML_SCHEMA = yaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalarType('tag:yaml.org,2002:null', 'null'),
    scalarType('tag:yaml.org,2002:bool', 'bool'),
    scalarType('tag:yaml.org,2002:int', 'number'),
    mergeType,
  ],
});

/**
 * Reads a values file as Helm does: the first YAML document, YAML 1.1 scalars, later duplicate keys
 * win, non-string keys become strings. `source` names the file in errors (e.g. `-f my-values.yaml`).
 */
export function parseValuesYaml(text: string, source: string): HelmValues {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text, null, { schema: HELM_YAML_SCHEMA, json: true });
  } catch (err) {
    const reason = err instanceof yaml.YAMLException ? err.message.split('\n')[0] : String(err);
    throw new UsageError(`${source} is not valid YAML: ${reason}; fix the file`);
  }
  const doc = docs[0];
  if (doc === null || doc === undefined) return table();
  if (!isTable(doc)) throw new UsageError(`${source} must be a map of chart values at the top level, not ${Array.isArray(doc) ? 'a list' : 'a scalar'}`);
  checkExpansion(doc, source);
  // Never echoed: a file that is no values file (say /etc/shadow) parses as a map of its lines.
  const odd = Object.keys(doc).findIndex((k) => !isValueName(k));
  if (odd >= 0) throw new UsageError(`${source}: top-level key number ${odd + 1} is not a chart value name (letters, digits, _, - and .); give a YAML map of chart values`);
  const bad = firstNonFinite(doc, '');
  if (bad !== undefined) throw new UsageError(`${source}: ${bad.path} is ${bad.value}, which Helm cannot pass on (values become JSON); use a finite number or a quoted string`);
  return doc;
}

function firstNonFinite(v: unknown, path: string): { path: string; value: number } | undefined {
  if (typeof v === 'number' && !Number.isFinite(v)) return { path: path || '(top)', value: v };
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      const r = firstNonFinite(x, `${path}[${i}]`);
      if (r) return r;
    }
  } else if (isTable(v)) {
    for (const [k, x] of Object.entries(v)) {
      const r = firstNonFinite(x, path ? `${path}.${escapeKey(k)}` : escapeKey(k));
      if (r) return r;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// Merging: -f files, then --set, then --set-string (Helm's order, whatever the order on the command line)

/** Helm's mergeMaps for successive -f files: maps merge, anything else (lists too) is replaced. */
export function mergeMaps(a: HelmValues, b: HelmValues): HelmValues {
  const out = table();
  for (const [k, v] of Object.entries(a)) setKey(out, k, v);
  for (const [k, v] of Object.entries(b)) {
    const current = hasKey(out, k) ? out[k] : undefined;
    if (isTable(v) && isTable(current)) {
      setKey(out, k, mergeMaps(current, v));
      continue;
    }
    setKey(out, k, v);
  }
  return out;
}

/** A user's chart values as given on the command line. */
export interface UserValues {
  /** `-f FILE`, in order: the file's name (for messages) and its text. */
  files?: readonly { path: string; text: string }[];
  /** `--set KEY=VALUE[,KEY=VALUE]`, in order. */
  set?: readonly string[];
  /** `--set-string KEY=VALUE[,KEY=VALUE]`, in order. */
  setString?: readonly string[];
}

/**
 * The values Helm would compute from `-f base... -f files... --set ... --set-string ...`: `bases` are
 * values files that come first (mk8s-addons' own values for the chart), then the user's files, then
 * every --set, then every --set-string (Helm applies them in that order, not in command-line order).
 * Nulls are kept: Helm deletes those keys when it meets the chart's defaults (see coalesceValues).
 */
export function mergeUserValues(bases: readonly HelmValues[], user: UserValues): HelmValues {
  let base = table();
  for (const b of bases) base = mergeMaps(base, cloneValues(b));
  for (const f of user.files ?? []) base = mergeMaps(base, parseValuesYaml(f.text, `-f ${f.path}`));
  for (const line of user.set ?? []) parseUserSet(line, base, '--set', false);
  for (const line of user.setString ?? []) parseUserSet(line, base, '--set-string', true);
  return base;
}

/** Parses one user flag's line into `dest`; a line Helm would reject is a UsageError that names the flag. */
export function parseUserSet(line: string, dest: HelmValues, flag: '--set' | '--set-string', forceString: boolean): void {
  try {
    parseSetInto(line, dest, { forceString });
  } catch (err) {
    if (!(err instanceof StrvalsError)) throw err;
    throw new UsageError(
      `${flag} ${line}: ${err.message}; write KEY=VALUE pairs separated by commas, and escape a literal , . [ or = with a backslash`,
    );
  }
}

/**
 * What the chart's templates see as `.Values` (Helm's CoalesceValues for a chart without subcharts):
 * `values` over the chart's `defaults`; maps merge, a null removes the chart's key.
 */
export function coalesceValues(defaults: HelmValues, values: HelmValues): HelmValues {
  const v = cloneValues(values);
  for (const [key, val] of Object.entries(cloneValues(defaults))) {
    if (!hasKey(v, key)) {
      setKey(v, key, val);
      continue;
    }
    const value = v[key];
    if (value === null) delete v[key];
    else if (isTable(value) && isTable(val)) coalesceTables(value, val);
  }
  return v;
}

function coalesceTables(dst: HelmValues, src: HelmValues): void {
  for (const [key, val] of Object.entries(src)) {
    if (!hasKey(dst, key)) {
      setKey(dst, key, val);
      continue;
    }
    const dv = dst[key];
    if (dv === null) delete dst[key];
    else if (isTable(val) && isTable(dv)) coalesceTables(dv, val);
  }
}

// ---------------------------------------------------------------------------------------------------
// Paths

/** A key path as a --set user writes it: dots between keys, `\.` for a dot inside a key. */
export function escapeKey(k: string): string {
  return k.replace(/([\\.[,=])/g, '\\$1');
}

export function formatPath(keys: readonly string[]): string {
  return keys.map(escapeKey).join('.');
}

/**
 * Every key path a values tree sets: one per scalar, list or empty map (lists are values, not paths:
 * Helm replaces a list as a whole).
 */
export function valuePaths(values: HelmValues): string[][] {
  const out: string[][] = [];
  const walk = (v: HelmValues, prefix: string[]) => {
    for (const [k, x] of Object.entries(v)) {
      const p = [...prefix, k];
      if (isTable(x) && Object.keys(x).length > 0) walk(x, p);
      else out.push(p);
    }
  };
  walk(values, []);
  return out;
}
