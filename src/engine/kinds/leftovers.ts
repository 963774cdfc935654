/**
 * What an agent leaves on the node after its release is gone, removed when the release is undone
 * (disable, rollback): a Cilium agent stops without taking down its datapath (on purpose: a restart must
 * not cut traffic), so after `helm uninstall` its links (cilium_*, lxc*), the programs on the node's own
 * devices, its pins in the bpffs, its run folder and its CNI plugin stay. MicroK8s's disable script removes
 * the same things (its run folder, cilium-cni, the cilium_vxlan link); Cilium's
 * `cilium-dbg post-uninstall-cleanup` does it for /sys/fs/bpf and /etc/cni only, not MicroK8s's paths.
 *
 * Data in the manifest (`leftovers` of a helm-release step); the record keeps which paths existed before
 * the release was installed, and only what did not is removed, so undo puts back the node as it was.
 */
import path from 'node:path';
import { exists, listDir, removeTree } from '../../adapters/fs.js';
import type { StepContext } from '../step.js';
import { StepError } from '../../errors.js';

export interface Leftovers {
  /** Link name globs (`*`, `?`), e.g. `cilium_*`, `lxc????????????` (not LXC's own lxcbr0). */
  links?: string[];
  /** Files and folders (absolute) the agent creates. */
  paths?: string[];
  /** Pins relative to the node's bpffs, globs on the last part: `cilium`, `tc/globals/cilium_*`. */
  pins?: string[];
  /** Name glob of tc programs to detach from the interfaces that remain, e.g. `cil_*`. */
  programs?: string;
}

/** `*` any run of characters, `?` one character. */
const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.')}$`);

/** What undo needs: the spec, which paths existed already, and the folders that did not (removed again when empty). */
export interface LeftoversRecord {
  spec: Leftovers;
  existed: string[];
  /** Folders above the paths and pins that did not exist when the release was installed, deepest first. */
  created?: string[];
}

/** The folders from `file`'s parent up that do not exist, up to (not including) `root`. */
async function missingParents(file: string, root: string): Promise<string[]> {
  const out: string[] = [];
  for (let dir = path.dirname(file); dir.startsWith(`${root}/`) && !(await exists(dir)); dir = path.dirname(dir)) out.push(dir);
  return out;
}

/** The part of the record taken when the release is installed. */
export async function leftoversRecord(spec: Leftovers, bpffs: string): Promise<LeftoversRecord> {
  const existed: string[] = [];
  const created = new Set<string>();
  for (const p of spec.paths ?? []) {
    if (await exists(p)) existed.push(p);
    else for (const d of await missingParents(p, '')) created.add(d);
  }
  for (const pin of spec.pins ?? []) for (const d of await missingParents(path.join(bpffs, pin), bpffs)) created.add(d);
  return { spec, existed, created: [...created].sort((a, b) => b.length - a.length) };
}

interface TcFilter {
  dev: string;
  hook: 'ingress' | 'egress';
  pref: string;
  handle: string;
  name: string;
}

/** `tc filter show dev X HOOK` lines with a BPF program: their pref, handle and program name. */
export function parseTcFilters(text: string, dev: string, hook: 'ingress' | 'egress'): TcFilter[] {
  const out: TcFilter[] = [];
  for (const line of text.split('\n')) {
    const m = /\bpref (\d+) bpf\b.*?\bhandle (0x[0-9a-f]+) (\S+)/.exec(line);
    if (m) out.push({ dev, hook, pref: m[1]!, handle: m[2]!, name: m[3]!.replace(/:\[.*\]$/, '') });
  }
  return out;
}

/** Removes what the record says the agent left; true when anything was removed. */
export async function removeLeftovers(ctx: StepContext, record: LeftoversRecord, phase: string): Promise<boolean> {
  const { spec, existed } = record;
  let removed = false;
  const list = await ctx.run(ctx.ipCommand(['-j', 'link', 'show']), { signal: ctx.signal });
  if (list.exitCode !== 0) throw new StepError(`cannot list the node's links: ${list.stderr.trim()}`, { phase });
  const links = (JSON.parse(list.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname);
  const doomed = links.filter((n) => (spec.links ?? []).map(glob).some((g) => g.test(n)));
  for (const name of doomed) {
    const r = await ctx.run(ctx.ipCommand(['link', 'delete', name]), { signal: ctx.signal });
    // A veth's peer goes with it.
    if (r.exitCode !== 0 && !/Cannot find device/.test(r.stderr)) throw new StepError(`cannot delete link ${name}: ${r.stderr.trim()}`, { phase });
    removed = true;
  }
  if (spec.programs) {
    const wanted = glob(spec.programs);
    for (const dev of links.filter((n) => !doomed.includes(n))) {
      for (const hook of ['ingress', 'egress'] as const) {
        const show = await ctx.run(ctx.netCommand(['tc', ['filter', 'show', 'dev', dev, hook]]), { signal: ctx.signal });
        if (show.exitCode !== 0) continue; // no clsact qdisc on this device
        for (const f of parseTcFilters(show.stdout, dev, hook).filter((x) => wanted.test(x.name))) {
          const del = await ctx.run(ctx.netCommand(['tc', ['filter', 'delete', 'dev', dev, hook, 'pref', f.pref, 'handle', f.handle, 'bpf']]), { signal: ctx.signal });
          if (del.exitCode !== 0) throw new StepError(`cannot detach ${f.name} from ${dev} ${hook}: ${del.stderr.trim()}`, { phase });
          removed = true;
        }
      }
    }
  }
  // Pins: tcx links pinned here are detached when their pin goes (no process holds them once the agent is gone).
  for (const pin of spec.pins ?? []) {
    const dir = path.join(ctx.bpffs, path.dirname(pin));
    const match = glob(path.basename(pin));
    const names = await listDir(dir);
    for (const name of names.filter((n) => match.test(n))) {
      await removeTree(path.join(dir, name));
      removed = true;
    }
  }
  for (const p of spec.paths ?? []) {
    if (existed.includes(p) || !(await exists(p))) continue;
    await removeTree(p);
    removed = true;
  }
  // Folders made for them (var/run, the bpffs's tc/globals) go when nothing else is in them.
  for (const dir of record.created ?? []) {
    if ((await exists(dir)) && (await listDir(dir)).length === 0) {
      await removeTree(dir);
      removed = true;
    }
  }
  return removed;
}
