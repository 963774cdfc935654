/**
 * The node's file system: the only module of the engine that touches files. Writes are atomic (temp file
 * in the same folder, fsync, rename, fsync of the folder) and keep the file's mode and owner.
 */
import { promises as fsp, constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PreconditionError, UsageError } from '../errors.js';

/**
 * What a path holds, enough to put it back exactly. For an absent file, `missingParents` counts its folders
 * that were absent too (innermost first: 1 = its own folder): writing the file creates them, and putting
 * the absence back removes them again (when empty), so the tree is as it was, folders included.
 */
export type FileState =
  | { exists: false; missingParents?: number }
  | { exists: true; content: string; mode: number; uid: number; gid: number };

/** Reads a text file, or undefined when it does not exist. */
export async function readText(file: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const formatBytes = (n: number) => (n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MiB` : `${n} bytes`);

/**
 * Reads a file the user named (a values file, an apply file): only a regular file (a symlink to one is
 * followed), at most `maxBytes`; undefined when it does not exist. Anything else is a UsageError naming
 * the file as `label` (e.g. `-f my-values.yaml`) and never its content. A FIFO or device is opened
 * without blocking and refused, so it can neither hang the run nor feed it endless data.
 */
export async function readInputFile(file: string, label: string, maxBytes: number): Promise<string | undefined> {
  if (file === '') throw new UsageError(`${label}: the file name is empty; give the path of a YAML file`);
  let handle: FileHandle;
  try {
    handle = await fsp.open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new UsageError(`${label}: cannot read it (${code ?? (err as Error).message}); give a readable YAML file`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      const what = st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a named pipe' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : st.isSocket() ? 'a socket' : 'not a regular file';
      throw new UsageError(`${label}: it is ${what}, not a regular file; give the path of a YAML file`);
    }
    if (st.size > maxBytes) throw new UsageError(`${label}: it is ${st.size} bytes, over the limit of ${formatBytes(maxBytes)}; give a smaller file`);
    const buf = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new UsageError(`${label}: it grew over the limit of ${formatBytes(maxBytes)} while being read; give a smaller file`);
    }
    return buf.subarray(0, length).toString('utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${label}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a readable YAML file`);
  } finally {
    await handle.close();
  }
}

export async function fileState(file: string): Promise<FileState> {
  try {
    const [content, st] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    return { exists: true, content, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let missingParents = 0;
  for (let dir = path.dirname(file); dir !== path.dirname(dir) && !(await exists(dir)); dir = path.dirname(dir)) missingParents++;
  return missingParents > 0 ? { exists: false, missingParents } : { exists: false };
}

/** What a path is (not following a symlink), with its mode and owner; undefined when it does not exist. */
export async function pathInfo(file: string): Promise<{ type: 'file' | 'folder' | 'symlink' | 'other'; mode: number; uid: number; size: number } | undefined> {
  try {
    const st = await fsp.lstat(file);
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'folder' : st.isSymbolicLink() ? 'symlink' : 'other';
    return { type, mode: st.mode & 0o7777, uid: st.uid, size: st.size };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * When we run as root, refuses (exit 3) a file that root would trust — a journal whose undo records it
 * writes back, a binary it runs — if someone else could have changed it: owned by another user, or
 * group- or world-writable, it or its folder.
 */
export async function assertTrusted(file: string, what: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  for (const [p, label] of [[file, what], [path.dirname(file), `the folder of ${what}`]] as const) {
    const info = await pathInfo(p);
    if (!info) continue;
    if (info.uid !== 0) throw new PreconditionError(`${label}, ${p}, is owned by uid ${info.uid}, not root, so root cannot trust it; check it, then "chown root: ${p}"`);
    if ((info.mode & 0o022) !== 0) {
      throw new PreconditionError(`${label}, ${p}, is writable by others (mode ${info.mode.toString(8).padStart(4, '0')}), so root cannot trust it; check it, then "chmod go-w ${p}"`);
    }
  }
}

export async function exists(file: string): Promise<boolean> {
  try {
    await fsp.lstat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fsp.open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A failed change of a node file as a condition of the node, not a bug: what happened and what to do
 * (a PreconditionError, exit 3; the engine names the phase and rolls back). Other errors pass as they are.
 */
export function nodeFileError(err: unknown, action: string, file: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const todo: Record<string, string> = {
    ENOSPC: `no space is left on the device: free some space on the file system of ${path.dirname(file)} (df -h ${path.dirname(file)}) and run again`,
    EDQUOT: `the disk quota is used up: free some space on the file system of ${path.dirname(file)} and run again`,
    EROFS: `the file system is read-only: remount ${path.dirname(file)} read-write and run again`,
    EACCES: 'permission denied: run mk8s-addons as root (sudo)',
    EPERM: `the operation is not permitted: run mk8s-addons as root (sudo), and check that the file is not immutable (lsattr ${file}; chattr -i removes the flag)`,
    ENOTDIR: `a path component is not a folder: check ${path.dirname(file)}`,
    EISDIR: `it is a folder: check ${file}`,
    ELOOP: `it is a symbolic link, which mk8s-addons does not follow: check ${file} and remove the link`,
  };
  if (code === undefined || !(code in todo)) return err;
  return new PreconditionError(`cannot ${action} ${file} (${code}): ${todo[code]}`, { cause: err });
}

async function asCondition<T>(action: string, file: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw nodeFileError(err, action, file);
  }
}

/** Folders mk8s-addons creates: 0755 whatever the umask (never group- or world-writable). */
const FOLDER_MODE = 0o755;

/**
 * Writes `content` atomically. An existing file keeps its mode and owner; a new one gets `mode`
 * (default 0644, whatever the umask). The temp file is removed on every path that fails.
 */
export async function writeAtomic(file: string, content: string | Buffer, opts: { mode?: number; uid?: number; gid?: number } = {}): Promise<void> {
  const dir = path.dirname(file);
  await makeDir(dir);
  let mode = opts.mode ?? 0o644;
  let owner: { uid: number; gid: number } | undefined = opts.uid !== undefined && opts.gid !== undefined ? { uid: opts.uid, gid: opts.gid } : undefined;
  try {
    const st = await fsp.stat(file);
    if (opts.mode === undefined) mode = st.mode & 0o7777;
    owner ??= { uid: st.uid, gid: st.gid };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw nodeFileError(err, 'write', file);
  }
  const tmp = path.join(dir, `.${path.basename(file)}.mk8s-addons-${process.pid}.tmp`);
  await asCondition('write', file, async () => {
    const handle = await fsp.open(tmp, 'w', mode);
    try {
      try {
        await handle.writeFile(content);
        await handle.chmod(mode);
        if (owner && process.getuid?.() === 0) await handle.chown(owner.uid, owner.gid);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw err;
    }
    await fsyncDir(dir);
  });
}

/**
 * Writes a file back for an undo: atomically when it can; when the disk is full (the atomic write needs
 * room for a second copy), in place over the existing file, whose blocks it reuses. A rollback on a full
 * disk then still puts the node back.
 */
export async function rewriteForUndo(file: string, content: string, opts: { mode?: number; uid?: number; gid?: number } = {}): Promise<void> {
  try {
    await writeAtomic(file, content, opts);
  } catch (err) {
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if ((code !== 'ENOSPC' && code !== 'EDQUOT') || !(await exists(file))) throw err;
    await asCondition('write', file, async () => {
      const handle = await fsp.open(file, constants.O_WRONLY);
      try {
        await handle.write(content, 0, 'utf8');
        await handle.truncate(Buffer.byteLength(content));
        if (opts.mode !== undefined) await handle.chmod(opts.mode);
        if (opts.uid !== undefined && opts.gid !== undefined && process.getuid?.() === 0) await handle.chown(opts.uid, opts.gid);
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
  }
}

/** Whether a path is already in a recorded state (content, mode and owner), so putting it back changes nothing. */
export async function inState(file: string, state: FileState): Promise<boolean> {
  const now = await fileState(file);
  if (!state.exists || !now.exists) return state.exists === now.exists;
  return now.content === state.content && now.mode === state.mode && now.uid === state.uid && now.gid === state.gid;
}

/**
 * Puts a path back to a recorded state: rewrites it exactly, or removes it (nothing when it is already so),
 * and then the folders that were absent with it, as long as they are empty (something else may have put
 * files there since).
 */
export async function restoreState(file: string, state: FileState): Promise<void> {
  if (!(await inState(file, state))) {
    if (state.exists) await rewriteForUndo(file, state.content, { mode: state.mode, uid: state.uid, gid: state.gid });
    else await removeFile(file);
  }
  if (state.exists) return;
  let dir = path.dirname(file);
  for (let i = 0; i < (state.missingParents ?? 0); i++, dir = path.dirname(dir)) {
    try {
      await fsp.rmdir(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return;
      throw err;
    }
  }
}

export async function removeFile(file: string): Promise<void> {
  await asCondition('remove', file, () => fsp.rm(file, { force: true }));
}

export async function removeTree(dir: string): Promise<void> {
  await asCondition('remove', dir, () => fsp.rm(dir, { recursive: true, force: true }));
}

/** Renames atomically (same file system); the folder is synced. */
export async function rename(from: string, to: string): Promise<void> {
  await asCondition('rename', from, async () => {
    await fsp.rename(from, to);
    await fsyncDir(path.dirname(to));
  });
}

export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Creates a folder (and its parents) as 0755 whatever the umask. */
export async function makeDir(dir: string): Promise<void> {
  await asCondition('create the folder', dir, () => fsp.mkdir(dir, { recursive: true, mode: FOLDER_MODE }));
}

/** True when this process may write into `dir` (false when it is missing). */
export async function canWrite(dir: string): Promise<boolean> {
  try {
    await fsp.access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
