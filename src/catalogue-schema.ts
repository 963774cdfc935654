/**
 * The addon manifest schema (valibot) and per-manifest checks. Loaded only when a manifest has to be
 * validated (its content changed since it was last validated), not on every start.
 */
import * as v from 'valibot';
import semverValid from 'semver/functions/valid.js';
import semverValidRange from 'semver/ranges/valid.js';
import { CatalogueError } from './errors.js';
import { STEP_KINDS } from './catalogue.js';
import { compatibilityTableSchema } from './compatibility-schema.js';
import { KIND_DEFINITIONS } from './engine/kinds/definitions.js';
import { usedPlaceholders } from './engine/placeholders.js';

const NAME_RE = /^[a-z0-9][a-z0-9-]*$/;
const VALUE_PATH_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
/** A file of the addon's own folder, named relative to it (no `..`, not absolute). */
const ADDON_FILE_RE = /^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]+$/;

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}
const FLAG_RE = /^--[a-z0-9][a-z0-9-]*$/;

const nameSchema = v.pipe(v.string(), v.regex(NAME_RE, 'must be lower-case letters, digits and dashes'));
const semverSchema = v.pipe(
  v.string(),
  v.check((s) => semverValid(s) === s, 'must be a plain semver version such as 1.8.13'),
);
const rangeSchema = v.pipe(
  v.string(),
  v.check((s) => semverValidRange(s) !== null, 'must be a semver range such as ">=1.9 <1.14"'),
);

const argumentSchema = v.strictObject({
  /** Name of the positional argument, e.g. `version`. */
  name: nameSchema,
  /** Upper-case placeholder shown in help, e.g. `VERSION`. */
  placeholder: v.pipe(v.string(), v.regex(/^[A-Z][A-Z_]*$/, 'must be upper case, e.g. VERSION')),
  /** The flag that gives the same argument in flag style, e.g. `--version`. */
  flag: v.pipe(v.string(), v.regex(FLAG_RE, 'must look like --name')),
  description: v.pipe(v.string(), v.minLength(1)),
  /**
   * `version` arguments are resolved against the addon's pinned versions; a `switch` is on when the
   * positional value is its name (`hubble:ui`) or its flag is given without a value (`--ui`).
   */
  type: v.picklist(['string', 'version', 'switch']),
  /**
   * The chart value this argument sets, as a dot path (`pool.addresses`): `name:ARG` becomes that value
   * of the release (`${values}`); a switch sets it to true.
   */
  value: v.optional(v.pipe(v.string(), v.regex(VALUE_PATH_RE, 'must be a dot path of chart value keys such as pool.addresses'))),
  /** A regular expression the whole argument must match (anchored); bad input is an exit 2. */
  pattern: v.optional(v.pipe(v.string(), v.check(compiles, 'must be a valid regular expression'))),
  /** An example the error for a bad argument shows (`10.64.140.43-10.64.140.49`). */
  example: v.optional(v.pipe(v.string(), v.minLength(1))),
});

const optionSchema = v.strictObject({
  /** A flag-only option, e.g. `--set` (never positional). */
  flag: v.pipe(v.string(), v.regex(FLAG_RE, 'must look like --name')),
  /** Optional one-letter alias, e.g. `-f`. */
  short: v.optional(v.pipe(v.string(), v.regex(/^-[a-zA-Z]$/, 'must look like -x'))),
  placeholder: v.optional(v.pipe(v.string(), v.regex(/^[A-Z][A-Z_=]*$/, 'must be upper case'))),
  description: v.pipe(v.string(), v.minLength(1)),
  /** `boolean` takes no value; `string` takes one; `repeatable` may be given many times. */
  type: v.picklist(['boolean', 'string', 'repeatable']),
});

const pinSchema = v.strictObject({
  version: semverSchema,
  sha256: v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits')),
});

const stepSchema = v.strictObject({
  /** Phase name segment: `enable/<addon>/<name>`. */
  name: nameSchema,
  kind: v.picklist(STEP_KINDS),
  description: v.pipe(v.string(), v.minLength(1)),
  /** Only for resolved versions in this semver range. */
  versions: v.optional(rangeSchema),
  /** Only on nodes of these layouts (MicroK8s eras). */
  layouts: v.optional(v.array(v.picklist(['1.20', 'kubelite']))),
  /** Data the step kind reads; its shape is checked by the step kind itself. */
  params: v.optional(v.record(v.string(), v.unknown())),
  /** A node step (files, args, services, links of this node): on a cluster it runs on every node. */
  node: v.optional(v.boolean()),
});

const manifestSchema = v.strictObject({
  name: nameSchema,
  description: v.pipe(v.string(), v.minLength(1)),
  requires: v.optional(v.array(nameSchema), []),
  conflicts: v.optional(v.array(nameSchema), []),
  arguments: v.optional(v.array(argumentSchema), []),
  options: v.optional(v.array(optionSchema), []),
  /** Pinned versions (for addons that ship a chart): every one with its sha256. */
  versions: v.optional(
    v.strictObject({
      chart: nameSchema,
      /** The Helm repository the pinned charts come from (scripts/fetch-charts.mjs downloads `<repository>/<chart>-<version>.tgz`). */
      repository: v.optional(v.pipe(v.string(), v.url('must be a URL such as https://helm.cilium.io'))),
      default: semverSchema,
      pins: v.pipe(v.array(pinSchema), v.minLength(1)),
    }),
  ),
  /** The addon's Helm release: `${release.name}`, `${release.namespace}` in step parameters. */
  release: v.optional(v.strictObject({ name: nameSchema, namespace: nameSchema })),
  /**
   * Values templates (YAML files of the addon's folder with placeholders), the first whose `versions`
   * range holds the resolved version is `${values}`, with the arguments' `value`s set on top.
   */
  values: v.optional(
    v.array(
      v.strictObject({
        versions: v.optional(rangeSchema),
        file: v.pipe(v.string(), v.regex(ADDON_FILE_RE, 'must be a file of the addon folder, such as values/0.2.yaml')),
      }),
    ),
  ),
  /** Which Kubernetes versions each minor of the addon supports (see src/compatibility.ts). */
  compatibility: v.optional(compatibilityTableSchema),
  /** Version of the software an addon without pinned charts installs (shown by `list`). */
  version: v.optional(v.string()),
  steps: v.pipe(v.array(stepSchema), v.minLength(1)),
});

export type AddonArgument = v.InferOutput<typeof argumentSchema>;
export type AddonOption = v.InferOutput<typeof optionSchema>;
export type ChartPin = v.InferOutput<typeof pinSchema>;
export type StepSpec = v.InferOutput<typeof stepSchema>;
export type AddonManifest = v.InferOutput<typeof manifestSchema>;

/** Validates one manifest's data; `file` names it in errors. */
export function parseManifest(file: string, data: unknown): AddonManifest {
  const result = v.safeParse(manifestSchema, data);
  if (!result.success) {
    const issue = result.issues[0];
    const path = v.getDotPath(issue) ?? '(top level)';
    throw new CatalogueError(`invalid addon manifest ${file}: field ${path}: ${describeIssue(issue)}`);
  }
  const m = result.output;
  const where = (field: string) => `invalid addon manifest ${file}: field ${field}`;
  const seen = new Set<string>();
  for (const [i, s] of m.steps.entries()) {
    if (seen.has(s.name)) throw new CatalogueError(`${where(`steps.${i}.name`)}: step "${s.name}" is listed twice`);
    seen.add(s.name);
  }
  for (const [i, s] of m.steps.entries()) {
    const step = `invalid addon manifest ${file}: step ${s.name}: field steps.${i}.params`;
    const params = v.safeParse(KIND_DEFINITIONS[s.kind].params, s.params ?? {});
    if (!params.success) {
      const issue = params.issues[0];
      const at = v.getDotPath(issue);
      throw new CatalogueError(`${step}${at ? `.${at}` : ''}: ${describeIssue(issue)}`);
    }
    // The chart placeholders need what they stand for in the manifest.
    const used = usedPlaceholders(s.params);
    const needs = [
      ['version', m.versions, 'versions'],
      ['chart', m.versions, 'versions'],
      ['release', m.release, 'release'],
    ] as const;
    for (const [head, has, field] of needs) if (used.has(head) && !has) throw new CatalogueError(`${step}: \${${head === 'release' ? 'release.name' : head}} needs the manifest's ${field}`);
    for (const head of used) {
      if (!['SNAP', 'SNAP_DATA', 'SNAP_COMMON', 'args', 'vars', 'version', 'chart', 'helm', 'release', 'values'].includes(head)) {
        throw new CatalogueError(`${step}: unknown placeholder \${${head}}; use SNAP, SNAP_DATA, SNAP_COMMON, args.NAME, vars.NAME, version, chart, helm, release.name, release.namespace or values`);
      }
    }
  }
  const flags = new Set<string>();
  for (const f of [...m.arguments.map((a) => a.flag), ...m.options.flatMap((o) => [o.flag, o.short ?? ''])]) {
    if (f === '') continue;
    if (flags.has(f)) throw new CatalogueError(`${where('options')}: flag ${f} is declared twice`);
    flags.add(f);
  }
  if (m.versions) {
    const pins = m.versions.pins.map((p) => p.version);
    const dup = pins.find((p, i) => pins.indexOf(p) !== i);
    if (dup) throw new CatalogueError(`${where('versions.pins')}: version ${dup} is pinned twice`);
    if (!pins.includes(m.versions.default)) {
      throw new CatalogueError(`${where('versions.default')}: ${m.versions.default} is not one of the pinned versions`);
    }
    if (!m.arguments.some((a) => a.type === 'version')) {
      throw new CatalogueError(`${where('arguments')}: an addon with pinned versions needs an argument of type version`);
    }
  }
  return m;
}

function describeIssue(issue: v.BaseIssue<unknown>): string {
  if (issue.type === 'strict_object' && issue.expected === 'never') return 'is not a known field';
  if (issue.input === undefined && issue.type !== 'check') return 'is required';
  if (issue.type === 'picklist') return `must be one of ${issue.expected?.replaceAll('"', '').replace(/^\(|\)$/g, '').split(' | ').join(', ')}; got ${issue.received}`;
  if (issue.kind === 'schema' && issue.message.startsWith('Invalid type:')) return `must be a ${issue.expected}; got ${issue.received}`;
  return issue.message;
}

