/**
 * The journal: per-node state in $SNAP_DATA/var/mk8s-addons/journal.json, human-readable JSON. It records
 * each enabled addon's version, arguments and applied steps with their undo records, the operation in
 * progress (written ahead of each mutation, so a killed run is rolled back or finished by the next), and a
 * snapshot of every node file mk8s-addons changed, as it was before its first change (for reset).
 */
import path from 'node:path';
import type { StepKind } from '../catalogue.js';
import type { FileState } from '../adapters/fs.js';
import { listDir, readText, removeFile, writeAtomic } from '../adapters/fs.js';
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
  /** `enable`: rolled back if interrupted; `disable`: finished if interrupted. */
  type: 'enable' | 'disable';
  pid: number;
  command: string;
  startedAt: string;
  /** enable: steps applied so far in this run; disable: steps still to undo (in undo order). */
  steps: OperationStep[];
  /** disable: the addons being disabled. */
  addons?: string[];
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
  const text = await readText(file);
  if (text === undefined) return emptyJournal();
  let data: Journal;
  try {
    data = JSON.parse(text) as Journal;
  } catch (err) {
    throw new PreconditionError(`the journal ${file} is not valid JSON (${(err as Error).message}); restore it from ${file}.bak or remove it if the node has no addons from mk8s-addons`);
  }
  if (data.format !== JOURNAL_FORMAT) {
    throw new PreconditionError(`the journal ${file} has format ${data.format}, this mk8s-addons reads format ${JOURNAL_FORMAT}; use the mk8s-addons version that wrote it`);
  }
  return data;
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

/** Merges newly applied steps into an addon's record: the oldest record of each phase wins. */
export function mergeSteps(existing: readonly JournalStep[], added: readonly JournalStep[]): JournalStep[] {
  const out = [...existing];
  for (const s of added) if (!out.some((e) => e.phase === s.phase)) out.push(s);
  return out;
}
