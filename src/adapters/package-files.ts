/** Where mk8s-addons's own files (addons/, templates/, charts/, vendor/) are: the package root. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { existsSync } from 'node:fs';

// dist/src/adapters/package-files.js -> package root is three levels up.
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const packagePath = (...parts: string[]): string => path.join(PACKAGE_ROOT, ...parts);

/** A tool mk8s-addons ships in vendor/bin (helm, kubectl), else the name to find on PATH. */
export function toolPath(name: 'helm' | 'kubectl'): string {
  const ours = packagePath('vendor', 'bin', name);
  return existsSync(ours) ? ours : name;
}
