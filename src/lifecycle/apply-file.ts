/**
 * The `apply -f FILE` file: the addons a node should have, for headless CI. Pure: text in, validated
 * entries and AddonSpec values out (the same specs the command line gives the planner, so a bad version
 * gets the CLI's message), or a UsageError that names the file, the line and the field:
 * `cluster.yaml:7: addons[1].version: must be a string such as "1.9"`.
 *
 * The valibot schema here and schemas/apply.schema.json (for editors) describe the same file; a test
 * validates the example files of test/fixtures/apply against both.
 */
import * as v from 'valibot';
import { UsageError } from '../errors.js';
import type { AddonManifest, Catalogue } from '../catalogue.js';
import type { AddonSpec } from '../grammar.js';
import { plan } from '../planner.js';
import { didYouMean } from '../text.js';
import { checkExpansion } from '../input.js';
import { YamlSyntaxError, formatPath, loadWithLines, type YamlPath } from './yaml-lines.js';

const NAME_RE = /^[a-z0-9][a-z0-9-]*$/;

/** A YAML mapping (valibot's record would take a list as a map of its indexes). */
const isMap = (x: unknown): boolean => typeof x === 'object' && x !== null && !Array.isArray(x);

const VERSION_MESSAGE = 'must be a string such as "1.9"';
const ARGS_MESSAGE = 'must be a map of argument names to values, such as { servers: "1.1.1.1" }';
const VALUES_MESSAGE = 'must be a map of chart values, such as { hubble: { enabled: true } }';

/** One addon the node should have. */
const ENTRY_MESSAGE = 'must be a map with the addon\'s name, such as { name: dns }';
const entrySchema = v.pipe(
  v.custom(isMap, ENTRY_MESSAGE),
  v.strictObject(
    {
      /** The addon's name, as `mk8s-addons list` shows it. */
      name: v.pipe(v.string('must be an addon name such as dns'), v.regex(NAME_RE, 'must be an addon name: lower-case letters, digits and dashes, such as dns')),
      /** The version argument (`cilium:v1.9` on the command line); resolved over the pinned versions. */
      version: v.optional(v.pipe(v.string(VERSION_MESSAGE), v.minLength(1, VERSION_MESSAGE))),
      /** Positional arguments, in the addon's argument order (`dns:1.1.1.1:10.152.183.10`). */
      arguments: v.optional(v.array(v.string('must be a string (quote numbers: "53")'), 'must be a list of strings such as ["1.1.1.1"]')),
      /** Arguments by name (`servers`, `dns-ip`, `domain`, `ui`...); a switch takes true or false. */
      args: v.optional(v.pipe(v.custom(isMap, ARGS_MESSAGE), v.record(v.string(), v.union([v.string(), v.boolean()], 'must be a string, or true or false for a switch'), ARGS_MESSAGE))),
      /** Chart values for an addon with --set options (cilium), given to it as --set / --set-string. */
      values: v.optional(v.pipe(v.custom(isMap, VALUES_MESSAGE), v.record(v.string(), v.unknown(), VALUES_MESSAGE))),
    },
    ENTRY_MESSAGE,
  ),
  v.forward(
    v.check((e) => e.args === undefined || e.arguments === undefined, 'give the arguments either by name (args) or in order (arguments), not both'),
    ['arguments'],
  ),
);

/** The whole file. */
const FILE_MESSAGE = 'must be a map with "addons:", the list of addons';
export const applyFileSchema = v.pipe(
  v.custom(isMap, FILE_MESSAGE),
  v.strictObject({ addons: v.array(entrySchema, 'must be a list of addons, each a map with a name, such as [{ name: dns }]') }, FILE_MESSAGE),
);

export type ApplyEntry = v.InferOutput<typeof entrySchema>;

/** A parsed apply file: its entries and where each field is, for messages. */
export interface ApplyFile {
  /** The file as named on the command line. */
  file: string;
  addons: ApplyEntry[];
  lineOf(path: YamlPath): number;
}

function issueMessage(issue: v.BaseIssue<unknown>, path: YamlPath): string {
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    return path.length <= 1 ? 'is not a known field; the file has only "addons"' : 'is not a known field; an addon has name, version, args, arguments and values';
  }
  if (issue.type === 'strict_object' && issue.input === undefined && path.length > 0) return 'is required';
  return issue.message;
}

/** Parses and validates the file's text; `file` names it in messages. */
export function parseApplyFile(text: string, file: string): ApplyFile {
  let located: ReturnType<typeof loadWithLines>;
  try {
    located = loadWithLines(text);
  } catch (err) {
    if (!(err instanceof YamlSyntaxError)) throw err;
    throw new UsageError(`${file}:${err.line}: invalid YAML: ${err.reason}`);
  }
  checkExpansion(located.data, file);
  if (located.data === undefined || located.data === null) {
    throw new UsageError(`${file}: the file is empty; list the addons under "addons:", such as addons: [{ name: dns }]`);
  }
  const result = v.safeParse(applyFileSchema, located.data);
  if (!result.success) {
    const issue = result.issues[0];
    const path = (issue.path ?? []).map((p) => p.key as string | number);
    const where = formatPath(path);
    throw new UsageError(`${file}:${located.lineOf(path)}: ${where ? `${where}: ` : ''}${issueMessage(issue, path)}`);
  }
  return { file, addons: result.output.addons, lineOf: located.lineOf };
}

// ------------------------------------------------------------------------------- entries -> specs

/** Builds the `raw` of a spec, as it would be typed: `cilium:1.9 --set hubble.enabled=true`. */
function rawOf(name: string, positional: readonly string[], flags: ReadonlyMap<string, string | true | string[]>): string {
  const words = [positional.length ? `${name}:${positional.join(':')}` : name];
  for (const [flag, value] of flags) {
    for (const one of Array.isArray(value) ? value : [value]) words.push(one === true ? flag : `${flag} ${one}`);
  }
  return words.join(' ');
}

// Helm's --set syntax: `.`, `[`, `]`, `=`, `,` and `\` are special in keys; `,` and `\` in values.
const escapeKey = (key: string) => key.replace(/[\\.[\]=,]/g, (c) => `\\${c}`);
const escapeValue = (value: string) => value.replace(/[\\,]/g, (c) => `\\${c}`);

/**
 * Chart values as --set (typed: numbers, booleans, null) and --set-string (strings stay strings)
 * assignments, one per leaf: `{ hubble: { enabled: true } }` -> `--set hubble.enabled=true`.
 */
export function valuesToAssignments(values: Record<string, unknown>, fail: (path: YamlPath, message: string) => never, at: YamlPath): { set: string[]; setString: string[] } {
  const set: string[] = [];
  const setString: string[] = [];
  const walk = (value: unknown, key: string, path: YamlPath): void => {
    if (typeof value === 'string') setString.push(`${key}=${escapeValue(value)}`);
    else if (typeof value === 'boolean' || value === null) set.push(`${key}=${String(value)}`);
    else if (typeof value === 'number') {
      if (!Number.isFinite(value)) fail(path, 'must be a finite number');
      set.push(`${key}=${String(value)}`);
    } else if (Array.isArray(value)) {
      // Helm writes an empty list as {}.
      if (value.length === 0) set.push(`${key}={}`);
      value.forEach((item, i) => walk(item, `${key}[${i}]`, [...path, i]));
    } else if (typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) fail(path, 'an empty map cannot be given as a chart value; leave it out');
      for (const [k, item] of entries) walk(item, `${key}.${escapeKey(k)}`, [...path, k]);
    } else {
      fail(path, 'must be a string, number, true, false, null, a list or a map');
    }
  };
  const top = Object.entries(values);
  if (top.length === 0) fail(at, 'is empty; leave values out, or give chart values such as { hubble: { enabled: true } }');
  for (const [k, item] of top) walk(item, escapeKey(k), [...at, k]);
  return { set, setString };
}

/** Positional arguments by the manifest's argument order; empty slots mean "the default". */
function trimEnd(slots: string[]): string[] {
  let n = slots.length;
  while (n > 0 && slots[n - 1] === '') n--;
  return slots.slice(0, n);
}

/**
 * Turns the file's entries into the AddonSpec values the command line would give: positional arguments
 * from `arguments`, or from `args` and `version` by the manifest's argument order; `values` as the
 * addon's --set / --set-string options. Each entry, then the whole list, goes through the planner, so an
 * invalid version or argument fails here with the CLI's message, pointed at its entry.
 */
export function applySpecs(f: ApplyFile, catalogue: Catalogue): AddonSpec[] {
  const fail = (path: YamlPath, message: string): never => {
    const where = formatPath(path);
    throw new UsageError(`${f.file}:${f.lineOf(path)}: ${where ? `${where}: ` : ''}${message}`);
  };
  const seen = new Map<string, number>();
  const specs = f.addons.map((entry, index): AddonSpec => {
    const at: YamlPath = ['addons', index];
    const manifest = catalogue.get(entry.name);
    if (!manifest) {
      const names = catalogue.addons.map((a) => a.name);
      const hint = didYouMean(entry.name, names);
      fail([...at, 'name'], `unknown addon "${entry.name}"${hint ? ` (did you mean "${hint}"?)` : ''}; available: ${names.join(', ')} (see "mk8s-addons list")`);
    }
    const m = manifest as AddonManifest;
    const earlier = seen.get(entry.name);
    if (earlier !== undefined) fail([...at, 'name'], `${entry.name} is listed twice (also addons[${earlier}]); list each addon once`);
    seen.set(entry.name, index);

    const declared = m.arguments;
    const slots: string[] = [...(entry.arguments ?? [])];
    const put = (i: number, value: string, path: YamlPath) => {
      while (slots.length <= i) slots.push('');
      if (slots[i] !== '' && slots[i] !== undefined) fail(path, `gives ${declared[i]?.name} a second time; give it once`);
      slots[i] = value;
    };
    for (const [name, value] of Object.entries(entry.args ?? {})) {
      const path = [...at, 'args', name];
      const i = declared.findIndex((a) => a.name === name);
      const arg = declared[i];
      if (!arg) {
        fail(path, declared.length ? `${m.name} has no argument "${name}"; its arguments: ${declared.map((a) => a.name).join(', ')}` : `${m.name} takes no arguments`);
      }
      const a = arg as (typeof declared)[number];
      if (a.type === 'switch') {
        if (typeof value !== 'boolean') fail(path, `${name} of ${m.name} is a switch: give true or false`);
        if (value) put(i, a.name, path);
      } else {
        if (typeof value !== 'string') fail(path, a.type === 'version' ? VERSION_MESSAGE : `${name} of ${m.name} takes a string, not true or false`);
        put(i, value as string, path);
      }
    }
    if (entry.version !== undefined) {
      const i = declared.findIndex((a) => a.type === 'version');
      if (i < 0) fail([...at, 'version'], `${m.name} has no versions to choose from; leave version out`);
      put(i, entry.version, [...at, 'version']);
    }

    const flags = new Map<string, string | true | string[]>();
    if (entry.values !== undefined) {
      const options = new Set(m.options.filter((o) => o.type === 'repeatable').map((o) => o.flag));
      if (!options.has('--set')) fail([...at, 'values'], `${m.name} takes no chart values (it has no --set option)`);
      const { set, setString } = valuesToAssignments(entry.values, fail, [...at, 'values']);
      // Without --set-string, strings go through --set as Helm reads them.
      if (!options.has('--set-string')) set.push(...setString.splice(0));
      if (set.length) flags.set('--set', set);
      if (setString.length) flags.set('--set-string', setString);
    }
    const positional = trimEnd(slots);
    const spec: AddonSpec = { raw: rawOf(m.name, positional, flags), name: m.name, positional, flags };
    try {
      plan({ command: 'enable', specs: [spec], catalogue });
    } catch (err) {
      if (err instanceof UsageError) fail(at, err.message);
      throw err;
    }
    return spec;
  });
  try {
    plan({ command: 'enable', specs, catalogue });
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${f.file}: ${err.message}`);
    throw err;
  }
  return specs;
}

/**
 * The spec that enables an addon again exactly as the journal records it (version, arguments and
 * options): used for installed dependencies that the file does not list, so that converging the file
 * never changes them behind the user's back.
 */
export function specFromRecord(manifest: AddonManifest, record: { version: string | null; args: Record<string, string | boolean>; options: Record<string, string | boolean | string[]> }): AddonSpec {
  const slots = manifest.arguments.map((a) => {
    if (a.type === 'version') return record.version ?? (typeof record.args[a.name] === 'string' ? (record.args[a.name] as string) : '');
    const value = record.args[a.name];
    if (a.type === 'switch') return value === true ? a.name : '';
    return typeof value === 'string' ? value : '';
  });
  const flags = new Map<string, string | true | string[]>();
  for (const [flag, value] of Object.entries(record.options)) {
    if (value === false) continue;
    flags.set(flag, Array.isArray(value) ? [...value] : value);
  }
  const positional = trimEnd(slots);
  return { raw: rawOf(manifest.name, positional, flags), name: manifest.name, positional, flags };
}
