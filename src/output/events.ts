/**
 * The event stream of a run. With `--output json`: newline-delimited JSON on stdout and nothing else
 * there, one event per line. Otherwise Listr2 renders the steps and the sink keeps notes to print after
 * the renderer is done (never above a live renderer).
 */
import type { Writable } from 'node:stream';
import type { OutputMode } from '../grammar.js';
import { redactSecrets } from '../errors.js';

export type StepStatus = 'started' | 'done' | 'skipped' | 'failed' | 'undone' | 'would-change';

export interface StepEvent {
  phase: string;
  status: StepStatus;
  /** True when this step changed the node. */
  changed: boolean;
  summary?: string;
  detail?: string;
  /** --dry-run: the command lines apply would run (CheckResult.commands, printed). */
  commands?: string[];
  /** --dry-run, an args-flag step: the service, the flag and the value apply would set (null: removed). */
  args?: { service: string; flag: string; to: string | null };
}

export interface EventSink {
  readonly mode: OutputMode;
  step(e: StepEvent): void;
  note(phase: string, message: string): void;
  /** Writes what was held back (notes) once the renderer is done. */
  flush(): void;
  error(e: { code: string; phase: string | null; message: string }): void;
  plan(event: Record<string, unknown>): void;
  result(r: { ok: boolean; changed: number; restarts: Record<string, number>; dryRun?: boolean }): void;
}

export function createSink(mode: OutputMode, out: Writable): EventSink {
  const notes: string[] = [];
  const emit = (e: Record<string, unknown>) => out.write(`${redactSecrets(JSON.stringify(e))}\n`);
  return {
    mode,
    step(e) {
      if (mode === 'json') emit({ type: 'step', ...e });
    },
    note(phase, message) {
      if (mode === 'json') emit({ type: 'note', phase, message });
      else notes.push(redactSecrets(`${phase}: ${message}`));
    },
    error(e) {
      if (mode === 'json') emit({ type: 'error', ...e });
    },
    plan(event) {
      if (mode === 'json') emit(event);
    },
    flush() {
      for (const n of notes.splice(0)) out.write(`${n}\n`);
    },
    result(r) {
      if (mode === 'json') {
        emit({ type: 'result', ...r });
        return;
      }
      this.flush();
      const restarts = Object.entries(r.restarts).map(([d, n]) => `${d} x${n}`);
      out.write(`${r.dryRun ? 'dry run: nothing changed' : `${r.changed} step(s) changed the node`}; service restarts: ${restarts.length ? restarts.join(', ') : 'none'}\n`);
    },
  };
}
