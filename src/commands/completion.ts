/**
 * `mk8s-addons completion bash|zsh|fish`: prints the shell's completion script, generated from the
 * catalogue (src/completion/). Reads nothing from the node.
 */
import type { GlobalOptions } from '../grammar.js';
import { parseCommandWords } from '../grammar.js';
import type { Streams } from './index.js';
import { COMPLETION_HELP } from '../help.js';
import { EXIT, UsageError } from '../errors.js';
import { readText } from '../adapters/fs.js';
import { packagePath } from '../adapters/package-files.js';
import { loadCatalogue } from '../adapters/catalogue-files.js';
import { completionSpec } from '../completion/spec.js';
import { completionScript, SHELLS, type Shell } from '../completion/scripts.js';

export async function runCompletion(words: string[], globals: GlobalOptions, io: Streams): Promise<number> {
  const { positional } = parseCommandWords('completion', words, globals, []);
  if (globals.help) {
    io.stdout.write(COMPLETION_HELP);
    return EXIT.ok;
  }
  const [shell, ...extra] = positional;
  if (shell === undefined) throw new UsageError('completion needs a shell: mk8s-addons completion bash|zsh|fish');
  if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`unknown shell "${shell}": mk8s-addons completion bash|zsh|fish`);
  if (extra.length) throw new UsageError(`completion takes one shell; got "${positional.join(' ')}": mk8s-addons completion bash|zsh|fish`);
  const { version } = JSON.parse((await readText(packagePath('package.json'))) as string) as { version: string };
  io.stdout.write(completionScript(shell as Shell, completionSpec(await loadCatalogue()), version));
  return EXIT.ok;
}
