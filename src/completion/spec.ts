/**
 * What shell completion offers, built from the same sources the parser uses: the command list and the
 * global option table (src/grammar.ts), the catalogue (addon names, their flags, pinned versions), and
 * each command's own options (the tables below mirror the parseCommandWords calls of src/commands/;
 * test/unit/completion.test.ts checks every one against the command's --help). Pure.
 */
import { COMMANDS, GLOBAL_OPTIONS } from '../grammar.js';
import type { Catalogue } from '../catalogue.js';

/** What an option's value is, for completion: a fixed list, a file, a folder, an addon name, or free text. */
export type ValueKind = { kind: 'words'; words: string[] } | { kind: 'file' } | { kind: 'dir' } | { kind: 'addon' } | { kind: 'text' } | { kind: 'none' };

export interface OptionSpec {
  flags: string[];
  value: ValueKind;
}

export interface CommandSpec {
  name: string;
  /** Words that may come first after the command (sandbox up|status|env|down). */
  subcommands: string[];
  /** Whether the positional words are addons (enable, disable). */
  addons: boolean;
  options: OptionSpec[];
}

export interface CompletionSpec {
  commands: CommandSpec[];
  globals: OptionSpec[];
  /** Options only before a command (`--version`). */
  topLevel: OptionSpec[];
  addons: { name: string; words: string[]; options: OptionSpec[] }[];
}

const words = (...w: string[]): ValueKind => ({ kind: 'words', words: w });
const FILE: ValueKind = { kind: 'file' };
const DIR: ValueKind = { kind: 'dir' };
const TEXT: ValueKind = { kind: 'text' };
const NONE: ValueKind = { kind: 'none' };

const COMMAND_OPTIONS: Record<string, { subcommands?: string[]; options?: OptionSpec[] }> = {
  status: {
    options: [
      { flags: ['--format'], value: words('pretty', 'yaml', 'json') },
      { flags: ['--wait-ready'], value: NONE },
      { flags: ['--addon', '-a'], value: { kind: 'addon' } },
      { flags: ['--datapath'], value: NONE },
    ],
  },
  enable: { options: [{ flags: ['--node'], value: TEXT }] },
  disable: { options: [{ flags: ['--node'], value: TEXT }] },
  reset: { options: [{ flags: ['--destroy-storage'], value: NONE }] },
  apply: { options: [{ flags: ['--file', '-f'], value: FILE }, { flags: ['--prune'], value: NONE }] },
  sandbox: {
    subcommands: ['up', 'status', 'env', 'down'],
    options: [{ flags: ['--dir'], value: DIR }, { flags: ['--layout'], value: words('1.20', '1.35') }, { flags: ['--nodes'], value: TEXT }, { flags: ['--kwok-nodes'], value: TEXT }, { flags: ['--agent'], value: words('auto', 'real', 'simulated') }],
  },
  datapath: { options: [{ flags: ['--netns'], value: TEXT }, { flags: ['--from'], value: FILE }, { flags: ['--cilium-version'], value: TEXT }] },
  'microk8s-repo': { subcommands: ['install', 'remove', 'status'], options: [{ flags: ['--name'], value: TEXT }] },
  nodes: { options: [{ flags: ['--node'], value: TEXT }] },
  completion: { subcommands: ['bash', 'zsh', 'fish'] },
};

/** The values completed after `NAME:` for an addon: pinned versions (and `vMAJOR.MINOR`), or switches. */
function addonWords(a: Catalogue['addons'][number]): string[] {
  const out: string[] = [];
  for (const arg of a.arguments) {
    if (arg.type === 'version' && a.versions) {
      const pins = a.versions.pins.map((p) => p.version);
      const minors = [...new Set(pins.map((v) => `v${v.split('.').slice(0, 2).join('.')}`))];
      out.push(...minors.map((m) => `${a.name}:${m}`), ...pins.map((v) => `${a.name}:${v}`));
    } else if (arg.type === 'switch') out.push(`${a.name}:${arg.name}`);
  }
  return out;
}

export function completionSpec(catalogue: Catalogue): CompletionSpec {
  const globals: OptionSpec[] = [];
  const byKey = new Map<string, OptionSpec>();
  for (const [flag, spec] of Object.entries(GLOBAL_OPTIONS)) {
    const seen = byKey.get(spec.key);
    if (seen) {
      seen.flags.push(flag);
      continue;
    }
    const value: ValueKind =
      spec.type === 'boolean' ? NONE : spec.type === 'output' ? words('pretty', 'plain', 'json') : spec.key === 'kubeconfig' ? FILE : spec.type === 'string' ? DIR : TEXT;
    const o = { flags: [flag], value };
    byKey.set(spec.key, o);
    globals.push(o);
  }
  const commands = COMMANDS.map((name) => ({
    name,
    subcommands: COMMAND_OPTIONS[name]?.subcommands ?? [],
    addons: name === 'enable' || name === 'disable',
    options: COMMAND_OPTIONS[name]?.options ?? [],
  }));
  const addons = catalogue.addons.map((a) => ({
    name: a.name,
    words: addonWords(a),
    options: [
      ...a.arguments.map((x) => ({
        flags: [x.flag],
        value: x.type === 'switch' ? NONE : x.type === 'version' && a.versions ? words(...a.versions.pins.map((p) => p.version)) : TEXT,
      })),
      ...a.options.map((o) => ({ flags: [o.flag, ...(o.short ? [o.short] : [])], value: o.type === 'boolean' ? NONE : o.flag === '--values' ? FILE : TEXT })),
    ],
  }));
  return { commands, globals, topLevel: [{ flags: ['--version', '-V'], value: NONE }], addons };
}
