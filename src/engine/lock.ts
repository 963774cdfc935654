/**
 * One operation at a time per node: $SNAP_DATA/var/lock/mk8s-addons.lock, a lock the kernel releases
 * when its holder dies (src/adapters/file-lock.ts), so a crashed run never leaves it taken and two
 * waiters can never both take it. While held, the file (mode 0600: it holds the token) names the owner:
 * pid, command, a token and since when. A child mk8s-addons started by the holder (an addon enabling its
 * dependency through another invocation) inherits the token in MK8S_ADDONS_LOCK_TOKEN and does not wait
 * for its own parent. The file is removed on release.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PreconditionError } from '../errors.js';
import { lockFile } from '../adapters/file-lock.js';
import { makeDir, nodeFileError, readText } from '../adapters/fs.js';

export interface LockOwner {
  pid: number;
  command: string;
  token: string;
  since: string;
}

export interface HeldLock {
  owner: LockOwner;
  /** True when the lock was inherited from a parent invocation (nothing to release). */
  inherited: boolean;
  release(): Promise<void>;
}

export const lockPath = (snapData: string): string => path.join(snapData, 'var', 'lock', 'mk8s-addons.lock');

/** The owner written in the lock file, or undefined (no file, not yet written, unreadable). */
export async function readLockOwner(snapData: string): Promise<LockOwner | undefined> {
  try {
    const data = JSON.parse((await readText(lockPath(snapData))) ?? '') as Partial<LockOwner> | null;
    if (data && typeof data.pid === 'number' && typeof data.token === 'string') {
      return { pid: data.pid, command: String(data.command ?? ''), token: data.token, since: String(data.since ?? '') };
    }
  } catch {
    // Empty (its owner has not written it yet) or damaged.
  }
  return undefined;
}

/**
 * Takes the node lock, waiting up to `timeoutMs` for another operation; then a PreconditionError (exit 3)
 * that names the holder.
 */
export async function acquireLock(snapData: string, opts: { command: string; timeoutMs: number; env?: NodeJS.ProcessEnv; signal?: AbortSignal }): Promise<HeldLock> {
  const file = lockPath(snapData);
  try {
    return await takeLock(file, snapData, opts);
  } catch (err) {
    throw nodeFileError(err, 'lock', file);
  }
}

async function takeLock(file: string, snapData: string, opts: { command: string; timeoutMs: number; env?: NodeJS.ProcessEnv; signal?: AbortSignal }): Promise<HeldLock> {
  await makeDir(path.dirname(file));
  const owner: LockOwner = { pid: process.pid, command: opts.command, token: randomUUID(), since: new Date().toISOString() };
  const inheritedToken = opts.env?.MK8S_ADDONS_LOCK_TOKEN;
  let lock = inheritedToken ? await lockFile(file, { waitMs: 0 }) : undefined;
  if (!lock && inheritedToken) {
    const holder = await readLockOwner(snapData);
    if (holder?.token === inheritedToken) return { owner: holder, inherited: true, release: async () => {} };
  }
  lock ??= await lockFile(file, { waitMs: opts.timeoutMs, ...(opts.signal ? { signal: opts.signal } : {}) });
  if (!lock) {
    const holder = await readLockOwner(snapData);
    const who = holder ? `pid ${holder.pid} (${holder.command}) since ${holder.since}` : 'a process that has not written its name yet';
    throw new PreconditionError(`another mk8s-addons operation holds the node lock: ${who}; wait for it to finish or give a longer --lock-timeout`);
  }
  const held = lock;
  try {
    await held.write(`${JSON.stringify(owner)}\n`);
  } catch (err) {
    await held.release().catch(() => {});
    throw err;
  }
  return { owner, inherited: false, release: () => held.release() };
}
