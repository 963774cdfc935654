/**
 * `--from FILE`: saved output sent in for support, its format detected. Pure.
 * Accepted: `bpftool -j net list` (or `-jp`), `bpftool net list` (also its tc entry lines alone, as `grep`
 * leaves them), and a transcript of `tc filter show dev IF ingress|egress` calls with their command lines.
 */
import { UsageError } from '../errors.js';
import type { Observation } from './model.js';
import { looksLikeBpftoolEntries, looksLikeBpftoolText, parseBpftoolEntries, parseBpftoolJson, parseBpftoolText } from './bpftool.js';
import { looksLikeTcFilterShow, readTcTranscript } from './tc.js';

/** The caveat of every saved listing: interfaces without programs are not in it. */
export const SAVED_NOTE =
  'a saved listing shows only interfaces that carry programs: an lxc interface with none at all cannot be seen; run mk8s-addons datapath on the node to check those';

/** A note for lines inside bpftool's sections that are not entries. */
export function unparsedNote(unparsed: readonly string[]): string[] {
  if (unparsed.length === 0) return [];
  const one = unparsed.length === 1;
  return [`skipped ${unparsed.length} line${one ? ' that is not a' : 's that are not'} bpftool net list entr${one ? 'y' : 'ies'}, the first: "${unparsed[0]}"`];
}

/** Detects the format of saved output and parses it. */
export function parseSavedOutput(text: string, origin: string): Observation {
  const start = text.trimStart()[0];
  if (start === '[' || start === '{') {
    return { source: 'bpftool-json', attachments: parseBpftoolJson(text, origin), links: null, notes: [SAVED_NOTE] };
  }
  if (looksLikeBpftoolText(text)) {
    const parsed = parseBpftoolText(text);
    return { source: 'bpftool-text', attachments: parsed.attachments, links: null, notes: [SAVED_NOTE, ...unparsedNote(parsed.unparsed)] };
  }
  if (looksLikeBpftoolEntries(text)) {
    // Entry lines without the headers: a filtered listing, judged only for what its lines show.
    const parsed = parseBpftoolEntries(text);
    return { source: 'bpftool-text', attachments: parsed.attachments, links: null, notes: [SAVED_NOTE, ...unparsedNote(parsed.unparsed)], coverage: { kind: 'lines' } };
  }
  if (looksLikeTcFilterShow(text)) {
    const { attachments, queried } = readTcTranscript(text, origin);
    return {
      source: 'tc',
      attachments,
      links: null,
      notes: [SAVED_NOTE, 'tc filter show does not list tcx attachments (Cilium 1.16 and newer on kernel 6.6+): send bpftool net list output for those'],
      coverage: { kind: 'hooks', queried },
    };
  }
  throw new UsageError(
    `cannot tell what ${origin} holds: give the output of bpftool -j net list, bpftool net list, or tc filter show dev IF ingress with its command line`,
  );
}
