/**
 * The parameters each step kind reads, as valibot schemas: the catalogue checks every manifest step's
 * `params` against its kind's schema when it loads (src/catalogue-schema.ts), so a typo in a manifest is
 * an error of `list` naming the file, the step and the field, not an internal error half-way through an
 * enable. A `${...}` placeholder may stand for any value (its value is known only when the addon is
 * prepared); strings may contain placeholders. Loaded only when a manifest is validated.
 *
 * `satisfies KindTable<...>` makes a kind of STEP_KINDS without a schema a type error.
 */
import * as v from 'valibot';
import type { KindTable } from '../../catalogue.js';

const WHOLE_PLACEHOLDER = /^\$\{[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_-]+)?\}$/;

/** A value, or a string that is exactly one placeholder (`"${vars.objects}"`) standing for it. */
function or$<S extends v.GenericSchema>(schema: S) {
  return v.lazy((input) => (typeof input === 'string' && WHOLE_PLACEHOLDER.test(input) ? v.string() : schema));
}

const OR = 'or a placeholder such as ${vars.NAME}';

const text = v.pipe(v.string(), v.minLength(1, 'must be a non-empty string'));
const texts = or$(v.array(v.string(), `must be a list of strings ${OR}`));
const bool = or$(v.boolean(`must be true or false ${OR}`));
const command = or$(v.tuple([text, v.array(v.string(), 'must be a list of arguments')], `must be a [file, [args...]] tuple ${OR}`));
const podSelector = v.strictObject({ namespace: text, selector: text });
/** Any step may name the services that read what it changes (src/engine/build.ts). */
const restarts = v.optional(texts);
const object = v.record(v.string(), v.unknown(), 'must be a mapping');

const file = v.pipe(
  v.strictObject({
    path: text,
    content: v.optional(v.string()),
    line: v.optional(v.string()),
    replace: v.optional(or$(v.array(v.strictObject({ find: v.string(), with: v.string() }), `must be a list of {find, with} ${OR}`))),
    mode: v.optional(or$(v.number(`must be a file mode such as 0o755 ${OR}`))),
    remove: v.optional(bool),
    restarts,
  }),
  v.check((p) => [p.content, p.line, p.replace, p.remove].filter((x) => x !== undefined).length === 1, 'needs exactly one of content, line, replace or remove'),
);

export const KIND_PARAMS = {
  file,
  'args-flag': v.strictObject({
    service: text,
    flag: v.pipe(v.string(), v.regex(/^(--[A-Za-z0-9-]+|\$\{.+\})$/, 'must look like --flag-name')),
    value: v.optional(v.union([v.string(), v.number(), v.boolean()], 'must be a string, number or boolean')),
    remove: v.optional(bool),
    restarts,
  }),
  lock: v.strictObject({ lock: text, restarts }),
  rename: v.strictObject({ dir: text, match: text, keep: v.optional(texts), suffix: text, restarts }),
  service: v.pipe(
    v.strictObject({ action: v.picklist(['start', 'stop', 'restart']), service: v.optional(text), restarts }),
    v.check((p) => p.action === 'restart' || p.service !== undefined, 'a start or stop step needs service'),
  ),
  process: v.strictObject({ command, undo: v.optional(command), creates: v.optional(text), restarts }),
  link: v.strictObject({ type: text, names: texts, restarts }),
  'kube-apply': v.strictObject({
    objects: or$(v.array(object, `must be a list of Kubernetes objects ${OR}`)),
    mode: v.optional(v.picklist(['apply', 'delete'])),
    waitGone: v.optional(podSelector),
    restarts,
  }),
  'kube-configmap': v.strictObject({
    name: text,
    namespace: v.optional(text),
    key: text,
    edit: text,
    args: v.optional(or$(v.record(v.string(), v.unknown(), `must be a mapping ${OR}`))),
    labels: v.optional(or$(v.record(v.string(), v.string(), `must be a mapping of label values ${OR}`))),
    restarts,
  }),
  'kube-wait': v.strictObject({
    rollouts: or$(v.array(v.strictObject({ kind: v.picklist(['Deployment', 'DaemonSet']), name: text, namespace: text }), `must be a list of {kind, name, namespace} ${OR}`)),
    restarts,
  }),
  'kube-restart-pods': v.strictObject({ agent: podSelector, enabled: v.optional(bool), restarts }),
  'helm-release': v.strictObject({
    helm: text,
    release: text,
    namespace: text,
    chart: text,
    chartVersion: text,
    values: v.optional(or$(v.record(v.string(), v.unknown(), `must be a mapping of chart values ${OR}`))),
    postRenderer: v.optional(v.nullable(command)),
    skipCrds: v.optional(bool),
    waitGone: v.optional(podSelector),
    leftovers: v.optional(
      v.strictObject({ links: v.optional(texts), programs: v.optional(text), pins: v.optional(texts), paths: v.optional(texts) }),
    ),
    restarts,
  }),
  'pod-file': v.strictObject({ namespace: text, selector: text, container: text, program: text, path: text, enabled: v.optional(bool), restarts }),
} satisfies KindTable<v.GenericSchema>;
