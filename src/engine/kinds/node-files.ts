/**
 * Step kinds that change files of the node: file, args-flag, lock, rename. Each records in its undo
 * record everything needed to put the node back exactly (previous content, mode, owner, or absence).
 */
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as fs from '../../adapters/fs.js';
import { findFlag, removeFlag, setFlag } from '../../node/args-file.js';
import { nodeFiles } from '../../node/node.js';
import type { FileState } from '../../adapters/fs.js';
import type { CheckResult, Step, StepContext, UndoRecord } from '../step.js';
import type { StepKindImpl, StepSeed } from './types.js';
import { unifiedDiff } from '../../output/diff.js';
import { InternalError } from '../../errors.js';

function str(seed: StepSeed, key: string): string {
  const v = seed.params[key];
  if (typeof v !== 'string' || v === '') throw new InternalError(`step ${seed.phase}: parameter "${key}" must be a non-empty string`);
  return v;
}

// ---------------------------------------------------------------------------------------------- file

/**
 * Wanted content: given whole (`content`), as regex replacements of the current content (`replace`), or as
 * one `line` that must be in the file (appended when it is not; a missing file is created with it).
 */
function wantedContent(seed: StepSeed, current: string | undefined): string | undefined {
  if (typeof seed.params.content === 'string') return seed.params.content;
  if (typeof seed.params.line === 'string') {
    const line = seed.params.line;
    if (current === undefined) return `${line}\n`;
    if (current.split(/\r?\n/).includes(line)) return current;
    return `${current}${current === '' || current.endsWith('\n') ? '' : '\n'}${line}\n`;
  }
  const edits = seed.params.replace as { find: string; with: string }[] | undefined;
  if (!edits) throw new InternalError(`step ${seed.phase}: a file step needs "content", "line" or "replace"`);
  if (current === undefined) return undefined; // nothing to edit: the file is absent
  return edits.reduce((text, e) => text.replace(new RegExp(e.find, 'gm'), e.with), current);
}

const fileKind: StepKindImpl = {
  kind: 'file',
  create(seed): Step {
    const file = str(seed, 'path');
    const mode = typeof seed.params.mode === 'number' ? seed.params.mode : undefined;
    const remove = seed.params.remove === true;
    // Services that read this file restart when undo changes it back, as they did when apply changed it.
    const restarts = Array.isArray(seed.params.restarts) ? seed.params.restarts.map(String) : [];
    return {
      ...seed.meta,
      touches: () => [file],
      async check(): Promise<CheckResult> {
        const current = await fs.readText(file);
        if (remove) {
          return current === undefined ? { satisfied: true, summary: `${file} is absent` } : { satisfied: false, summary: `remove ${file}`, detail: unifiedDiff(file, current, '') };
        }
        const wanted = wantedContent(seed, current);
        if (wanted === undefined) return { satisfied: true, summary: `${file} does not exist: nothing to edit` };
        if (current === wanted) return { satisfied: true, summary: `${file} is up to date` };
        return { satisfied: false, summary: current === undefined ? `create ${file}` : `update ${file}`, detail: unifiedDiff(file, current ?? '', wanted) };
      },
      async prepare() {
        return { path: file, previous: await fs.fileState(file), ...(restarts.length ? { restarts } : {}) };
      },
      async apply() {
        if (remove) return fs.removeFile(file);
        const wanted = wantedContent(seed, await fs.readText(file));
        if (wanted !== undefined) await fs.writeAtomic(file, wanted, mode === undefined ? {} : { mode });
      },
      undo: (ctx, record) => fileKind.undo(ctx, record),
    };
  },
  async undo(ctx, record) {
    const file = record.path as string;
    const before = await fs.fileState(file);
    await fs.restoreState(file, record.previous as FileState);
    const after = await fs.fileState(file);
    // A mode, owner or folder put back is a change too; only a changed content is read again by services.
    if (isDeepStrictEqual(before, after)) return false;
    const content = (st: FileState) => (st.exists ? st.content : undefined);
    if (content(before) !== content(after)) for (const s of (record.restarts as string[] | undefined) ?? []) ctx.requestRestart(s, `${path.basename(file)} restored`);
    return true;
  },
};

// ----------------------------------------------------------------------------------------- args-flag

const argsFlagKind: StepKindImpl = {
  kind: 'args-flag',
  create(seed, ctx): Step {
    const service = str(seed, 'service');
    const flag = str(seed, 'flag');
    const remove = seed.params.remove === true;
    const value = seed.params.value === undefined ? null : String(seed.params.value);
    const file = nodeFiles(ctx.paths).args(service);
    const wantedLine = remove ? undefined : value === null ? flag : `${flag}=${value}`;
    return {
      ...seed.meta,
      restarts: [service],
      touches: () => [file],
      async check(): Promise<CheckResult> {
        const text = await fs.readText(file);
        if (text === undefined) return { satisfied: false, summary: `${file} is missing: it will be created with ${wantedLine ?? 'nothing'}` };
        const found = findFlag(text, flag);
        const now = found?.line.trim();
        if (now === wantedLine || (remove && found === undefined)) return { satisfied: true, summary: `${path.basename(file)}: ${wantedLine ?? `no ${flag}`} already` };
        // A bare flag (no value) is not something configure's arguments_update can write.
        const args = remove || value !== null ? { args: { service, flag, to: remove ? null : value } } : {};
        return { satisfied: false, summary: `${path.basename(file)}: ${now ?? '(absent)'} -> ${wantedLine ?? '(removed)'}`, detail: `- ${now ?? '(absent)'}\n+ ${wantedLine ?? '(removed)'}`, ...args };
      },
      async prepare() {
        const text = await fs.readText(file);
        return { file, flag, previousLine: text === undefined ? null : (findFlag(text, flag)?.line ?? null), fileExisted: text !== undefined };
      },
      async apply() {
        const text = (await fs.readText(file)) ?? '';
        await fs.writeAtomic(file, remove ? removeFlag(text, flag) : setFlag(text, flag, value));
      },
      undo: (c, r) => argsFlagKind.undo(c, r),
    };
  },
  async undo(ctx, record) {
    const file = record.file as string;
    const flag = record.flag as string;
    const previousLine = record.previousLine as string | null;
    const text = await fs.readText(file);
    if (text === undefined) return false;
    if (record.fileExisted === false && removeFlag(text, flag) === '') {
      await fs.removeFile(file);
      return true;
    }
    // The exact previous line back in its place, or the flag's absence.
    const restored = previousLine === null ? removeFlag(text, flag) : replaceFlagLine(text, flag, previousLine);
    if (restored === text) return false;
    await fs.rewriteForUndo(file, restored);
    ctx.requestRestart(path.basename(file), `${flag} restored`);
    return true;
  },
};

function replaceFlagLine(text: string, flag: string, line: string): string {
  const found = findFlag(text, flag);
  // Someone removed our line since: put the previous line back at the end.
  if (!found) return text === '' || text.endsWith('\n') ? `${text}${line}\n` : `${text}\n${line}\n`;
  const lines = text.split('\n');
  lines[found.index] = line;
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------- lock

const lockKind: StepKindImpl = {
  kind: 'lock',
  create(seed, ctx): Step {
    const name = str(seed, 'lock');
    const file = nodeFiles(ctx.paths).lock(name);
    return {
      ...seed.meta,
      touches: () => [file],
      async check() {
        return (await fs.exists(file)) ? { satisfied: true, summary: `var/lock/${name} exists` } : { satisfied: false, summary: `create var/lock/${name}` };
      },
      async prepare() {
        return { path: file, existed: await fs.exists(file) };
      },
      async apply() {
        if (!(await fs.exists(file))) await fs.writeAtomic(file, '');
      },
      undo: (c, r) => lockKind.undo(c, r),
    };
  },
  async undo(_ctx, record) {
    if (record.existed !== false || !(await fs.exists(record.path as string))) return false;
    await fs.removeFile(record.path as string);
    return true;
  },
};

// -------------------------------------------------------------------------------------------- rename

/**
 * Sets aside every file in `dir` whose name matches `match` (a regex), except `keep`, by appending
 * `suffix`; undo renames them back.
 */
const renameKind: StepKindImpl = {
  kind: 'rename',
  create(seed): Step {
    const dir = str(seed, 'dir');
    const match = new RegExp(str(seed, 'match'));
    const keep = new Set((seed.params.keep as string[] | undefined) ?? []);
    const suffix = str(seed, 'suffix');
    const targets = async () => (await fs.listDir(dir)).filter((n) => match.test(n) && !keep.has(n) && !n.endsWith(suffix));
    return {
      ...seed.meta,
      touches: async () => (await targets()).flatMap((n) => [path.join(dir, n), path.join(dir, n + suffix)]),
      async check() {
        const t = await targets();
        return t.length === 0 ? { satisfied: true, summary: `no other active config in ${dir}` } : { satisfied: false, summary: `set aside ${t.join(', ')} (as *${suffix})` };
      },
      async prepare() {
        return { renames: (await targets()).map((n) => [path.join(dir, n), path.join(dir, n + suffix)]) };
      },
      async apply(_ctx, record) {
        for (const [from, to] of record.renames as [string, string][]) if (await fs.exists(from)) await fs.rename(from, to);
      },
      undo: (c, r) => renameKind.undo(c, r),
    };
  },
  async undo(_ctx, record) {
    let did = false;
    for (const [from, to] of [...(record.renames as [string, string][])].reverse()) {
      if ((await fs.exists(to)) && !(await fs.exists(from))) {
        await fs.rename(to, from);
        did = true;
      }
    }
    return did;
  },
};

export const NODE_FILE_KINDS: readonly StepKindImpl[] = [fileKind, argsFlagKind, lockKind, renameKind];

export type { StepContext, UndoRecord };
