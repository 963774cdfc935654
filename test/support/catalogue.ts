/** Test helpers: the real catalogue, and specs parsed the way the CLI parses them. */
import { loadCatalogue } from '../../src/adapters/catalogue-files.js';
import { defaultGlobals, parseAddonSpecs } from '../../src/grammar.js';
import type { Catalogue } from '../../src/catalogue.js';

// The package's own catalogue, loaded once for the whole test file (top-level await).
const shipped: Catalogue = await loadCatalogue();

export function catalogue(): Catalogue {
  return shipped;
}

export function specs(line: string) {
  const globals = defaultGlobals();
  return { specs: parseAddonSpecs('enable', line.split(' ').filter(Boolean), globals, catalogue()), globals };
}
