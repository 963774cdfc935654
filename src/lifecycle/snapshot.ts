/**
 * The journal's snapshot, for `reset`: every node file mk8s-addons ever changed, as it was before the
 * first change (relative to $SNAP_DATA). Finds the files that differ from it now, says what restoring
 * each does, and names the MicroK8s daemon that reads each one (so a restored args file takes effect);
 * the engine puts them back (src/engine/engine.ts runRestore).
 */
import path from 'node:path';
import { fileState, type FileState } from '../adapters/fs.js';
import { daemonFor } from '../node/node.js';
import type { Layout } from '../planner.js';

/** A snapshot file that differs from its recorded state. */
export interface DriftedFile {
  /** Relative to $SNAP_DATA, e.g. `args/kubelet`. */
  rel: string;
  abs: string;
  /** As it was before mk8s-addons changed it. */
  before: FileState;
  now: FileState;
}

/**
 * Whether a file is as it was (`now` against `before`): the same content, mode and owner; or absent both
 * times, with no folder left that was absent before.
 */
export function sameFileState(before: FileState, now: FileState): boolean {
  const a = before;
  const b = now;
  if (!a.exists || !b.exists) return !a.exists && !b.exists && (a.missingParents ?? 0) <= (b.missingParents ?? 0);
  return a.content === b.content && a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}

/** The snapshot's files that are not as they were, in path order. */
export async function driftedFiles(snapData: string, snapshot: Readonly<Record<string, FileState>>): Promise<DriftedFile[]> {
  const out: DriftedFile[] = [];
  for (const rel of Object.keys(snapshot).sort()) {
    const abs = path.join(snapData, rel);
    const before = snapshot[rel] as FileState;
    const now = await fileState(abs);
    if (!sameFileState(before, now)) out.push({ rel, abs, before, now });
  }
  return out;
}

/** One line for the report: what restoring the file does. */
export function restoreSummary(f: DriftedFile): string {
  if (!f.before.exists && !f.now.exists) {
    // The file is gone, but folders it came with are left.
    const dirs: string[] = [];
    let dir = f.rel;
    for (let i = 0; i < (f.before.missingParents ?? 0); i++) {
      dir = path.dirname(dir);
      if (i >= (f.now.missingParents ?? 0)) dirs.push(`${dir}/`);
    }
    return `removed the folder${dirs.length === 1 ? '' : 's'} ${dirs.join(', ')} when empty (mk8s-addons created ${dirs.length === 1 ? 'it' : 'them'})`;
  }
  if (!f.before.exists) return `removed ${f.rel} (mk8s-addons created it)`;
  if (!f.now.exists) return `restored ${f.rel} (it was removed)`;
  const what = [f.now.content !== f.before.content ? 'content' : '', f.now.mode !== f.before.mode ? `mode ${f.before.mode.toString(8)}` : '', f.now.uid !== f.before.uid || f.now.gid !== f.before.gid ? 'owner' : '']
    .filter(Boolean)
    .join(', ');
  return `restored ${f.rel} (${what} as before mk8s-addons)`;
}

// Args files whose daemon must restart to read them again; other files are read when used.
const READERS: Record<string, string> = {
  'args/kube-apiserver': 'kube-apiserver',
  'args/kubelet': 'kubelet',
  'args/kube-proxy': 'kube-proxy',
  'args/kube-scheduler': 'kube-scheduler',
  'args/kube-controller-manager': 'kube-controller-manager',
  'args/kubelite': 'kubelite',
  'args/containerd': 'containerd',
  'args/containerd-env': 'containerd',
  'args/containerd-template.toml': 'containerd',
  'args/flanneld': 'flanneld',
};

/** The daemon that reads a node file (`args/kubelet` -> `kubelite` on 1.21+), if a restart is needed. */
export function daemonReading(rel: string, layout: Layout): string | undefined {
  const service = READERS[rel.split(path.sep).join('/')];
  return service ? daemonFor(service, layout) : undefined;
}
