/**
 * The Corefile lexer, as CoreDNS's (github.com/coredns/caddy, caddyfile/lexer.go): tokens with the exact
 * text before each, so that the parser (src/dns/corefile.ts) can print a Corefile back byte for byte and
 * readAsCoreDns (src/dns/coredns-reading.ts) can read it as CoreDNS does. The syntax is described in
 * src/dns/corefile.ts. Pure.
 */
import { Mk8sError, EXIT } from '../errors.js';

/** `word` also covers quoted tokens; `open`/`close` are the braces `{` and `}`. */
export type TokenKind = 'word' | 'open' | 'close';

export interface CorefileToken {
  kind: TokenKind;
  /** Everything between the previous token and this one, exactly as written: whitespace and comments. */
  leading: string;
  /** The token as written, quotes included. */
  raw: string;
  /** The token's value: quotes removed, `\"` resolved, carriage returns outside quotes dropped. Placeholders such as `{$VAR}` are kept as written. */
  text: string;
  /** Whether a line break comes before the token: a new line starts a new directive. */
  startsLine: boolean;
  /** 1-based position in the parsed text (line 0 for tokens an edit added). */
  line: number;
  column: number;
}

/**
 * The Corefile cannot be read, or cannot be edited safely. The message starts with `SOURCE:LINE:COLUMN:`
 * (or `SOURCE:` when no place applies) and says what to change. Exit 3: the cluster's CoreDNS
 * configuration must be fixed before mk8s-addons can manage it.
 */
export class CorefileError extends Mk8sError {
  readonly code = 'precondition' as const;
  readonly exitCode = EXIT.precondition;
  override readonly name = 'CorefileError';
  /** 1-based; 0 when the error has no single place (the column is 0 when only the line is known). */
  readonly line: number;
  readonly column: number;
  readonly reason: string;

  constructor(source: string, at: { line: number; column: number } | undefined, reason: string) {
    super(at ? `${source}:${at.line}${at.column > 0 ? `:${at.column}` : ''}: ${reason}` : `${source}: ${reason}`);
    this.line = at?.line ?? 0;
    this.column = at?.column ?? 0;
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------------------------------
// Lexer

// Go's unicode.IsSpace, which CoreDNS's lexer uses.
const SPACE = new Set([
  '\t', '\n', '\v', '\f', '\r', ' ', '\u0085', '\u00a0', '\u1680', '\u2000', '\u2001', '\u2002', '\u2003',
  '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f',
  '\u205f', '\u3000',
]);
const isSpace = (ch: string | undefined): boolean => ch !== undefined && SPACE.has(ch);

class Positions {
  private readonly lineStarts: number[] = [0];

  constructor(private readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text[i] === '\n') this.lineStarts.push(i + 1);
  }

  /** 1-based line and column (columns count characters, not UTF-16 units) of an offset. */
  at(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    const start = this.lineStarts[lo] as number;
    return { line: lo + 1, column: [...this.text.slice(start, offset)].length + 1 };
  }
}

/** Splits a Corefile into tokens as CoreDNS's lexer does, each with the exact text before it. */
export function lexCorefile(text: string, source: string): { tokens: CorefileToken[]; trailing: string } {
  const pos = new Positions(text);
  const fail = (offset: number, reason: string): never => {
    throw new CorefileError(source, pos.at(offset), reason);
  };
  const tokens: CorefileToken[] = [];
  // CoreDNS drops a leading byte order mark; we keep it as part of the first token's leading text.
  let i = text.startsWith('\ufeff') ? 1 : 0;
  let triviaStart = 0;
  let sawBreak = true; // the first token starts a line

  while (i < text.length) {
    const ch = text[i] as string;
    if (isSpace(ch)) {
      if (ch === '\n') sawBreak = true;
      i++;
      continue;
    }
    if (ch === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }

    const start = i;
    let value: string;
    if (ch === '"') {
      let escaped = false;
      value = '';
      i++;
      for (;;) {
        if (i >= text.length) fail(start, 'unterminated quoted string: add the closing "');
        const c = text[i] as string;
        i++;
        if (!escaped && c === '\\') {
          escaped = true;
          continue;
        }
        if (!escaped && c === '"') break;
        // CoreDNS resolves only \" and keeps any other backslash as written.
        value += escaped && c !== '"' ? `\\${c}` : c;
        escaped = false;
      }
    } else {
      value = '';
      // A carriage return does not end a word: CoreDNS drops it and reads on. One that only comes before
      // whitespace or the end stays out of the token (CRLF line ends stay line ends for the edits).
      for (;;) {
        let j = i;
        while (text[j] === '\r') j++;
        if (j >= text.length || isSpace(text[j]) || text[j] === '#') break;
        value += text[j];
        i = j + 1;
      }
    }
    const raw = text.slice(start, i);
    // CoreDNS compares values: a quoted "{" is a brace to it as well.
    const kind: TokenKind = value === '{' ? 'open' : value === '}' ? 'close' : 'word';
    tokens.push({ kind, leading: text.slice(triviaStart, start), raw, text: value, startsLine: sawBreak, ...pos.at(start) });
    triviaStart = i;
    sawBreak = false;
    // `#` right after a word (not a quoted one): CoreDNS skips up to the next whitespace (a carriage return
    // is not one here). After a quoted token it starts a comment to the end of the line, as at a token start.
    let j = i;
    while (text[j] === '\r') j++;
    if (ch !== '"' && text[j] === '#') {
      i = j;
      while (i < text.length && (text[i] === '\r' || !isSpace(text[i]))) i++;
    }
  }
  return { tokens, trailing: text.slice(triviaStart) };
}
