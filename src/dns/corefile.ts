/**
 * CoreDNS's Corefile: a lossless parser, a printer and the two edits mk8s-addons makes in the `.:53` server
 * block (the upstream servers of the forward plugin, the cluster domain of the kubernetes plugin). Pure:
 * text in, text out.
 *
 * Lossless: every token keeps the exact text before it (whitespace, comments), so
 * `printCorefile(parseCorefile(text)) === text` byte for byte, and an edit rewrites only the tokens it changes.
 * Users edit `configmap/coredns` by hand; a re-enable must keep every one of those edits.
 *
 * The syntax is the one CoreDNS reads (its Caddy 1 fork, github.com/coredns/caddy, caddyfile/lexer.go and
 * parse.go), checked against CoreDNS's own reading of 288 real Corefiles (../shared/corpora):
 * - tokens are separated by whitespace; `{` and `}` are braces only as tokens of their own (`{$VAR}`,
 *   `{env.X}` and `foo{` are words); a carriage return outside quotes is dropped, even inside a word;
 * - `#` outside quotes starts a comment. At the start of a token it runs to the end of the line; in the
 *   middle of a word it ends the word and runs only to the next whitespace: `forward . 1.1.1.1#853 8.8.8.8`
 *   forwards to 1.1.1.1 and 8.8.8.8, and `}# after close` is a `}` and then a server block `after close`;
 * - `"..."` quotes a token when the quote starts it (it may span lines; `\"` is a quote, any other `\x` stays
 *   as written); a quote inside a word, a backquote and a backslash are ordinary characters: a `\` at the
 *   end of a line is an argument, and the next line is a new directive (CoreDNS has no line continuation);
 * - a server block is zero or more keys (`.:53`, `example.org:53 other.org`, `dns://.:53`; a key ending in
 *   `,` continues on the next line; any word, `}` included, is a key) and a `{ }` body, or no braces and
 *   then a body up to a `}` or the end of the file. A braced body left open at the end of the file is
 *   closed by the file's last `}` when that closed a directive's block (CoreDNS shares it);
 * - a directive (plugin) is its name, the tokens on its line and any `{ }` blocks (nested to any depth); a
 *   `{` on the next line still opens its block. A server block's closing `}` must not follow a directive
 *   on its line (CoreDNS rejects `.:53 { errors }`);
 * - `(name) { ... }` defines a snippet, `import NAME|FILE|GLOB` (one argument) pulls one in.
 * readAsCoreDns (src/dns/coredns-reading.ts) reads the result exactly as CoreDNS does (imports spliced,
 * placeholders replaced), and the edits below are checked with it.
 */
import { InternalError, BUG_REPORT_HINT } from '../errors.js';
import { CorefileError, lexCorefile, type CorefileToken } from './corefile-lexer.js';
import { readAsCoreDns, type CoreDnsReading, type CoreDnsToken } from './coredns-reading.js';

export { CorefileError, type CorefileToken, type TokenKind } from './corefile-lexer.js';

/** A `{ ... }` block after a directive, holding sub-directives (one per line). */
export interface CorefileBlock {
  kind: 'block';
  open: CorefileToken;
  directives: CorefileDirective[];
  close: CorefileToken;
}

/** A plugin line: its name, then its arguments and blocks in the order written. */
export interface CorefileDirective {
  name: CorefileToken;
  parts: Array<CorefileToken | CorefileBlock>;
}

/** A server block (`.:53 { ... }`) or a snippet definition (`(name) { ... }`). */
export interface CorefileServerBlock {
  type: 'server' | 'snippet';
  keys: CorefileToken[];
  /** Undefined for a server block written without braces: its body then runs to the end of the file. */
  open: CorefileToken | undefined;
  directives: CorefileDirective[];
  close: CorefileToken | undefined;
}

/** `import FILE|GLOB|SNIPPET` between server blocks. */
export interface CorefileTopImport {
  type: 'import';
  directive: CorefileDirective;
}

export interface Corefile {
  entries: Array<CorefileServerBlock | CorefileTopImport>;
  /** Whitespace and comments after the last token. */
  trailing: string;
  /** Name used in error messages, e.g. `Corefile` or `configmap/coredns`. */
  source: string;
}

// ---------------------------------------------------------------------------------------------------
// Parser

const quote = (s: string): string => JSON.stringify(s);
const SNIPPET_RE = /^\((.*)\)$/;

class Parser {
  private index = 0;
  private readonly snippets = new Set<string>();

  constructor(
    private readonly tokens: CorefileToken[],
    private readonly source: string,
  ) {}

  private fail(at: CorefileToken, reason: string): never {
    throw new CorefileError(this.source, at, reason);
  }

  private peek(): CorefileToken | undefined {
    return this.tokens[this.index];
  }

  private take(): CorefileToken {
    const token = this.tokens[this.index];
    if (!token) throw new InternalError(`Corefile parser read past the end; ${BUG_REPORT_HINT}`);
    this.index++;
    return token;
  }

  file(): Corefile['entries'] {
    const entries: Corefile['entries'] = [];
    for (let token = this.peek(); token; token = this.peek()) {
      // CoreDNS pulls an import in where a server block would start only when it starts a line.
      if (token.kind === 'word' && token.text === 'import' && token.startsLine) entries.push({ type: 'import', directive: this.directive('top') });
      else entries.push(this.serverBlock());
    }
    return entries;
  }

  private serverBlock(): CorefileServerBlock {
    // Keys: every token up to a "{" or the end of the line (a trailing comma continues on the next one).
    // Like CoreDNS, any word is a key (a stray "}" too), and a "{" with no key before it opens a block that
    // CoreDNS reads and then drops.
    const keys: CorefileToken[] = [];
    let another = false;
    for (let next = this.peek(); next; next = this.peek()) {
      if (next.kind === 'open') {
        if (another) this.fail(next, `expected another server key after ${quote((keys.at(-1) as CorefileToken).text)}: add one or remove the comma`);
        break;
      }
      if (keys.length > 0 && next.startsLine && !another) break;
      const key = this.take();
      keys.push(key);
      if (key.text !== '') another = key.text.endsWith(','); // CoreDNS skips an empty key ("")
    }
    if (!this.peek()) {
      const last = keys.at(-1) as CorefileToken;
      if (another) this.fail(last, `the server keys end with a comma after ${quote(last.text)}: add another key or remove the comma`);
      return { type: 'server', keys, open: undefined, directives: [], close: undefined };
    }

    const first = keys[0];
    const snippet = keys.length === 1 && first ? SNIPPET_RE.exec(first.text) : null;
    if (snippet && first) {
      const name = snippet[1] as string;
      const open = this.peek();
      if (open?.kind !== 'open') this.fail(first, `snippet ${first.text} needs a body: write "${first.text} {", its directives, then "}"`);
      if (this.snippets.has(name)) this.fail(first, `snippet ${first.text} is defined twice: rename or remove one`);
      this.snippets.add(name);
      const block = this.block(this.take());
      return { type: 'snippet', keys, open: block.open, directives: block.directives, close: block.close };
    }

    if (this.peek()?.kind === 'open') {
      const open = this.take();
      const directives = this.directives('server', open);
      if (this.peek()) return { type: 'server', keys, open, directives, close: this.take() };
      // The end of the file: CoreDNS accepts it when the file's last token is a "}" (it closed a directive's
      // block and closes the server block too).
      if (this.tokens.at(-1)?.kind !== 'close') this.fail(open, '"{" is never closed: add the matching "}"');
      return { type: 'server', keys, open, directives, close: undefined };
    }
    // No braces: the body runs to a "}" (which ends it) or to the end of the file.
    const directives = this.directives('server', undefined);
    const close = this.peek()?.kind === 'close' ? this.take() : undefined;
    return { type: 'server', keys, open: undefined, directives, close };
  }

  /**
   * Directives up to a "}" at the start of a directive (left unread) or to the end of the file. `level`:
   * where the directives stand; a server block's own directives follow stricter rules, and a nested block
   * (opened by `open`) must be closed.
   */
  private directives(level: 'server' | 'nested', open: CorefileToken | undefined): CorefileDirective[] {
    const list: CorefileDirective[] = [];
    for (let token = this.peek(); token; token = this.peek()) {
      if (token.kind === 'close') return list;
      if (token.kind === 'open') this.fail(token, 'unexpected "{": a block must follow a directive, e.g. "forward . 8.8.8.8 {"');
      list.push(this.directive(level));
    }
    if (level === 'nested' && open) this.fail(open, '"{" is never closed: add the matching "}"');
    return list;
  }

  private directive(level: 'top' | 'server' | 'nested'): CorefileDirective {
    const name = this.take();
    const parts: CorefileDirective['parts'] = [];
    for (let token = this.peek(); token; token = this.peek()) {
      if (token.kind === 'open') {
        parts.push(this.block(this.take()));
        continue;
      }
      if (token.startsLine) break;
      if (token.kind === 'close') {
        if (level === 'top') this.fail(token, 'unexpected "}": no "{" is open here; remove it');
        if (level === 'server') {
          this.fail(token, `"}" closes the server block on the line of directive ${quote(name.text)}, which CoreDNS rejects: put the "}" on a line of its own`);
        }
        break;
      }
      parts.push(this.take());
    }
    if (name.text === 'import') {
      const args = parts.filter((p) => p.kind !== 'block');
      if (parts.some((p) => p.kind === 'block')) this.fail(name, 'import takes no "{ }" block: write import FILE, GLOB or SNIPPET');
      if (args.length === 0) this.fail(name, 'import needs one argument: a file, a glob or a snippet name');
      if (args.length > 1) this.fail(name, `import takes one argument (a file, a glob or a snippet name), not ${args.length}`);
    }
    return { name, parts };
  }

  private block(open: CorefileToken): CorefileBlock {
    const directives = this.directives('nested', open);
    return { kind: 'block', open, directives, close: this.take() };
  }
}

/**
 * Parses a Corefile. Throws CorefileError (`SOURCE:LINE:COLUMN: what to fix`) on text CoreDNS would
 * reject: unbalanced braces, unterminated quotes, a server block closed on a directive's line, a bad import.
 */
export function parseCorefile(text: string, options: { source?: string } = {}): Corefile {
  const source = options.source ?? 'Corefile';
  const { tokens, trailing } = lexCorefile(text, source);
  return { entries: new Parser(tokens, source).file(), trailing, source };
}

// ---------------------------------------------------------------------------------------------------
// Printer

function printDirective(out: string[], d: CorefileDirective): void {
  out.push(d.name.leading, d.name.raw);
  for (const part of d.parts) {
    if (part.kind === 'block') printBlock(out, part.open, part.directives, part.close);
    else out.push(part.leading, part.raw);
  }
}

function printBlock(out: string[], open: CorefileToken | undefined, directives: CorefileDirective[], close: CorefileToken | undefined): void {
  if (open) out.push(open.leading, open.raw);
  for (const d of directives) printDirective(out, d);
  if (close) out.push(close.leading, close.raw);
}

/** Writes the Corefile back: byte for byte what was parsed, except for the tokens an edit replaced. */
export function printCorefile(cf: Corefile): string {
  const out: string[] = [];
  for (const entry of cf.entries) {
    if (entry.type === 'import') {
      printDirective(out, entry.directive);
      continue;
    }
    for (const key of entry.keys) out.push(key.leading, key.raw);
    printBlock(out, entry.open, entry.directives, entry.close);
  }
  out.push(cf.trailing);
  return out.join('');
}

// ---------------------------------------------------------------------------------------------------
// Server blocks and the forward plugin

const DEFAULT_PORTS: Readonly<Record<string, string>> = { dns: '53', tls: '853', quic: '853', grpc: '443', https: '443', https3: '443' };

/** `dns://.:53`, `.:53`, `.` and `:53` all name the same server; zones compare case-insensitively. */
function normaliseServerKey(key: string): string {
  let rest = key.replace(/,$/, '').toLowerCase();
  let transport = 'dns';
  const scheme = /^([a-z0-9]+):\/\//.exec(rest);
  if (scheme) {
    transport = scheme[1] as string;
    rest = rest.slice(scheme[0].length);
  }
  const withPort = /^(.*):(\d+)$/.exec(rest);
  let zone = withPort ? (withPort[1] as string) : rest;
  const port = withPort ? String(Number(withPort[2])) : (DEFAULT_PORTS[transport] ?? '');
  if (zone === '') zone = '.';
  if (!zone.endsWith('.')) zone += '.';
  return `${transport}://${zone}:${port}`;
}

/** The server blocks (not snippets) that serve `serverKey`, e.g. `.:53`. */
function serverBlocksFor(cf: Corefile, serverKey: string): CorefileServerBlock[] {
  const wanted = normaliseServerKey(serverKey);
  return cf.entries.filter(
    (e): e is CorefileServerBlock => e.type === 'server' && e.keys.some((k) => normaliseServerKey(k.text) === wanted),
  );
}

/** Argument tokens of a directive up to its first block: for forward, FROM then the TO servers. */
function headArgs(d: CorefileDirective): CorefileToken[] {
  const head: CorefileToken[] = [];
  for (const part of d.parts) {
    if (part.kind === 'block') break;
    head.push(part);
  }
  return head;
}

interface ForwardSite {
  directive: CorefileDirective;
  /** The snippet the directive comes from (via import), or undefined when it is in the block itself. */
  snippet: CorefileServerBlock | undefined;
}

interface ForwardLookup {
  block: CorefileServerBlock;
  /** The forward plugin that sets the block's upstream servers, if the block has one: the first `forward .`. */
  forward: ForwardSite | undefined;
  /** The `forward .` plugins after it: a chain (`next RCODE` hands a query on to the next one). */
  chained: ForwardSite[];
  /** `import` arguments in the block that are files or globs: their contents are not visible here. */
  fileImports: string[];
}

function lookupForward(cf: Corefile, serverKey: string): ForwardLookup {
  const blocks = serverBlocksFor(cf, serverKey);
  if (blocks.length === 0) {
    const imports = cf.entries.filter((e): e is CorefileTopImport => e.type === 'import');
    const hint = imports.length > 0 ? ` (it may come from ${imports.map((i) => `import ${headArgs(i.directive)[0]?.text}`).join(', ')})` : '';
    throw new CorefileError(cf.source, undefined, `no server block for ${serverKey}${hint}: add a "${serverKey} {" block with a forward plugin`);
  }
  if (blocks.length > 1) {
    const lines = blocks.map((b) => (b.keys[0] as CorefileToken).line).join(' and ');
    throw new CorefileError(cf.source, undefined, `${blocks.length} server blocks serve ${serverKey} (lines ${lines}): merge them into one`);
  }
  const block = blocks[0] as CorefileServerBlock;

  // Snippets count from where they are defined on, as CoreDNS reads the file top to bottom.
  const snippets = new Map<string, CorefileServerBlock>();
  for (const entry of cf.entries) {
    if (entry === block) break;
    if (entry.type === 'snippet') snippets.set(SNIPPET_RE.exec((entry.keys[0] as CorefileToken).text)?.[1] as string, entry);
  }
  const found: ForwardSite[] = [];
  const fileImports: string[] = [];
  const seen = new Set<string>();
  const walk = (directives: CorefileDirective[], snippet: CorefileServerBlock | undefined): void => {
    for (const d of directives) {
      if (d.name.text === 'forward') found.push({ directive: d, snippet });
      if (d.name.text !== 'import') continue;
      const target = headArgs(d)[0]?.text ?? '';
      const defined = snippets.get(target);
      if (!defined) fileImports.push(target);
      else if (!seen.has(target)) {
        seen.add(target);
        walk(defined.directives, defined);
      }
    }
  };
  walk(block.directives, undefined);

  if (found.length === 1) return { block, forward: found[0], chained: [], fileImports };
  // Several forward stanzas: the ones for the root zone are the upstreams (the first one first, then, with
  // `next`, the others in order); the others forward sub-domains.
  const root = found.filter((f) => headArgs(f.directive)[0]?.text === '.');
  return { block, forward: root[0], chained: root.slice(1), fileImports };
}

/**
 * The `forward .` plugins of the `serverKey` block in the order CoreDNS tries them (following snippet
 * imports): the line of each and its servers. Usually one; CoreDNS chains several with `next`.
 */
export function forwardChain(cf: Corefile, serverKey = '.:53'): Array<{ line: number; servers: string[] }> {
  const { forward, chained } = lookupForward(cf, serverKey);
  return (forward ? [forward, ...chained] : []).map((f) => ({ line: f.directive.name.line, servers: headArgs(f.directive).slice(1).map((t) => t.text) }));
}

/**
 * The upstream servers (the TO arguments of the first `forward .` plugin) of the `serverKey` server block,
 * following snippet imports; undefined when the block has no forward plugin for the root zone. Throws CorefileError when no block, or
 * more than one, serves `serverKey`.
 */
export function getForwarders(cf: Corefile, serverKey = '.:53'): string[] | undefined {
  const { forward } = lookupForward(cf, serverKey);
  return forward ? headArgs(forward.directive).slice(1).map((t) => t.text) : undefined;
}

/** The result of setForwarders. */
export interface SetForwardersResult {
  /** The edited Corefile; the very object passed in when nothing changed. */
  corefile: Corefile;
  changed: boolean;
  /**
   * Files or globs the server block imports (k3s: `import /etc/coredns/custom/*.override`). Their contents
   * are not visible here; a forward plugin inside one would clash with the one set here.
   */
  fileImports: string[];
  /** Lines of the `forward .` plugins chained after the one set here, which are left as they are. */
  chained: number[];
}

/**
 * Whether a value can be written into a Corefile as one bare token that CoreDNS reads back unchanged: no
 * whitespace, quotes, braces, `#`, backslashes or placeholders. Values come validated from src/dns/args.ts;
 * this only refuses what would change the Corefile's structure.
 */
export function isPlainCorefileWord(value: string): boolean {
  return /^[A-Za-z0-9._:/[\]%-]+$/.test(value);
}

function newToken(text: string, leading: string, startsLine = false): CorefileToken {
  return { kind: 'word', leading, raw: text, text, startsLine, line: 0, column: 0 };
}

/** The indentation of a token that starts a line: what follows the last line break before it. */
function indentOf(token: CorefileToken): string | undefined {
  if (!token.startsLine) return undefined;
  return token.leading.slice(token.leading.lastIndexOf('\n') + 1);
}

/**
 * Sets the upstream servers of the `serverKey` (default `.:53`) server block: its forward plugin becomes
 * `forward . SERVERS`, keeping the plugin's options block, comments and layout; a block without a forward
 * plugin gets a `forward . SERVERS` line, indented like its siblings. Nothing else changes, and other server
 * blocks (stub domains with their own forward) are never touched. Same servers: `changed: false` and the
 * same object back.
 *
 * Throws CorefileError when the forward plugin comes from a snippet (changing the snippet would change
 * every block that imports it) and the servers differ, or when no single block serves `serverKey`.
 */
export function setForwarders(cf: Corefile, servers: readonly string[], serverKey = '.:53'): SetForwardersResult {
  if (servers.length === 0) throw new InternalError(`setForwarders needs at least one server; ${BUG_REPORT_HINT}`);
  for (const s of servers) {
    if (!isPlainCorefileWord(s)) throw new InternalError(`cannot write ${quote(s)} into the Corefile as a forward server; ${BUG_REPORT_HINT}`);
  }
  const before = loadableReading(cf);
  const wanted = ['.', ...servers];
  const lookup = lookupForward(cf, serverKey);
  const { forward, fileImports } = lookup;
  const chained = lookup.chained.map((f) => f.directive.name.line);
  const same = (d: CorefileDirective): boolean => {
    const head = headArgs(d).map((t) => t.text);
    return head.length === wanted.length && head.every((t, i) => t === wanted[i]);
  };
  if (forward && same(forward.directive)) return { corefile: cf, changed: false, fileImports, chained };
  if (forward?.snippet) {
    const name = (forward.snippet.keys[0] as CorefileToken).text;
    throw new CorefileError(
      cf.source,
      forward.directive.name,
      `the forward plugin of ${serverKey} comes from snippet ${name}, which other server blocks may import: change its servers there by hand, or move the forward line into the ${serverKey} block`,
    );
  }

  const corefile = structuredClone(cf);
  const index = cf.entries.indexOf(lookup.block);
  const block = corefile.entries[index] as CorefileServerBlock;

  if (forward) {
    // The same directive in the copy: find it by position, which the clone preserves.
    const at = lookup.block.directives.indexOf(forward.directive);
    const directive = block.directives[at] as CorefileDirective;
    const old = headArgs(directive);
    const head = wanted.map((text, i) => {
      const previous = old[i];
      if (previous && previous.text === text) return previous;
      return newToken(text, previous?.leading ?? ' ');
    });
    directive.parts = [...head, ...directive.parts.slice(old.length)];
    checkEdit(cf, before, corefile, (reading) => replaceHead(reading, forward.directive.name.line, 'forward', wanted));
    return { corefile, changed: true, fileImports, chained };
  }

  if (block.open && !block.close) {
    throw new CorefileError(
      cf.source,
      block.open,
      `the "{" of ${serverKey} is never closed (CoreDNS lets the file's last "}", which closes a plugin's block, close it too, but a line added at its end would fall outside): add the matching "}"`,
    );
  }
  const newline = printCorefile(cf).includes('\r\n') ? '\r\n' : '\n';
  const siblings = block.directives.map((d) => indentOf(d.name)).filter((s): s is string => s !== undefined);
  const indent = siblings.at(-1) ?? `${indentOf(block.keys[0] as CorefileToken) ?? ''}    `;
  // The new line goes after the last line of the block, so a comment at the end of that line (and any
  // comment lines after it) stays where it is: it is the text before the closing "}" (or the file's end).
  const last = index === corefile.entries.length - 1 && !block.close;
  const tail = last ? corefile.trailing : (block.close as CorefileToken).leading;
  const lineEnd = block.directives.length > 0 || block.open ? tail.lastIndexOf('\n') : -1;
  const name = newToken('forward', lineEnd >= 0 ? tail.slice(0, lineEnd + 1) + indent : newline + indent, true);
  const rest = lineEnd >= 0 ? newline + tail.slice(lineEnd + 1) : tail;
  block.directives.push({ name, parts: wanted.map((text) => newToken(text, ' ')) });
  if (last) corefile.trailing = rest;
  else if (block.close && lineEnd >= 0) block.close = { ...block.close, leading: rest, startsLine: true };
  else if (block.close) {
    // `.:53 { }`: the closing brace must move to a line of its own.
    const keyIndent = indentOf(block.keys[0] as CorefileToken) ?? '';
    block.close = { ...block.close, leading: newline + keyIndent, startsLine: true };
  }
  checkEdit(cf, before, corefile, (reading) => appendDirective(reading, serverKey, ['forward', ...wanted]));
  return { corefile, changed: true, fileImports, chained };
}

// ---------------------------------------------------------------------------------------------------
// Edits checked against CoreDNS's reading

/**
 * Throws CorefileError when CoreDNS would not load `cf`: a plugin name it does not know (often a `\` meant
 * as a line continuation, which CoreDNS does not have). The edits below check this first.
 */
export function assertCoreDnsLoads(cf: Corefile): void {
  loadableReading(cf);
}

/** What CoreDNS reads from `cf`, after assertCoreDnsLoads's check. */
function loadableReading(cf: Corefile): CoreDnsReading {
  const text = printCorefile(cf);
  const reading = readAsCoreDns(text, { source: cf.source });
  const unknown = reading.unknownPlugins[0];
  if (unknown) {
    const previous = text.split('\n')[unknown.line - 2]?.replace(/\r$/, '');
    const hint =
      previous !== undefined && /(^|\s)\S*\\$/.test(previous.replace(/\s*#.*$/, '').trimEnd())
        ? `: the "\\" at the end of line ${unknown.line - 1} does not continue a line in a Corefile; put the arguments on one line`
        : ': fix the name, or remove the line';
    throw new CorefileError(cf.source, { line: unknown.line, column: 0 }, `CoreDNS has no plugin ${quote(unknown.text)}, so it would not load this Corefile${hint}`);
  }
  return reading;
}

type Expect = (reading: CoreDnsReading) => CoreDnsReading;

const textsOf = (reading: CoreDnsReading): string =>
  JSON.stringify(reading.blocks.map((b) => [b.keys, b.directives.map((d) => [d.name, d.tokens.map((t) => t.text)])]));

/**
 * Checks an edit by reading the result as CoreDNS does: it must read exactly what it read before, with only
 * the intended change. A difference is a case the edit does not handle: refuse rather than write it.
 */
function checkEdit(cf: Corefile, before: CoreDnsReading, edited: Corefile, expect: Expect): void {
  let after: CoreDnsReading;
  try {
    after = readAsCoreDns(printCorefile(edited), { source: cf.source });
  } catch (err) {
    throw new CorefileError(cf.source, undefined, `CoreDNS could not read the edited Corefile (${(err as Error).message}): make the change by hand`);
  }
  if (textsOf(after) !== textsOf(expect(structuredClone(before)))) {
    throw new CorefileError(cf.source, undefined, 'CoreDNS would read more than the intended change from the edited Corefile: make the change by hand');
  }
}

/** The directive `name` whose name token is on `line` gets `head` as its arguments before its first "{". */
function replaceHead(reading: CoreDnsReading, line: number, name: string, head: string[]): CoreDnsReading {
  for (const block of reading.blocks) {
    for (const d of block.directives) {
      if (d.name !== name || d.tokens[0]?.line !== line) continue;
      const open = d.tokens.findIndex((t) => t.text === '{');
      const rest = open < 0 ? [] : d.tokens.slice(open);
      d.tokens = [d.tokens[0] as CoreDnsToken, ...head.map((text) => ({ text, line })), ...rest];
    }
  }
  return reading;
}

/** A directive added at the end of the block(s) that serve `serverKey`. */
function appendDirective(reading: CoreDnsReading, serverKey: string, tokens: string[]): CoreDnsReading {
  const wanted = normaliseServerKey(serverKey);
  for (const block of reading.blocks) {
    if (!block.keys.some((k) => normaliseServerKey(k) === wanted)) continue;
    block.directives.push({ name: tokens[0] as string, tokens: tokens.map((text) => ({ text, line: 0 })) });
  }
  return reading;
}

/** The result of setClusterDomain. */
export interface SetClusterDomainResult {
  /** The edited Corefile; the very object passed in when nothing changed. */
  corefile: Corefile;
  changed: boolean;
}

/** Zones of the kubernetes plugin that are not the cluster domain: reverse zones, written as names or CIDRs. */
const isReverseZone = (zone: string): boolean => /(^|\.)(in-addr|ip6)\.arpa\.?$/i.test(zone) || zone.includes('/');

/**
 * Sets the cluster domain that the kubernetes plugin of the `serverKey` (default `.:53`) block serves: its
 * first zone that is not a reverse zone (`kubernetes cluster.local in-addr.arpa ip6.arpa` becomes
 * `kubernetes home.arpa in-addr.arpa ip6.arpa`), keeping its other zones, options block, comments and
 * layout. Nothing else changes. A block without a kubernetes plugin, or whose plugin lists no such zone
 * (it then serves the block's own zones), is left as it is: `changed: false` and the same object back, as
 * for the same domain. Throws CorefileError when no single block serves `serverKey`.
 */
export function setClusterDomain(cf: Corefile, domain: string, serverKey = '.:53'): SetClusterDomainResult {
  if (!isPlainCorefileWord(domain)) throw new InternalError(`cannot write ${quote(domain)} into the Corefile as the cluster domain; ${BUG_REPORT_HINT}`);
  const before = loadableReading(cf);
  const { block } = lookupForward(cf, serverKey);
  const at = block.directives.findIndex((d) => d.name.text === 'kubernetes');
  if (at < 0) return { corefile: cf, changed: false };
  const zoneAt = headArgs(block.directives[at] as CorefileDirective).findIndex((t) => !isReverseZone(t.text));
  if (zoneAt < 0) return { corefile: cf, changed: false };
  const zone = (block.directives[at] as CorefileDirective).parts[zoneAt] as CorefileToken;
  if (zone.text.replace(/\.$/, '').toLowerCase() === domain.toLowerCase()) return { corefile: cf, changed: false };

  const corefile = structuredClone(cf);
  const copy = corefile.entries[cf.entries.indexOf(block)] as CorefileServerBlock;
  // Head arguments come first in parts, so the zone's index there is the same.
  const directive = copy.directives[at] as CorefileDirective;
  directive.parts[zoneAt] = newToken(domain, zone.leading);
  const head = headArgs(directive).map((t) => t.text);
  checkEdit(cf, before, corefile, (reading) => replaceHead(reading, directive.name.line, 'kubernetes', head));
  return { corefile, changed: true };
}
