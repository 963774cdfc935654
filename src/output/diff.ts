/** Unified diffs for --dry-run. */
import { createTwoFilesPatch } from 'diff';

export function unifiedDiff(file: string, before: string, after: string): string {
  return createTwoFilesPatch(file, file, before, after, 'now', 'after', { context: 2 })
    .split('\n')
    .filter((l) => !l.startsWith('=====') && !l.startsWith('Index: '))
    .join('\n')
    .trimEnd();
}
