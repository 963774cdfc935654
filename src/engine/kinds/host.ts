/**
 * Step kinds that act on the host beyond files: service (start / stop, and the coalesced restarts),
 * process (a [file, args] tuple) and link (network links, e.g. flannel's vxlan).
 */
import type { Command } from '../../adapters/process.js';
import { printCommand } from '../../adapters/process.js';
import { exists } from '../../adapters/fs.js';
import { daemonFor } from '../../node/node.js';
import { InternalError, StepError } from '../../errors.js';
import type { Step, StepContext, UndoRecord } from '../step.js';
import type { StepKindImpl, StepSeed } from './types.js';

const param = (seed: StepSeed, key: string): string => {
  const v = seed.params[key];
  if (typeof v !== 'string' || v === '') throw new InternalError(`step ${seed.phase}: parameter "${key}" must be a non-empty string`);
  return v;
};

// ------------------------------------------------------------------------------------------- service

/**
 * `action: start|stop` changes a service's state (undo puts the previous state back);
 * `action: restart` performs the restarts that earlier steps asked for, once per service, and only if
 * something those services read actually changed (nothing asked: nothing restarts).
 */
const serviceKind: StepKindImpl = {
  kind: 'service',
  create(seed, kctx): Step {
    const action = param(seed, 'action');
    if (action === 'restart') {
      return {
        ...seed.meta,
        checksEarlierSteps: true,
        async check(ctx) {
          const pending = ctx.pendingRestarts();
          return pending.length === 0 ? { satisfied: true, summary: 'no service needs a restart' } : { satisfied: false, summary: `restart ${pending.join(', ')}`, detail: pending.map((d) => ctx.services.describe('restart', d)).join('\n') };
        },
        prepare: async () => ({ restart: true }),
        apply: (ctx) => ctx.flushRestarts(),
        // Undoing the steps that changed args asks for the restarts again.
        undo: async () => false,
      };
    }
    if (action !== 'start' && action !== 'stop') throw new InternalError(`step ${seed.phase}: action must be start, stop or restart`);
    const daemon = daemonFor(param(seed, 'service'), kctx.layout);
    const wantActive = action === 'start';
    return {
      ...seed.meta,
      async check(ctx) {
        const active = await ctx.services.isActive(daemon);
        return active === wantActive ? { satisfied: true, summary: `${daemon} is ${active ? 'running' : 'stopped'}` } : { satisfied: false, summary: ctx.services.describe(action, daemon) };
      },
      async prepare(ctx) {
        return { daemon, wasActive: await ctx.services.isActive(daemon) };
      },
      async apply(ctx) {
        await ctx.services.act(action, daemon, { signal: ctx.signal, env: ctx.env });
        ctx.countService(action, daemon);
      },
      undo: (c, r) => serviceKind.undo(c, r),
    };
  },
  async undo(ctx, record) {
    const daemon = record.daemon as string;
    if (record.restart === true) return false;
    const active = await ctx.services.isActive(daemon);
    if (active !== record.wasActive) {
      const action = record.wasActive ? 'start' : 'stop';
      await ctx.services.act(action, daemon, { signal: ctx.signal, env: ctx.env });
      ctx.countService(action, daemon);
    }
  },
};

// ------------------------------------------------------------------------------------------- process

function commandParam(seed: StepSeed, key: string): Command | undefined {
  const v = seed.params[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || typeof v[0] !== 'string' || !Array.isArray(v[1]) || !v[1].every((a) => typeof a === 'string')) {
    throw new InternalError(`step ${seed.phase}: parameter "${key}" must be a [file, [args...]] tuple`);
  }
  return [v[0], v[1] as string[]];
}

/** Runs `command`; `creates` (a path) makes it idempotent; `undo` is the command that reverses it. */
const processKind: StepKindImpl = {
  kind: 'process',
  create(seed): Step {
    const command = commandParam(seed, 'command') as Command;
    if (!command) throw new InternalError(`step ${seed.phase}: a process step needs "command"`);
    const undoCommand = commandParam(seed, 'undo');
    const creates = typeof seed.params.creates === 'string' ? seed.params.creates : undefined;
    return {
      ...seed.meta,
      async check() {
        if (creates && (await exists(creates))) return { satisfied: true, summary: `${creates} exists` };
        return { satisfied: false, summary: `run ${printCommand(command)}`, commands: [command] };
      },
      prepare: async () => ({ undo: undoCommand ?? null }),
      async apply(ctx) {
        const r = await ctx.run(command, { signal: ctx.signal, env: ctx.env, phase: seed.phase });
        if (r.exitCode !== 0) throw new StepError(`${printCommand(command)} exited with ${r.exitCode}: ${r.stderr.trim()}`, { phase: seed.phase });
      },
      undo: (c, r) => processKind.undo(c, r),
    };
  },
  async undo(ctx, record) {
    const cmd = record.undo as Command | null;
    if (!cmd) return false;
    const r = await ctx.run(cmd, { signal: ctx.signal, env: ctx.env });
    if (r.exitCode !== 0) throw new StepError(`${printCommand(cmd)} exited with ${r.exitCode}: ${r.stderr.trim()}`);
  },
};

// ---------------------------------------------------------------------------------------------- link

const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`);

/**
 * Deletes links of a type whose names match (`names`, globs). Nothing to undo: flanneld recreates
 * flannel.1 when it starts again and the Cilium agent its cilium_vxlan.
 */
const linkKind: StepKindImpl = {
  kind: 'link',
  create(seed): Step {
    const type = param(seed, 'type');
    const patterns = ((seed.params.names as string[] | undefined) ?? []).map(glob);
    const matching = async (ctx: StepContext): Promise<string[]> => {
      const r = await ctx.run(ctx.ipCommand(['-j', 'link', 'show', 'type', type]), { signal: ctx.signal });
      if (r.exitCode !== 0) throw new StepError(`cannot list ${type} links: ${r.stderr.trim()}`, { phase: seed.phase });
      const links = JSON.parse(r.stdout || '[]') as { ifname: string }[];
      return links.map((l) => l.ifname).filter((n) => patterns.some((p) => p.test(n)));
    };
    return {
      ...seed.meta,
      async check(ctx) {
        const found = await matching(ctx);
        if (found.length === 0) return { satisfied: true, summary: `no ${type} link to delete` };
        const commands = found.map((n) => ctx.ipCommand(['link', 'delete', n]));
        return { satisfied: false, summary: `delete ${type} links ${found.join(', ')}`, detail: commands.map((c) => printCommand(c)).join('\n'), commands };
      },
      async prepare(ctx) {
        return { deleted: await matching(ctx) };
      },
      async apply(ctx, record) {
        for (const name of record.deleted as string[]) {
          const r = await ctx.run(ctx.ipCommand(['link', 'delete', name]), { signal: ctx.signal });
          if (r.exitCode !== 0 && !/Cannot find device/.test(r.stderr)) throw new StepError(`cannot delete link ${name}: ${r.stderr.trim()}`, { phase: seed.phase });
        }
      },
      undo: async () => false,
    };
  },
  undo: async (_ctx: StepContext, _record: UndoRecord) => false,
};

export const HOST_KINDS: readonly StepKindImpl[] = [serviceKind, processKind, linkKind];
