/**
 * The shared corpora (../shared/corpora from the project root): real-world inputs with what the real
 * software reads from them. Never copied into the project; a missing folder fails the test that needs it
 * (CI always has ../shared), it never skips.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './cli.js';

export const CORPORA = path.resolve(ROOT, '..', 'shared', 'corpora');

/** The folder of one corpus; throws (failing the test) when it is not there. */
export function corpusDir(name: 'corefiles' | 'corefiles-lexer' | 'bpftool-real' | 'helm-strvals'): string {
  const dir = path.join(CORPORA, name);
  if (!existsSync(dir)) {
    throw new Error(`corpus ${dir} is missing: the tests read the shared corpora from ../shared/corpora beside the project root; lay out ../shared (CI always has it)`);
  }
  return dir;
}

/** One file of a corpus, as text. */
export function corpusText(name: Parameters<typeof corpusDir>[0], file: string): string {
  return readFileSync(path.join(corpusDir(name), file), 'utf8');
}

/** Lines of a JSON Lines file of a corpus, parsed. */
export function corpusJsonl<T>(name: Parameters<typeof corpusDir>[0], file: string): T[] {
  return corpusText(name, file)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}
