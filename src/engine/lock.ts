/**
 * One operation at a time per node: $SNAP_DATA/var/lock/mk8s-addons.lock holds the owner's pid, command
 * and a token. Taken with O_EXCL; a lock whose pid is dead is taken over (by an atomic rename, so two
 * waiters cannot both take it); a child mk8s-addons started by the holder (an addon enabling its
 * dependency through another invocation) inherits the token in MK8S_ADDONS_LOCK_TOKEN and does not wait
 * for its own parent.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { PreconditionError } from '../errors.js';

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

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(file: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as LockOwner;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // Half-written by an owner killed between create and write: treat as stale.
    return { pid: 0, command: '(unreadable lock file)', token: '', since: '' };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Takes the node lock, waiting up to `timeoutMs` for another operation; then a PreconditionError (exit 3)
 * that names the holder.
 */
export async function acquireLock(snapData: string, opts: { command: string; timeoutMs: number; env?: NodeJS.ProcessEnv; signal?: AbortSignal }): Promise<HeldLock> {
  const file = lockPath(snapData);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const inheritedToken = opts.env?.MK8S_ADDONS_LOCK_TOKEN;
  const deadline = Date.now() + opts.timeoutMs;
  const owner: LockOwner = { pid: process.pid, command: opts.command, token: randomUUID(), since: new Date().toISOString() };
  for (;;) {
    try {
      const handle = await fsp.open(file, 'wx', 0o644);
      try {
        await handle.writeFile(`${JSON.stringify(owner)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return {
        owner,
        inherited: false,
        release: async () => {
          const current = await readOwner(file);
          if (current?.token === owner.token) await fsp.rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readOwner(file);
    if (holder === undefined) continue;
    if (holder.pid === 0) {
      // Unreadable: its owner may be between create and write. Stale only once it is old.
      const age = await fsp.stat(file).then((st) => Date.now() - st.mtimeMs, () => 0);
      if (age < 2000) {
        await sleep(50);
        continue;
      }
    }
    if (inheritedToken && holder.token === inheritedToken) {
      return { owner: holder, inherited: true, release: async () => {} };
    }
    if (!alive(holder.pid)) {
      // Take over a dead owner's lock: only one waiter's rename succeeds.
      const stale = `${file}.stale-${process.pid}`;
      try {
        await fsp.rename(file, stale);
        const moved = await readOwner(stale);
        if (moved && moved.token !== holder.token && alive(moved.pid)) {
          // We moved a fresh lock taken in between: put it back (without clobbering) and wait.
          await fsp.link(stale, file).catch(() => {});
        }
        await fsp.rm(stale, { force: true });
      } catch {
        // Someone else took it over first.
      }
      continue;
    }
    if (Date.now() >= deadline || opts.signal?.aborted) {
      throw new PreconditionError(
        `another mk8s-addons operation holds the node lock: pid ${holder.pid} (${holder.command}) since ${holder.since}; wait for it to finish or give a longer --lock-timeout`,
      );
    }
    await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
  }
}
