/**
 * The schema of a compatibility table (addons/<name>/manifest.yaml `compatibility:`), apart from
 * compatibility.ts so that checking a pair at run time does not load the schema library.
 */
import * as v from 'valibot';
import semverValidRange from 'semver/ranges/valid.js';
import { MINOR_RE, TESTED_RE, type CompatibilityEntry } from './compatibility.js';

export const compatibilityEntrySchema = v.strictObject({
  minor: v.pipe(v.string(), v.regex(MINOR_RE, 'must be a minor version such as "1.16"')),
  requires: v.optional(v.pipe(v.string(), v.check((s) => semverValidRange(s) !== null, 'must be a semver range such as ">= 1.21.0-0"'))),
  tested: v.pipe(v.string(), v.regex(TESTED_RE, 'must be a range of Kubernetes minors such as "1.27 - 1.30"')),
  older: v.picklist(['unsupported', 'untested']),
});

export const compatibilityTableSchema = v.array(compatibilityEntrySchema);

// The schema and the interface in compatibility.ts describe the same thing.
const _same: v.InferOutput<typeof compatibilityEntrySchema> extends CompatibilityEntry ? true : never = true;
void _same;
