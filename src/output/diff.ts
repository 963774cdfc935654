/** Unified diffs for --dry-run. */
// The patch module alone (4 modules), not the package's index (19): every run on a node loads this.
import { createTwoFilesPatch } from 'diff/lib/patch/create.js';

export function unifiedDiff(file: string, before: string, after: string): string {
  return createTwoFilesPatch(file, file, before, after, 'now', 'after', { context: 2 })
    .split('\n')
    .filter((l) => !l.startsWith('=====') && !l.startsWith('Index: '))
    .join('\n')
    .trimEnd();
}
