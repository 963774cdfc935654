/**
 * A lock that the kernel releases when its holder dies: a BSD flock(2) lock on a file we keep open.
 * Node has no flock() of its own, so util-linux `flock(1)` takes it for us on our own open file
 * descriptor (passed as its fd 3) and exits; the lock belongs to the open file description, which only
 * this process holds (Node opens files close-on-exec, so no child of ours inherits it). When we close
 * the file, or die in any way, the kernel releases the lock.
 *
 * The file is removed on release, while still locked; a waiter that locked a file which was removed or
 * replaced in the meantime sees that its descriptor no longer names the path and tries again.
 * (MicroK8s's own `.microk8s-addon-lock` is a POSIX fcntl lock — Python's fcntl.lockf — which on Linux
 * neither blocks nor is blocked by flock(2) locks: this lock serializes mk8s-addons runs only.)
 */
import { spawn } from 'node:child_process';
import { promises as fsp, constants, type Stats } from 'node:fs';
import { PreconditionError } from '../errors.js';

export interface FileLock {
  /** Replaces the content of the locked file (who holds it, for waiters' messages). */
  write(text: string): Promise<void>;
  /** Removes the file and releases the lock. */
  release(): Promise<void>;
}

/** The flock(1) call on our descriptor, as a tuple (fd 3 in the child is our open lock file). */
export function flockCommand(waitMs: number): readonly [string, readonly string[]] {
  return ['flock', waitMs <= 0 ? ['--exclusive', '--nonblock', '3'] : ['--exclusive', '--wait', (waitMs / 1000).toFixed(3), '3']];
}

/** Runs flock(1) on `fd`: true when the lock was taken, false when it was held past `waitMs` or cancelled. */
function flockFd(fd: number, waitMs: number, signal?: AbortSignal): Promise<boolean> {
  const [file, args] = flockCommand(waitMs);
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return resolve(false);
    const child = spawn(file, [...args], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const onAbort = () => child.kill('SIGKILL');
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      reject(
        err.code === 'ENOENT'
          ? new PreconditionError('flock (util-linux) is not installed or not on PATH: mk8s-addons needs it to lock the node; install util-linux')
          : new PreconditionError(`cannot run flock to lock the node: ${err.message}`),
      );
    });
    child.on('close', (code, sig) => {
      signal?.removeEventListener('abort', onAbort);
      if (code === 0) resolve(true);
      else if (code === 1 || sig !== null) resolve(false);
      else reject(new PreconditionError(`flock could not lock the node (exit ${code}): ${stderr.trim().split('\n')[0] ?? ''}`));
    });
  });
}

const sameFile = (a: Stats, b: Stats | undefined) => b !== undefined && a.ino === b.ino && a.dev === b.dev;

/**
 * Locks `file` (created 0600 when absent; a symlink is refused), waiting up to `waitMs`; undefined when
 * another process holds it that long (or `signal` aborts).
 */
export async function lockFile(file: string, opts: { waitMs: number; signal?: AbortSignal }): Promise<FileLock | undefined> {
  const deadline = Date.now() + opts.waitMs;
  for (;;) {
    const handle = await fsp.open(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    let locked = false;
    try {
      // An older file (or one created under another umask) is made 0600: it holds the nesting token.
      await handle.chmod(0o600);
      locked = await flockFd(handle.fd, Math.max(0, deadline - Date.now()), opts.signal);
      if (locked && sameFile(await handle.stat(), await fsp.lstat(file).catch(() => undefined))) {
        return {
          write: async (text) => {
            await handle.truncate(0);
            await handle.write(text, 0, 'utf8');
            await handle.sync();
          },
          release: async () => {
            try {
              await fsp.rm(file, { force: true });
            } finally {
              await handle.close();
            }
          },
        };
      }
    } catch (err) {
      await handle.close();
      throw err;
    }
    // Not locked, or locked a file that its previous holder removed on release: close (which releases) and
    // try again on the file now at the path.
    await handle.close();
    if (!locked) return undefined;
  }
}
