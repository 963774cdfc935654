/**
 * Test runs keep what they start (control planes, sandboxes) under a root folder, one entry per run named
 * `<pid>-...` with an owner.json of `{pid, startTime}`. A run killed hard cannot clean up; the next run
 * finds its entries here and takes them down.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isRunning, processStartTime } from '../../src/sandbox/control-plane.js';

export interface Owner {
  pid: number;
  startTime: string;
}

/** The entries of `root` whose owning test process no longer runs. */
export function orphanedEntries(root: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  return entries
    .map((entry) => path.join(root, entry))
    .filter((dir) => {
      let owner: Owner | undefined;
      try {
        owner = JSON.parse(readFileSync(path.join(dir, 'owner.json'), 'utf8')) as Owner;
      } catch {
        // No owner.json: a start that died before writing it, or not ours; judge by the name.
        const pid = Number(path.basename(dir).split('-')[0]);
        owner = Number.isInteger(pid) && pid > 0 ? { pid, startTime: processStartTime(pid) ?? '' } : undefined;
      }
      return !(owner !== undefined && isRunning(owner));
    });
}
