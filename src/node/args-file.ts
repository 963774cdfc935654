/**
 * MicroK8s args files ($SNAP_DATA/args/<service>): one `--flag=value` (or `--flag value`, or a bare
 * `--flag`) per line, `#` comments, `${SNAP_DATA}`-style variables left unexpanded. Pure text edits that
 * keep every other line, comment and the order as they are.
 */

/** The line that sets `flag`, as written, or undefined. */
export interface FlagLine {
  index: number;
  line: string;
  value: string | undefined;
}

const lineFlag = (line: string): string | undefined => /^\s*(--[A-Za-z0-9][A-Za-z0-9-]*)(?:[=\s]|$)/.exec(line)?.[1];

function lineValue(line: string, flag: string): string | undefined {
  const rest = line.trim().slice(flag.length);
  if (rest === '') return undefined;
  return rest.replace(/^[=\s]\s*/, '');
}

function splitLines(text: string): { lines: string[]; trailingNewline: boolean } {
  const trailingNewline = text.endsWith('\n');
  const lines = text === '' ? [] : (trailingNewline ? text.slice(0, -1) : text).split('\n');
  return { lines, trailingNewline };
}

/** Finds the last line that sets `flag` (the one that wins when a flag is repeated). */
export function findFlag(text: string, flag: string): FlagLine | undefined {
  const { lines } = splitLines(text);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] as string;
    if (lineFlag(line) === flag) return { index: i, line, value: lineValue(line, flag) };
  }
  return undefined;
}

/** The value of `flag` (quotes as written), `''` for a bare flag, undefined when absent. */
export function getFlag(text: string, flag: string): string | undefined {
  const found = findFlag(text, flag);
  return found ? (found.value ?? '') : undefined;
}

/**
 * Sets `flag` to `value`: replaces the line that sets it in place (keeping its position), or appends
 * `--flag=value` at the end. A `value` of null writes a bare `--flag`.
 */
export function setFlag(text: string, flag: string, value: string | null): string {
  const wanted = value === null ? flag : `${flag}=${value}`;
  const { lines, trailingNewline } = splitLines(text);
  const found = findFlag(text, flag);
  if (found) {
    lines[found.index] = wanted;
    return lines.join('\n') + (trailingNewline ? '\n' : '');
  }
  // Appending: keep the file's own convention of ending with a newline (args files always do).
  return lines.length === 0 ? `${wanted}\n` : `${lines.join('\n')}\n${wanted}\n`;
}

/** Removes every line that sets `flag`. */
export function removeFlag(text: string, flag: string): string {
  const { lines, trailingNewline } = splitLines(text);
  const kept = lines.filter((l) => lineFlag(l) !== flag);
  if (kept.length === 0) return '';
  return kept.join('\n') + (trailingNewline ? '\n' : '');
}

/** Parses `KEY=value` lines (args/cni-env, containerd-env): comments and shell lines are skipped. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (m) out[m[1] as string] = (m[2] as string).trim().replace(/^"(.*)"$/, '$1');
  }
  return out;
}
