/** Test helpers: the real catalogue, and specs parsed the way the CLI parses them. */
import { loadCatalogue } from '../../src/adapters/catalogue-files.js';
import { defaultGlobals, parseAddonSpecs } from '../../src/grammar.js';
import type { Catalogue } from '../../src/catalogue.js';

let cached: Catalogue | undefined;
export function catalogue(): Catalogue {
  cached ??= loadCatalogue();
  return cached;
}

export function specs(line: string) {
  const globals = defaultGlobals();
  return { specs: parseAddonSpecs('enable', line.split(' ').filter(Boolean), globals, catalogue()), globals };
}
