/**
 * What CoreDNS reads from a Corefile: its server blocks, their keys and every directive's tokens, in the
 * order its parser (github.com/coredns/caddy, caddyfile/parse.go) sees them: snippets and imports spliced
 * in, `{$VAR}` and `{%VAR%}` placeholders replaced. A port of that parser over our lexer's tokens, checked
 * against CoreDNS's own reading of the corpus in ../shared/corpora. Pure.
 *
 * mk8s-addons uses it to say, before changing a Corefile, when CoreDNS would refuse it, and to check that
 * an edit changes nothing but what it means to change.
 */
import { CorefileError, lexCorefile } from './corefile-lexer.js';

/**
 * The plugins a CoreDNS build from coredns/coredns knows (core/dnsserver/zdirectives.go), plus the ones
 * that older releases still shipped (proxy, federation, upstream).
 */
export const COREDNS_PLUGINS: ReadonlySet<string> = new Set([
  'root', 'metadata', 'geoip', 'cancel', 'tls', 'proxyproto', 'quic', 'grpc_server', 'https', 'https3', 'timeouts',
  'multisocket', 'reload', 'nsid', 'bufsize', 'bind', 'debug', 'trace', 'ready', 'health', 'pprof', 'prometheus',
  'errors', 'log', 'dnstap', 'local', 'dns64', 'acl', 'any', 'chaos', 'loadbalance', 'tsig', 'cache', 'rewrite',
  'header', 'dnssec', 'autopath', 'minimal', 'template', 'transfer', 'hosts', 'route53', 'azure', 'clouddns',
  'k8s_external', 'kubernetes', 'file', 'auto', 'secondary', 'etcd', 'loop', 'forward', 'grpc', 'erratic', 'whoami',
  'on', 'sign', 'view', 'nomad', 'shed',
  'proxy', 'federation', 'upstream',
]);

/** A token as CoreDNS holds it: its text (placeholders replaced) and the line it starts on. */
export interface CoreDnsToken {
  text: string;
  line: number;
}

/** One directive (plugin) of a server block: its name token, then every token up to its end. */
export interface CoreDnsDirective {
  /** The plugin name, placeholders replaced. */
  name: string;
  tokens: CoreDnsToken[];
}

export interface CoreDnsServerBlock {
  /** The keys, placeholders replaced and trailing commas removed (empty keys are dropped, as CoreDNS does). */
  keys: string[];
  /** In the order CoreDNS reads them (CoreDNS groups them by name; the order within a name is this one). */
  directives: CoreDnsDirective[];
}

export interface CoreDnsReading {
  blocks: CoreDnsServerBlock[];
  /** Directives whose name is no CoreDNS plugin: CoreDNS refuses the file at the first one. */
  unknownPlugins: CoreDnsToken[];
  /**
   * `import FILE|GLOB` whose contents are not visible here (read as empty). CoreDNS refuses a FILE that is
   * not there, and reads a GLOB that matches nothing as empty.
   */
  fileImports: Array<CoreDnsToken & { glob: boolean }>;
}

export interface ReadOptions {
  source?: string;
  /** The environment that `{$VAR}` and `{%VAR%}` read; CoreDNS's own by default unknown, so empty. */
  env?: Readonly<Record<string, string>>;
}

interface Tok {
  text: string;
  line: number;
}

const MAX_EXPANSIONS = 1000;

/** caddyfile.replaceEnvVars: `{%VAR%}` first, then `{$VAR}`, every occurrence. */
export function replaceEnvVars(s: string, env: Readonly<Record<string, string>> = {}): string {
  return replaceRefs(replaceRefs(s, '{%', '%}', env), '{$', '}', env);
}

function replaceRefs(s: string, start: string, end: string, env: Readonly<Record<string, string>>): string {
  let index = s.indexOf(start);
  while (index !== -1) {
    let endIndex = s.slice(index).indexOf(end);
    if (endIndex === -1) break;
    endIndex += index;
    if (endIndex <= index + start.length) return s;
    const ref = s.slice(index, endIndex + end.length);
    s = s.split(ref).join(env[ref.slice(start.length, ref.length - end.length)] ?? '');
    index = s.indexOf(start);
  }
  return s;
}

const lineBreaks = (t: Tok): number => t.text.split('\n').length - 1;

class Reader {
  private tokens: Tok[];
  private cursor = -1;
  private eof = false;
  private block: CoreDnsServerBlock = { keys: [], directives: [] };
  private readonly snippets = new Map<string, Tok[]>();
  private snippetExpansions = 0;
  private fileExpansions = 0;
  readonly unknownPlugins: CoreDnsToken[] = [];
  readonly fileImports: CoreDnsReading['fileImports'] = [];

  constructor(
    tokens: Tok[],
    private readonly source: string,
    private readonly env: Readonly<Record<string, string>>,
  ) {
    this.tokens = tokens;
  }

  // The Dispenser.
  private next(): boolean {
    if (this.cursor < this.tokens.length - 1) {
      this.cursor++;
      return true;
    }
    return false;
  }

  private nextArg(): boolean {
    if (this.cursor < 0) {
      this.cursor++;
      return true;
    }
    if (this.cursor >= this.tokens.length) return false;
    const here = this.tokens[this.cursor] as Tok;
    const next = this.tokens[this.cursor + 1];
    if (next && here.line + lineBreaks(here) === next.line) {
      this.cursor++;
      return true;
    }
    return false;
  }

  private val(): string {
    return this.tokens[this.cursor]?.text ?? '';
  }

  private line(): number {
    return this.tokens[this.cursor]?.line ?? 0;
  }

  private isNewLine(): boolean {
    if (this.cursor < 1) return true;
    if (this.cursor > this.tokens.length - 1) return false;
    const prev = this.tokens[this.cursor - 1] as Tok;
    return prev.line + lineBreaks(prev) < (this.tokens[this.cursor] as Tok).line;
  }

  private fail(reason: string): never {
    const line = this.line();
    throw new CorefileError(this.source, line > 0 ? { line, column: 0 } : undefined, reason);
  }

  // The parser.
  read(): CoreDnsServerBlock[] {
    const blocks: CoreDnsServerBlock[] = [];
    while (this.next()) {
      this.block = { keys: [], directives: [] };
      this.begin();
      if (this.block.keys.length > 0) blocks.push(this.block);
    }
    return blocks;
  }

  private begin(): void {
    if (this.tokens.length === 0) return;
    this.addresses();
    if (this.eof) return;
    const keys = this.block.keys;
    const only = keys[0];
    if (keys.length === 1 && only && only.startsWith('(') && only.endsWith(')')) {
      const name = only.slice(1, -1);
      if (this.snippets.has(name)) this.fail(`redeclaration of previously declared snippet ${name}`);
      const tokens = this.snippetTokens();
      for (let i = 0; i + 1 < tokens.length; i++) {
        const atLineStart = i === 0 || (tokens[i - 1] as Tok).line !== (tokens[i] as Tok).line;
        if ((tokens[i] as Tok).text === 'import' && atLineStart && replaceEnvVars((tokens[i + 1] as Tok).text, this.env) === name) {
          this.fail(`maximum snippet import depth (${MAX_EXPANSIONS}) exceeded`);
        }
      }
      this.snippets.set(name, tokens);
      this.block.keys = [];
      return;
    }
    this.blockContents();
  }

  private addresses(): void {
    let expectingAnother = false;
    for (;;) {
      let tkn = replaceEnvVars(this.val(), this.env);
      if (tkn === 'import' && this.isNewLine()) {
        this.doImport();
        continue;
      }
      if (tkn === '{') {
        if (expectingAnother) this.fail(`Expected another address but had '${tkn}' - check for extra comma`);
        break;
      }
      if (tkn !== '') {
        expectingAnother = tkn.endsWith(',');
        if (expectingAnother) tkn = tkn.slice(0, -1);
        this.block.keys.push(tkn);
      }
      const hasNext = this.next();
      if (expectingAnother && !hasNext) this.fail('Unexpected EOF');
      if (!hasNext) {
        this.eof = true;
        break;
      }
      if (!expectingAnother && this.isNewLine()) break;
    }
  }

  private blockContents(): void {
    const braced = this.val() === '{';
    if (!braced) this.cursor--;
    this.directives();
    if (braced && this.val() !== '}') this.fail(`Syntax error: Unexpected token '${this.val()}', expecting '}'`);
  }

  private directives(): void {
    while (this.next()) {
      if (this.val() === '}') break;
      if (this.val() === 'import') {
        this.doImport();
        this.cursor--;
        continue;
      }
      this.directive();
    }
  }

  private doImport(): void {
    if (!this.nextArg()) this.fail(`Wrong argument count or unexpected line ending after '${this.val()}'`);
    const at = this.tokens[this.cursor] as Tok;
    const pattern = replaceEnvVars(this.val(), this.env);
    if (pattern === '') this.fail('Import requires a non-empty filepath');
    if (this.nextArg()) this.fail('Import takes only one argument (glob pattern or file)');
    const before = this.tokens.slice(0, this.cursor - 1);
    const after = this.tokens.slice(this.cursor + 1);
    let imported: Tok[] = [];
    const snippet = this.snippets.get(pattern);
    if (snippet) {
      if (this.snippetExpansions >= MAX_EXPANSIONS) this.fail(`maximum snippet import depth (${MAX_EXPANSIONS}) exceeded`);
      this.snippetExpansions++;
      imported = snippet.map((t) => ({ ...t }));
    } else {
      if (this.fileExpansions >= MAX_EXPANSIONS) this.fail(`maximum file import depth (${MAX_EXPANSIONS}) exceeded`);
      this.fileExpansions++;
      if ((pattern.match(/\*/g)?.length ?? 0) > 1 || (pattern.match(/\?/g)?.length ?? 0) > 1 || (pattern.includes('[') && pattern.includes(']'))) {
        this.fail(`Glob pattern may only contain one wildcard (*), but has others: ${pattern}`);
      }
      // The file's contents live on the CoreDNS pod's file system, not here.
      this.fileImports.push({ text: pattern, line: at.line, glob: /[*?[\]]/.test(pattern) });
    }
    this.tokens = [...before, ...imported, ...after];
    this.cursor--;
  }

  private directive(): void {
    const dir = replaceEnvVars(this.val(), this.env);
    const nameToken = this.tokens[this.cursor] as Tok;
    if (!COREDNS_PLUGINS.has(dir)) this.unknownPlugins.push({ text: dir, line: nameToken.line });
    const directive: CoreDnsDirective = { name: dir, tokens: [{ text: nameToken.text, line: nameToken.line }] };
    this.block.directives.push(directive);
    let nesting = 0;
    while (this.next()) {
      const v = this.val();
      if (v === '{') nesting++;
      else if (this.isNewLine() && nesting === 0) {
        this.cursor--;
        break;
      } else if (v === '}' && nesting > 0) nesting--;
      else if (v === '}' && nesting === 0) this.fail("Unexpected '}' because no matching opening brace");
      else if (v === 'import' && this.isNewLine()) {
        this.doImport();
        this.cursor--;
        continue;
      }
      const token = this.tokens[this.cursor] as Tok;
      token.text = replaceEnvVars(token.text, this.env);
      directive.tokens.push({ text: token.text, line: token.line });
    }
    if (nesting > 0) this.fail('Unexpected EOF');
  }

  private snippetTokens(): Tok[] {
    if (this.val() !== '{') this.fail(`Syntax error: Unexpected token '${this.val()}', expecting '{'`);
    let count = 1;
    const tokens: Tok[] = [];
    while (this.next()) {
      if (this.val() === '}') {
        count--;
        if (count === 0) break;
      }
      if (this.val() === '{') count++;
      tokens.push({ ...(this.tokens[this.cursor] as Tok) });
    }
    if (count !== 0) this.fail(`Syntax error: Unexpected token '${this.val()}', expecting '}'`);
    return tokens;
  }
}

/**
 * Reads a Corefile as CoreDNS does. Throws CorefileError (with the line CoreDNS names and its reason) where
 * CoreDNS's parser fails; unknown plugins and invisible file imports are reported, not thrown.
 */
export function readAsCoreDns(text: string, options: ReadOptions = {}): CoreDnsReading {
  const source = options.source ?? 'Corefile';
  const tokens = lexCorefile(text, source).tokens.map((t) => ({ text: t.text, line: t.line }));
  const reader = new Reader(tokens, source, options.env ?? {});
  const blocks = reader.read();
  return { blocks, unknownPlugins: reader.unknownPlugins, fileImports: reader.fileImports };
}
