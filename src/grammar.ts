/**
 * The command-line grammar, MicroK8s-compatible: `enable|disable NAME[:ARG[:ARG...]] [NAME...]`, each `:`
 * segment one positional argument, or flag style `enable cilium --version 1.9`. Pure: argv in, a typed
 * invocation out, or a UsageError whose one line says what to do instead.
 *
 * Why not a CLI library: an option's meaning depends on where it stands (`--version` before the command
 * prints ours, after `cilium` it is cilium's version), and addon flags come from the catalogue at run
 * time. Parsing is two small passes over a declarative option table instead.
 */
import { UsageError } from './errors.js';
import type { AddonManifest, Catalogue } from './catalogue.js';
import { didYouMean } from './text.js';

export type OutputMode = 'pretty' | 'plain' | 'json';

/** Options that apply to the whole invocation, accepted anywhere on the line. */
export interface GlobalOptions {
  /** Run every check, print what would change, change nothing. */
  dryRun: boolean;
  /** Output style; default `pretty` on a TTY, `plain` otherwise. */
  output: OutputMode | undefined;
  /** Snap paths; defaults from env SNAP / SNAP_DATA / SNAP_COMMON, then MicroK8s's standard paths. */
  snap: string | undefined;
  snapData: string | undefined;
  snapCommon: string | undefined;
  /** Default `$SNAP_DATA/credentials/client.config`. */
  kubeconfig: string | undefined;
  /** Timeout for waits (rollouts, readiness), in milliseconds. Default 5 minutes. */
  timeoutMs: number | undefined;
  /** How long to wait for another mk8s-addons operation on this node, in milliseconds. */
  lockTimeoutMs: number | undefined;
  noRollback: boolean;
  keepProxy: boolean;
  force: boolean;
  strict: boolean;
  noRestartPods: boolean;
  help: boolean;
}

type GlobalKey = keyof GlobalOptions;
interface GlobalSpec {
  key: GlobalKey;
  type: 'boolean' | 'string' | 'duration' | 'output';
  placeholder?: string;
  description: string;
}

/** The global option table: the single source for parsing and for `--help`. */
export const GLOBAL_OPTIONS: Readonly<Record<string, GlobalSpec>> = {
  '--dry-run': { key: 'dryRun', type: 'boolean', description: 'run every check and print what would change; change nothing' },
  '--output': { key: 'output', type: 'output', placeholder: 'pretty|plain|json', description: 'output style (json: one event per line on stdout)' },
  '--snap': { key: 'snap', type: 'string', placeholder: 'DIR', description: 'MicroK8s snap folder (default $SNAP, else /snap/microk8s/current)' },
  '--snap-data': { key: 'snapData', type: 'string', placeholder: 'DIR', description: 'node data folder (default $SNAP_DATA, else /var/snap/microk8s/current)' },
  '--snap-common': { key: 'snapCommon', type: 'string', placeholder: 'DIR', description: 'node common folder (default $SNAP_COMMON, else /var/snap/microk8s/common)' },
  '--kubeconfig': { key: 'kubeconfig', type: 'string', placeholder: 'FILE', description: 'kubeconfig (default $SNAP_DATA/credentials/client.config)' },
  '--timeout': { key: 'timeoutMs', type: 'duration', placeholder: 'DURATION', description: 'limit for each wait, e.g. 90s or 5m (default 5m)' },
  '--lock-timeout': { key: 'lockTimeoutMs', type: 'duration', placeholder: 'DURATION', description: "how long to wait for another operation's lock (default 60s)" },
  '--no-rollback': { key: 'noRollback', type: 'boolean', description: 'keep the partial state when a step fails (for debugging)' },
  '--keep-proxy': { key: 'keepProxy', type: 'boolean', description: 'pass proxy variables on to MicroK8s services and cluster calls' },
  '--force': { key: 'force', type: 'boolean', description: 'allow a downgrade or an unsupported Kubernetes/Cilium pair' },
  '--strict': { key: 'strict', type: 'boolean', description: 'treat chart values the chart does not know as errors' },
  '--no-restart-pods': { key: 'noRestartPods', type: 'boolean', description: 'do not restart pods started under the previous CNI' },
  '--help': { key: 'help', type: 'boolean', description: 'show help' },
  '-h': { key: 'help', type: 'boolean', description: 'show help' },
};

export const COMMANDS = ['enable', 'disable', 'list', 'status', 'reset', 'apply', 'start', 'stop', 'sandbox', 'datapath', 'cilium', 'microk8s-repo', 'nodes', 'completion'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** One addon as written on the command line. */
export interface AddonSpec {
  /** As written, for messages: `cilium:v1.8`. */
  raw: string;
  name: string;
  /** Positional arguments, by position (`:` style). */
  positional: string[];
  /** Flag-style values by flag (`--version` -> `1.9`; repeatable flags collect; switches are `true`). */
  flags: Map<string, string | true | string[]>;
}

export interface Invocation {
  command: CommandName | undefined;
  /** `--version` before any command. */
  version: boolean;
  globals: GlobalOptions;
  /** The words after the command, globals removed (for enable/disable: see parseAddonSpecs). */
  words: string[];
}

export function defaultGlobals(): GlobalOptions {
  return {
    dryRun: false,
    output: undefined,
    snap: undefined,
    snapData: undefined,
    snapCommon: undefined,
    kubeconfig: undefined,
    timeoutMs: undefined,
    lockTimeoutMs: undefined,
    noRollback: false,
    keepProxy: false,
    force: false,
    strict: false,
    noRestartPods: false,
    help: false,
  };
}

/** The longest duration a Node timer can wait (2^31-1 ms, a little over 596 hours). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Parses a duration: `90s`, `5m`, `1m30s`, `500ms`, `1h`, or bare seconds `300`. */
export function parseDuration(text: string, flag: string): number {
  if (/^\d+$/.test(text)) {
    if (Number(text) * 1000 > MAX_DURATION_MS) throw new UsageError(`invalid ${flag} "${text}": the longest is 596h (24 days); give a shorter duration`);
    return Number(text) * 1000;
  }
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    if (m.index !== consumed) break;
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    total += Number(m[1]) * unit;
    consumed += m[0].length;
  }
  if (consumed !== text.length || text.length === 0) {
    throw new UsageError(`invalid ${flag} "${text}": give a duration such as 90s, 5m or 1m30s`);
  }
  // Node's timers fire at once past 2^31-1 ms (with a TimeoutOverflowWarning), so longer waits are refused.
  if (total > MAX_DURATION_MS) throw new UsageError(`invalid ${flag} "${text}": the longest is 596h (24 days); give a shorter duration`);
  return Math.round(total);
}

function splitFlag(word: string): [string, string | undefined] {
  const eq = word.indexOf('=');
  return eq > 0 && word.startsWith('--') ? [word.slice(0, eq), word.slice(eq + 1)] : [word, undefined];
}

/**
 * Applies a global option at words[i] (if it is one). Returns how many words it used (0: not global).
 */
function takeGlobal(globals: GlobalOptions, words: readonly string[], i: number): number {
  const [flag, inline] = splitFlag(words[i] ?? '');
  const spec = GLOBAL_OPTIONS[flag];
  if (!spec) return 0;
  if (spec.type === 'boolean') {
    if (inline !== undefined) throw new UsageError(`${flag} takes no value; write ${flag} alone`);
    (globals[spec.key] as boolean) = true;
    return 1;
  }
  const value = inline ?? words[i + 1];
  if (value === undefined || (inline === undefined && value.startsWith('-'))) {
    throw new UsageError(`${flag} needs a value: ${flag} ${spec.placeholder ?? 'VALUE'}`);
  }
  if (spec.type === 'output') {
    if (value !== 'pretty' && value !== 'plain' && value !== 'json') {
      throw new UsageError(`invalid --output "${value}": use pretty, plain or json`);
    }
    globals.output = value;
  } else if (spec.type === 'duration') {
    (globals[spec.key] as number) = parseDuration(value, flag);
  } else {
    if (value === '') throw new UsageError(`${flag} needs a non-empty value: ${flag} ${spec.placeholder ?? 'VALUE'}`);
    (globals[spec.key] as string) = value;
  }
  return inline === undefined ? 2 : 1;
}

/**
 * First pass: finds the command and the global options before it. Options after the command are left in
 * `words` for the command's own parser (they may belong to an addon).
 */
export function parseArgv(argv: readonly string[]): Invocation {
  const globals = defaultGlobals();
  let version = false;
  let i = 0;
  for (; i < argv.length; ) {
    const word = argv[i] as string;
    if (!word.startsWith('-')) break;
    if (word === '--version' || word === '-V') {
      version = true;
      i++;
      continue;
    }
    const used = takeGlobal(globals, argv, i);
    if (used === 0) throw new UsageError(`unknown option ${splitFlag(word)[0]}; run "mk8s-addons --help" for the options`);
    i += used;
  }
  const name = argv[i];
  if (name === undefined) return { command: undefined, version, globals, words: [] };
  if (name === 'help') return { command: undefined, version, globals: { ...globals, help: true }, words: argv.slice(i + 1) };
  if (!(COMMANDS as readonly string[]).includes(name)) {
    const hint = didYouMean(name, COMMANDS);
    throw new UsageError(`unknown command "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; commands: ${COMMANDS.join(', ')}; run "mk8s-addons --help"`);
  }
  return { command: name as CommandName, version, globals, words: argv.slice(i + 1) };
}

/** An option of one command (not global), e.g. sandbox's `--dir DIR`. */
export interface CommandOption {
  flag: string;
  type: 'string' | 'boolean';
  short?: string;
}

/**
 * Parses a command's words: its own options, global options anywhere, and positional words.
 * Unknown options are a UsageError that names the command.
 */
export function parseCommandWords(command: string, words: readonly string[], globals: GlobalOptions, own: readonly CommandOption[]): { options: Map<string, string | true>; positional: string[] } {
  const options = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < words.length; ) {
    const word = words[i] as string;
    if (!word.startsWith('-') || word === '-') {
      positional.push(word);
      i++;
      continue;
    }
    const [flag, inline] = splitFlag(word);
    const spec = own.find((o) => o.flag === flag || o.short === flag);
    if (spec) {
      if (spec.type === 'boolean') {
        if (inline !== undefined) throw new UsageError(`${flag} takes no value; write ${flag} alone`);
        options.set(spec.flag, true);
        i++;
      } else {
        const value = inline ?? words[i + 1];
        if (value === undefined || value === '' || (inline === undefined && value.startsWith('-'))) throw new UsageError(`${flag} needs a value; run "mk8s-addons ${command} --help"`);
        options.set(spec.flag, value);
        i += inline === undefined ? 2 : 1;
      }
      continue;
    }
    const used = takeGlobal(globals, words, i);
    if (used === 0) throw new UsageError(`unknown option ${flag} for ${command}; run "mk8s-addons ${command} --help"`);
    i += used;
  }
  return { options, positional };
}

/**
 * Takes enable's and disable's `--node NAME[,NAME...]` (repeatable) out of their words: the nodes of a
 * cluster the run is restricted to, as one comma list (what `selectNodes` takes), or undefined.
 */
export function takeNodeOption(command: string, words: readonly string[]): { words: string[]; nodes: string | undefined } {
  const rest: string[] = [];
  const names: string[] = [];
  let given = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    const [flag, inline] = splitFlag(word);
    if (flag !== '--node') {
      rest.push(word);
      continue;
    }
    const value = inline ?? words[i + 1];
    if (inline === undefined) i++;
    const list = (value ?? '').split(',').map((n) => n.trim());
    if (value === undefined || (inline === undefined && value.startsWith('-')) || list.some((n) => n === '')) {
      throw new UsageError(`--node needs node names: mk8s-addons ${command} NAME --node NODE[,NODE...] (see "mk8s-addons nodes")`);
    }
    given = true;
    names.push(...list);
  }
  return { words: rest, nodes: given ? names.join(',') : undefined };
}

/** Parses the words of a command that takes no addons (e.g. `list`): only global options. */
export function parseNoArgs(command: string, words: readonly string[], globals: GlobalOptions): void {
  for (let i = 0; i < words.length; ) {
    const word = words[i] as string;
    const used = word.startsWith('-') ? takeGlobal(globals, words, i) : 0;
    if (used === 0) {
      throw new UsageError(word.startsWith('-') ? `unknown option ${splitFlag(word)[0]} for ${command}; run "mk8s-addons ${command} --help"` : `${command} takes no arguments; got "${word}"`);
    }
    i += used;
  }
}

const REPO_PREFIXES = ['core/', 'community/'];
const NAME_RE = /^[a-z0-9][a-z0-9-]*$/;

/** Splits `cilium:v1.8` into its name and positional arguments, checking the name's form. */
export function splitAddonWord(raw: string): { name: string; positional: string[] } {
  let word = raw;
  // MicroK8s 1.24+ accepts repo/NAME; our catalogue is one repository.
  for (const prefix of REPO_PREFIXES) if (word.startsWith(prefix)) word = word.slice(prefix.length);
  // `:` separates arguments, except inside [...] (dns:[2606:4700::1111]:53), and a port after an address
  // stays with it (dns:1.1.1.1:5353): no argument is ever a bare number after an address.
  const [name = '', ...segments] = word.match(/(?:\[[^\]]*\]|[^:])+|(?<=:)(?=:|$)|^(?=:)/g) ?? [''];
  const positional: string[] = [];
  for (const seg of segments) {
    const prev = positional.at(-1);
    if (prev !== undefined && /^\d{1,5}(,|$)/.test(seg) && /(\]|\d+\.\d+\.\d+\.\d+)$/.test(prev)) positional[positional.length - 1] = `${prev}:${seg}`;
    else positional.push(seg);
  }
  if (name === '') {
    throw new UsageError(`empty addon name in "${raw}": write NAME[:ARG...], e.g. cilium:v1.8 (see "mk8s-addons list")`);
  }
  if (!NAME_RE.test(name)) {
    throw new UsageError(`invalid addon name "${name}": names are lower-case letters, digits and dashes, with no path characters (see "mk8s-addons list")`);
  }
  return { name, positional };
}

function addonFlag(addon: AddonManifest, flag: string): { canonical: string; kind: 'string' | 'switch' | 'boolean' | 'repeatable' } | undefined {
  for (const a of addon.arguments) {
    if (a.flag === flag) return { canonical: a.flag, kind: a.type === 'switch' ? 'switch' : 'string' };
  }
  for (const o of addon.options) {
    if (o.flag === flag || o.short === flag) return { canonical: o.flag, kind: o.type === 'boolean' ? 'boolean' : o.type };
  }
  return undefined;
}

/**
 * Second pass for enable/disable: addon words and their flags, with global options anywhere. A flag right
 * after an addon binds to that addon when the addon declares it; otherwise it must be a global option.
 */
export function parseAddonSpecs(command: string, words: readonly string[], globals: GlobalOptions, catalogue: Catalogue): AddonSpec[] {
  const specs: AddonSpec[] = [];
  let current: AddonSpec | undefined;
  let currentManifest: AddonManifest | undefined;
  for (let i = 0; i < words.length; ) {
    const word = words[i] as string;
    if (word === '--') throw new UsageError(`"--" is not used by ${command}; write mk8s-addons ${command} NAME[:ARG...] [NAME...]`);
    if (word.startsWith('-')) {
      const [flag, inline] = splitFlag(word);
      const bound = currentManifest ? addonFlag(currentManifest, flag) : undefined;
      if (current && bound) {
        let value: string | true;
        let used = 1;
        if (bound.kind === 'switch' || bound.kind === 'boolean') {
          if (inline !== undefined) throw new UsageError(`${flag} of ${current.name} takes no value; write ${flag} alone`);
          value = true;
        } else {
          const next = inline ?? words[i + 1];
          if (next === undefined || (inline === undefined && next.startsWith('-') && next.length > 1)) {
            throw new UsageError(`${flag} of ${current.name} needs a value, e.g. ${current.name} ${flag} VALUE`);
          }
          value = next;
          used = inline === undefined ? 2 : 1;
        }
        if (bound.kind === 'repeatable') {
          const prev = current.flags.get(bound.canonical);
          current.flags.set(bound.canonical, [...(Array.isArray(prev) ? prev : []), value as string]);
        } else {
          if (current.flags.has(bound.canonical)) throw new UsageError(`${bound.canonical} is given twice for ${current.name}; give it once`);
          current.flags.set(bound.canonical, value);
        }
        i += used;
        continue;
      }
      const used = takeGlobal(globals, words, i);
      if (used > 0) {
        i += used;
        continue;
      }
      if (current && currentManifest) {
        const own = [...currentManifest.arguments.map((a) => a.flag), ...currentManifest.options.map((o) => o.flag)];
        throw new UsageError(
          `unknown option ${flag} for ${current.name}${own.length ? ` (its options: ${own.join(', ')})` : ' (it takes no options)'}; run "mk8s-addons ${command} --help"`,
        );
      }
      throw new UsageError(`unknown option ${flag}; run "mk8s-addons ${command} --help" for the options`);
    }
    const { name, positional } = splitAddonWord(word);
    const manifest = catalogue.get(name);
    if (!manifest) {
      const hint = didYouMean(name, catalogue.addons.map((a) => a.name));
      throw new UsageError(
        `unknown addon "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; available: ${catalogue.addons.map((a) => a.name).join(', ')} (see "mk8s-addons list")`,
      );
    }
    if (specs.some((s) => s.name === name)) throw new UsageError(`${name} is given twice; give each addon once`);
    current = { raw: word, name, positional, flags: new Map() };
    currentManifest = manifest;
    specs.push(current);
    i++;
  }
  if (specs.length === 0 && !globals.help) {
    throw new UsageError(`${command} needs at least one addon: mk8s-addons ${command} NAME[:ARG...] (see "mk8s-addons list")`);
  }
  return specs;
}
