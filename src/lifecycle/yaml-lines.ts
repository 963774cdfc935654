/**
 * YAML with line numbers: js-yaml gives values, not positions, so this reads its node events
 * (`listener`: one `open` and one `close` per node, properly nested) and keeps the line where each
 * mapping key and each sequence item starts, by path. Errors about a value can then name the line of
 * its key (`cluster.yaml:7: addons[1].version: ...`). Pure.
 */
import yaml from 'js-yaml';
import { printableKey } from '../input.js';

/** A path into a YAML document: mapping keys and sequence indexes, outermost first. */
export type YamlPath = readonly (string | number)[];

export interface LocatedYaml {
  /** The document's data (undefined for an empty document). */
  data: unknown;
  /** 1-based line of the node at `path` (a key's line for mapping values), or of its nearest ancestor. */
  lineOf(path: YamlPath): number;
}

interface Frame {
  start: number;
  kind: string | null;
  result: unknown;
  children: Frame[];
}

/** Where the node that starts at or after `pos` really begins: past blanks, line breaks and comments. */
function nodeStart(text: string, pos: number): number {
  let i = pos;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') i++;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1] as string))) {
      while (i < text.length && text[i] !== '\n') i++;
    } else break;
  }
  return i;
}

/** 1-based line numbers of offsets. */
function lineIndex(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

const pathKey = (path: YamlPath) => JSON.stringify(path);

/**
 * Parses one YAML document with the core schema (no timestamps: a date stays a string) and maps paths
 * to lines. Throws js-yaml's YAMLException (with `mark.line`) on a syntax error.
 */
export function loadWithLines(text: string, filename: string): LocatedYaml {
  const root: Frame = { start: 0, kind: null, result: undefined, children: [] };
  const stack: Frame[] = [root];
  const data = yaml.load(text, {
    filename,
    schema: yaml.CORE_SCHEMA,
    listener(event, state) {
      if (event === 'open') {
        stack.push({ start: state.position, kind: null, result: undefined, children: [] });
        return;
      }
      const frame = stack.pop() as Frame;
      frame.kind = state.kind;
      frame.result = state.result;
      (stack.at(-1) as Frame).children.push(frame);
    },
  });
  const line = lineIndex(text);
  const lines = new Map<string, number>();
  const walk = (frame: Frame, path: (string | number)[]) => {
    if (frame.kind === 'mapping') {
      // A mapping's children alternate: key, value.
      for (let i = 0; i + 1 < frame.children.length; i += 2) {
        const key = frame.children[i] as Frame;
        const value = frame.children[i + 1] as Frame;
        const child = [...path, String(key.result)];
        lines.set(pathKey(child), line(nodeStart(text, key.start)));
        walk(value, child);
      }
    } else if (frame.kind === 'sequence') {
      frame.children.forEach((item, index) => {
        const child = [...path, index];
        lines.set(pathKey(child), line(nodeStart(text, item.start)));
        walk(item, child);
      });
    }
  };
  const top = root.children[0];
  if (top) {
    lines.set(pathKey([]), line(nodeStart(text, top.start)));
    walk(top, []);
  }
  return {
    data,
    lineOf(path) {
      for (let n = path.length; n >= 0; n--) {
        const found = lines.get(pathKey(path.slice(0, n)));
        if (found !== undefined) return found;
      }
      return 1;
    },
  };
}

/** `addons[1].values.hubble` (keys that are not plain words are quoted: `values["a.b"]`). */
export function formatPath(path: YamlPath): string {
  let out = '';
  for (const key of path) {
    // A key that does not look like one is described, not echoed (it may be a secret of a file that is no apply file).
    const seg = typeof key === 'number' ? key : printableKey(key);
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
