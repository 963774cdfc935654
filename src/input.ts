/**
 * Limits on what users hand us in files (-f values files, apply -f files): pure checks, so a hostile or
 * mistaken file is refused with exit 2 before it costs memory, time, or a secret printed back.
 */
import { UsageError } from './errors.js';

/** The largest input file read: Helm cannot store a release over 1 MiB anyway. */
export const MAX_INPUT_BYTES = 1024 * 1024;

/** The most nodes a parsed document may expand to (aliases counted each time they are used). */
export const MAX_EXPANDED_NODES = 1_000_000;

/**
 * Counts the nodes of parsed YAML as a reader of it would see them, each alias expanded where it is
 * used, and refuses (exit 2) a document that expands past `limit` ("billion laughs"). js-yaml shares one
 * object per anchor, so the parse itself is cheap; walking, merging or printing the result is not.
 */
export function checkExpansion(data: unknown, source: string, limit = MAX_EXPANDED_NODES): void {
  let count = 0;
  const stack: unknown[] = [data];
  while (stack.length) {
    const v = stack.pop();
    if (++count > limit) {
      throw new UsageError(`${source} expands to more than ${limit} values (YAML aliases reused over and over); write the values out, or use fewer aliases`);
    }
    if (Array.isArray(v)) stack.push(...v);
    else if (typeof v === 'object' && v !== null) stack.push(...Object.values(v));
  }
}

/** Words, dots, slashes, dashes and spaces, not too long, and no run that looks like an encoded secret. */
const PLAIN_KEY = /^[A-Za-z0-9_./ -]{1,63}$/;
const ENCODED_RUN = /[A-Za-z0-9]{41}/;

/**
 * A key from an input file, fit to print in a message: a plain key as it is; anything else is described,
 * not echoed (a file that is not a values file, such as /etc/shadow, has its secrets in its keys).
 */
export function printableKey(key: string): string {
  return PLAIN_KEY.test(key) && !ENCODED_RUN.test(key) ? key : `<a key of ${key.length} characters>`;
}

/** Whether a top-level key can name a chart value (letters, digits, `_`, `-`, `.`). */
export const isValueName = (key: string): boolean => /^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/.test(key);

/** At most `max` of `lines`, then one line saying how many more there were. */
export function capLines(lines: readonly string[], max: number, more: (n: number) => string): string[] {
  return lines.length <= max ? [...lines] : [...lines.slice(0, max), more(lines.length - max)];
}
