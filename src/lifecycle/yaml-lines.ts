/**
 * YAML with line numbers, from the `yaml` package's parser, which keeps each node's source range; its
 * LineCounter turns offsets into lines. Errors about a value can then name the line of its key
 * (`cluster.yaml:7: addons[1].version: ...`). Pure.
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, visit, type Alias, type Node } from 'yaml';
import { printableKey } from '../input.js';

/** A path into a YAML document: mapping keys and sequence indexes, outermost first. */
export type YamlPath = readonly (string | number)[];

export interface LocatedYaml {
  /** The document's data (undefined for an empty document). */
  data: unknown;
  /** 1-based line of the node at `path` (a key's line for mapping values), or of its nearest ancestor. */
  lineOf(path: YamlPath): number;
}

/** A document that is not YAML: the 1-based line of the first error and what is wrong there. */
export class YamlSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

const pathKey = (path: YamlPath) => JSON.stringify(path);

/**
 * Parses one YAML document with the YAML 1.2 core schema (no timestamps: a date stays a string; unique
 * keys) and maps paths to lines. Throws a YamlSyntaxError on a syntax error or more than one document.
 * Aliases resolve to one shared value per anchor, without a count limit: the caller's checkExpansion
 * (src/input.ts) refuses a document that expands too far, with its own message.
 */
export function loadWithLines(text: string): LocatedYaml {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, schema: 'core', prettyErrors: false, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const reason = error.code === 'MULTIPLE_DOCS' ? 'the file holds more than one document (a line ---); keep one' : (error.message.split('\n')[0] as string);
    throw new YamlSyntaxError(counter.linePos(error.pos[0]).line, reason);
  }
  // An alias to an anchor defined later, or to none, parses; it cannot be resolved.
  let unresolved: Alias | undefined;
  visit(doc, {
    Alias(_, alias) {
      if (alias.resolve(doc) !== undefined) return undefined;
      unresolved = alias;
      return visit.BREAK;
    },
  });
  if (unresolved) {
    throw new YamlSyntaxError(counter.linePos(unresolved.range?.[0] ?? 0).line, `the alias *${unresolved.source} names no anchor defined before it (&${unresolved.source})`);
  }
  const data: unknown = doc.toJS({ maxAliasCount: -1 }) ?? undefined;
  const lineAt = (node: { range?: readonly number[] | null } | null | undefined, fallback: number): number =>
    node?.range ? counter.linePos(node.range[0] as number).line : fallback;
  const lines = new Map<string, number>();
  const walk = (node: Node | null, path: (string | number)[], line: number) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const child = [...path, key];
        const keyLine = lineAt(pair.key as Node | null, line);
        lines.set(pathKey(child), keyLine);
        walk(pair.value as Node | null, child, keyLine);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        const child = [...path, index];
        const itemLine = lineAt(item as Node | null, line);
        lines.set(pathKey(child), itemLine);
        walk(item as Node | null, child, itemLine);
      });
    }
  };
  if (doc.contents) {
    const top = lineAt(doc.contents, 1);
    lines.set(pathKey([]), top);
    walk(doc.contents, [], top);
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
