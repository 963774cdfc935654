/**
 * The journal: per-node state in $SNAP_DATA/var/mk8s-addons/journal.json, human-readable JSON. It records
 * each enabled addon's version, arguments and applied steps with their undo records, the operation in
 * progress (written ahead of each mutation, so a killed run is rolled back or finished by the next), and a
 * snapshot of every node file mk8s-addons changed, as it was before its first change (for reset).
 */
import path from 'node:path';
import { STEP_KINDS, type StepKind } from '../catalogue.js';
import type { FileState } from '../adapters/fs.js';
import { assertTrusted, listDir, pathInfo, readText, removeFile, writeAtomic } from '../adapters/fs.js';
import type { UndoRecord } from './step.js';
import { PreconditionError } from '../errors.js';

export const JOURNAL_FORMAT = 1;

export interface JournalStep {
  phase: string;
  kind: StepKind;
  addon: string;
  record: UndoRecord;
}

export interface OperationStep extends JournalStep {
  /** `applying`: journaled, mutation may or may not have happened; `applied`: done. */
  state: 'applying' | 'applied';
}

export interface EnabledAddon {
  version: string | null;
  requested: string | null;
  args: Record<string, string | boolean>;
  options: Record<string, string | boolean | string[]>;
  enabledAt: string;
  updatedAt: string;
  /** Applied steps in apply order; for a step applied again (upgrade), the oldest record is kept. */
  steps: JournalStep[];
  /** Earlier versions, newest last (upgrades). */
  history?: { version: string | null; at: string }[];
}

export interface Operation {
  /** `enable`: rolled back if interrupted; `disable` and `reset` (its file restores): finished if interrupted. */
  type: 'enable' | 'disable' | 'reset';
  pid: number;
  command: string;
  startedAt: string;
  /** enable: steps applied so far in this run; disable, reset: steps still to undo (in undo order). */
  steps: OperationStep[];
  /** disable: the addons being disabled. */
  addons?: string[];
  /**
   * Daemons that steps already undone by this operation asked to restart, not restarted yet: a run killed
   * between an undo and the restarts leaves them here, and the run that finishes the operation restarts them.
   */
  restarts?: string[];
}

export interface Journal {
  format: number;
  addons: Record<string, EnabledAddon>;
  operation: Operation | null;
  /** Node files (relative to $SNAP_DATA) as they were before mk8s-addons first changed them. */
  snapshot: Record<string, FileState>;
}

export const emptyJournal = (): Journal => ({ format: JOURNAL_FORMAT, addons: {}, operation: null, snapshot: {} });

export const journalPath = (snapData: string): string => path.join(snapData, 'var', 'mk8s-addons', 'journal.json');

export async function loadJournal(snapData: string): Promise<Journal> {
  const file = journalPath(snapData);
  const restore = `restore it from ${file}.bak or remove it if the node has no addons from mk8s-addons`;
  const info = await pathInfo(file);
  if (info === undefined) return emptyJournal();
  if (info.type !== 'file') throw new PreconditionError(`the journal ${file} is not a regular file (it is a ${info.type}); ${restore}`);
  // Root writes back what the journal says: someone else must not be able to change it.
  await assertTrusted(file, 'the journal');
  const text = (await readText(file)) ?? '';
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new PreconditionError(`the journal ${file} is not valid JSON (${(err as Error).message}); ${restore}`);
  }
  if (isObject(data) && data.format !== JOURNAL_FORMAT && typeof data.format === 'number') {
    throw new PreconditionError(`the journal ${file} has format ${data.format}, this mk8s-addons reads format ${JOURNAL_FORMAT}; use the mk8s-addons version that wrote it`);
  }
  const problem = journalProblem(data);
  if (problem) throw new PreconditionError(`the journal ${file} is damaged: ${problem}; ${restore}`);
  return data as Journal;
}

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: Json): v is string => typeof v === 'string';
const describe = (v: Json) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : typeof v);

const fileStateOk = (st: Json): boolean =>
  isObject(st) && (st.exists === false || (st.exists === true && isString(st.content) && typeof st.mode === 'number' && typeof st.uid === 'number' && typeof st.gid === 'number'));

/** What an undo record of each kind must hold for its undo to run (`string?`: a string or null). */
const RECORD_FIELDS: Record<StepKind, (r: Record<string, Json>) => string | undefined> = {
  file: (r) => need(r, { path: 'string', previous: 'object' }) ?? (fileStateOk(r.previous) ? undefined : 'previous is not a file state'),
  'args-flag': (r) => need(r, { file: 'string', flag: 'string', previousLine: 'string?' }),
  lock: (r) => need(r, { path: 'string' }),
  rename: (r) => need(r, { renames: 'list' }) ?? ((r.renames as Json[]).every((x) => Array.isArray(x) && x.length === 2 && x.every(isString)) ? undefined : 'renames must be [from, to] pairs'),
  service: (r) => (r.restart === true ? undefined : need(r, { daemon: 'string' })),
  process: (r) => (r.undo === null || (Array.isArray(r.undo) && isString(r.undo[0]) && Array.isArray(r.undo[1]) && r.undo[1].every(isString)) ? undefined : 'undo must be null or a [file, args] command'),
  link: (r) => need(r, { deleted: 'list' }),
  'kube-apply': (r) => ('recreate' in r ? need(r, { recreate: 'list' }) : need(r, { objects: 'list' })),
  'kube-configmap': (r) => need(r, { name: 'string', namespace: 'string', ...(r.existed ? { key: 'string' } : {}) }),
  'kube-wait': () => undefined,
  'kube-restart-pods': () => undefined,
  'helm-release': (r) => need(r, { helm: 'string', release: 'string', namespace: 'string' }) ?? (r.leftovers === undefined || (isObject(r.leftovers) && isObject(r.leftovers.spec) && Array.isArray(r.leftovers.existed)) ? undefined : 'leftovers must hold spec and existed'),
  'pod-file': (r) => need(r, { path: 'string', previous: 'object' }) ?? (fileStateOk(r.previous) ? undefined : 'previous is not a file state'),
  'node-fanout': (r) => need(r, { addon: 'string', nodes: 'list', fresh: 'list' }) ?? (r.hooked === undefined || Array.isArray(r.hooked) ? undefined : 'hooked is not a list') ?? fanOutArgsProblem(r.args),
};

/** A fan-out record's `args`: per node, the args changes configure made (src/cluster/fan-out.ts). */
function fanOutArgsProblem(args: Json): string | undefined {
  if (args === undefined) return undefined;
  if (!isObject(args)) return 'args is not an object';
  for (const [node, list] of Object.entries(args)) {
    const ok = Array.isArray(list) && list.every((c) => isObject(c) && isString(c.service) && isString(c.flag) && isString(c.daemon) && (c.from === null || isString(c.from)) && (c.to === null || isString(c.to)));
    if (!ok) return `args.${node} is not a list of {service, flag, from, to, daemon}`;
  }
  return undefined;
}

function need(r: Record<string, Json>, fields: Record<string, 'string' | 'string?' | 'object' | 'list'>): string | undefined {
  for (const [k, t] of Object.entries(fields)) {
    const v = r[k];
    const ok = t === 'string' ? isString(v) : t === 'string?' ? v === null || isString(v) : t === 'object' ? isObject(v) : Array.isArray(v);
    if (!ok) return `${k} is ${v === undefined ? 'missing' : describe(v)}, not ${t === 'list' ? 'a list' : t === 'object' ? 'an object' : t === 'string?' ? 'a string or null' : 'a string'}`;
  }
  return undefined;
}

function stepProblem(s: Json, at: string, operation: boolean): string | undefined {
  if (!isObject(s)) return `${at} is ${describe(s)}, not a step`;
  if (!isString(s.phase) || s.phase === '') return `${at}.phase is not a phase name`;
  if (!isString(s.kind) || !(STEP_KINDS as readonly string[]).includes(s.kind)) return `${at}.kind ${JSON.stringify(s.kind)} is not a step kind (${STEP_KINDS.join(', ')})`;
  if (!isString(s.addon)) return `${at}.addon is not an addon name`;
  if (!isObject(s.record)) return `${at}.record is ${describe(s.record)}, not an undo record`;
  const bad = RECORD_FIELDS[s.kind as StepKind](s.record);
  if (bad) return `${at}.record (${s.kind}): ${bad}`;
  if (operation && s.state !== 'applying' && s.state !== 'applied') return `${at}.state is ${JSON.stringify(s.state)}, not "applying" or "applied"`;
  return undefined;
}

function stepsProblem(steps: Json, at: string, operation: boolean): string | undefined {
  if (!Array.isArray(steps)) return `${at} is ${steps === undefined ? 'missing' : describe(steps)}, not a list of steps`;
  for (const [i, s] of steps.entries()) {
    const p = stepProblem(s, `${at}[${i}]`, operation);
    if (p) return p;
  }
  return undefined;
}

/** Why `data` is not a journal of this format (the path of the first bad field), or undefined. */
export function journalProblem(data: Json): string | undefined {
  if (!isObject(data)) return `it holds ${describe(data)}, not a journal object`;
  if (data.format !== JOURNAL_FORMAT) return `format is ${data.format === undefined ? 'missing' : describe(data.format)}, not ${JOURNAL_FORMAT}`;
  if (!isObject(data.addons)) return `addons is ${data.addons === undefined ? 'missing' : describe(data.addons)}, not an object`;
  for (const [name, a] of Object.entries(data.addons)) {
    const at = `addons.${name}`;
    if (!isObject(a)) return `${at} is ${describe(a)}, not an addon record`;
    for (const k of ['version', 'requested'] as const) if (a[k] !== null && !isString(a[k])) return `${at}.${k} is ${describe(a[k])}, not a string or null`;
    for (const k of ['args', 'options'] as const) if (!isObject(a[k])) return `${at}.${k} is ${a[k] === undefined ? 'missing' : describe(a[k])}, not an object`;
    const p = stepsProblem(a.steps, `${at}.steps`, false);
    if (p) return p;
    if (a.history !== undefined && !Array.isArray(a.history)) return `${at}.history is ${describe(a.history)}, not a list`;
  }
  const op = data.operation;
  if (op !== null) {
    if (!isObject(op)) return `operation is ${op === undefined ? 'missing' : describe(op)}, not an operation or null`;
    if (op.type !== 'enable' && op.type !== 'disable' && op.type !== 'reset') return `operation.type is ${JSON.stringify(op.type)}, not "enable", "disable" or "reset"`;
    if (typeof op.pid !== 'number' || !isString(op.command) || !isString(op.startedAt)) return 'operation needs pid, command and startedAt';
    const p = stepsProblem(op.steps, 'operation.steps', true);
    if (p) return p;
    if (op.addons !== undefined && !(Array.isArray(op.addons) && op.addons.every(isString))) return 'operation.addons is not a list of addon names';
    if (op.restarts !== undefined && !(Array.isArray(op.restarts) && op.restarts.every(isString))) return 'operation.restarts is not a list of daemon names';
  }
  if (!isObject(data.snapshot)) return `snapshot is ${data.snapshot === undefined ? 'missing' : describe(data.snapshot)}, not an object`;
  for (const [rel, st] of Object.entries(data.snapshot)) {
    if (!fileStateOk(st)) return `snapshot["${rel}"] is not a file state`;
  }
  return undefined;
}

/** Writes the journal atomically (the previous one is kept as journal.json.bak). */
export async function saveJournal(snapData: string, journal: Journal): Promise<void> {
  const file = journalPath(snapData);
  const previous = await readText(file);
  if (previous !== undefined) await writeAtomic(`${file}.bak`, previous, { mode: 0o600 });
  await writeAtomic(file, `${JSON.stringify(journal, null, 2)}\n`, { mode: 0o600 });
  await syncEnabledMarkers(snapData, journal);
}

/**
 * `$SNAP_DATA/var/mk8s-addons/enabled/<name>`: one file per addon the journal has enabled (holding its
 * version), none for the others. MicroK8s's `microk8s status` reads them: they are the `check_status` of the
 * addons repository `microk8s-repo install` writes, so it and `mk8s-addons status` read the same state.
 */
export const enabledMarkerDir = (snapData: string): string => path.join(snapData, 'var', 'mk8s-addons', 'enabled');

/** Makes the enabled/ markers match the journal's addons (written after every journal save). */
export async function syncEnabledMarkers(snapData: string, journal: Journal): Promise<void> {
  const dir = enabledMarkerDir(snapData);
  for (const [name, addon] of Object.entries(journal.addons)) {
    const content = `${addon.version ?? ''}\n`;
    if ((await readText(path.join(dir, name))) !== content) await writeAtomic(path.join(dir, name), content, { mode: 0o644 });
  }
  for (const name of await listDir(dir)) if (!(name in journal.addons)) await removeFile(path.join(dir, name));
}

/**
 * Merges newly applied steps into an addon's record: the oldest record of each phase wins, except a
 * fan-out step's, whose nodes add up (a node converged later, after `--node` or joining the cluster, is
 * one that disable must undo too), and whose args changes add up per node, the oldest previous value of
 * each flag winning (a node repaired after a hand edit goes back, on disable, to what it had before
 * the first enable).
 */
export function mergeSteps(existing: readonly JournalStep[], added: readonly JournalStep[]): JournalStep[] {
  const out = [...existing];
  for (const s of added) {
    const i = out.findIndex((e) => e.phase === s.phase);
    const old = out[i];
    if (!old) out.push(s);
    else if (s.kind === 'node-fanout' && old.kind === 'node-fanout') {
      const hooked = old.record.hooked === undefined || s.record.hooked === undefined ? {} : { hooked: union(old.record.hooked, s.record.hooked) };
      const args = old.record.args === undefined && s.record.args === undefined ? {} : { args: mergeArgs(old.record.args, s.record.args) };
      out[i] = { ...old, record: { ...old.record, nodes: union(old.record.nodes, s.record.nodes), fresh: union(old.record.fresh, s.record.fresh), ...hooked, ...args } };
    }
  }
  return out;
}

const union = (a: unknown, b: unknown): string[] => [...new Set([...(a as string[]), ...(b as string[])])];

type ArgsByNode = Record<string, { service: string; flag: string }[]>;

function mergeArgs(a: unknown, b: unknown): ArgsByNode {
  const out: ArgsByNode = { ...((a ?? {}) as ArgsByNode) };
  for (const [node, list] of Object.entries((b ?? {}) as ArgsByNode)) {
    const have = out[node] ?? [];
    out[node] = [...have, ...list.filter((c) => !have.some((h) => h.service === c.service && h.flag === c.flag))];
  }
  return out;
}
