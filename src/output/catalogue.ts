/** Renders `list`: name, description, available versions, default. Pure. */
import type { Catalogue } from '../catalogue.js';
import type { OutputMode } from '../grammar.js';
import { pinnedVersions } from '../catalogue.js';

export function renderCatalogue(catalogue: Catalogue, mode: OutputMode): string {
  const rows = catalogue.addons.map((a) => ({
    name: a.name,
    description: a.description,
    versions: a.versions ? pinnedVersions(a) : a.version ? [a.version] : [],
    default: a.versions?.default ?? a.version ?? null,
    requires: a.requires,
  }));
  if (mode === 'json') return `${JSON.stringify({ type: 'catalogue', addons: rows })}\n`;
  const nameWidth = Math.max(4, ...rows.map((r) => r.name.length));
  const out = [`${'NAME'.padEnd(nameWidth)}  DEFAULT  DESCRIPTION`];
  for (const r of rows) {
    out.push(`${r.name.padEnd(nameWidth)}  ${(r.default ?? '-').padEnd(7)}  ${r.description}${r.requires.length ? ` (requires ${r.requires.join(', ')})` : ''}`);
    if (r.versions.length > 1) out.push(`${' '.repeat(nameWidth)}  versions: ${r.versions.join(', ')}`);
  }
  return `${out.join('\n')}\n`;
}
