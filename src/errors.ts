/**
 * The named errors of mk8s-addons. Only src/cli.ts turns them into exit codes; everything else throws.
 *
 * Exit codes (documented in the README):
 * - 0 done (including "already enabled")
 * - 1 a step failed (after rollback, unless --no-rollback)
 * - 2 invalid input: nothing on the node was changed
 * - 3 a precondition is not met (MicroK8s not found or stopped, worker node, lock held, permissions)
 */
export const EXIT = { ok: 0, step: 1, usage: 2, precondition: 3, internal: 70 } as const;

export type ErrorCode = 'usage' | 'precondition' | 'step' | 'internal';

/**
 * Credentials in URLs (`https://user:password@host`) replaced by `***`: every message mk8s-addons prints
 * goes through it (a kubeconfig's server URL may carry them, and so may a library's error message).
 */
export function redactSecrets(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1***@');
}

export abstract class Mk8sError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly exitCode: number;
  /** Hierarchical phase the error belongs to, e.g. `enable/cilium/cni-config`. */
  readonly phase: string | undefined;
  /** Set once the error was already written as a JSON event (so the CLI does not write it twice). */
  reported = false;

  constructor(message: string, options: { phase?: string; cause?: unknown } = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.phase = options.phase;
  }
}

/** Bad command line or bad input file: one line that says what to do instead. Exit 2. */
export class UsageError extends Mk8sError {
  readonly code = 'usage' as const;
  readonly exitCode = EXIT.usage;
  override readonly name = 'UsageError';
}

/** The node is not in a state where the command can run (not MicroK8s, stopped, worker, lock held). Exit 3. */
export class PreconditionError extends Mk8sError {
  readonly code = 'precondition' as const;
  readonly exitCode = EXIT.precondition;
  override readonly name = 'PreconditionError';
}

/** A step failed while changing the node. Exit 1. */
export class StepError extends Mk8sError {
  readonly code = 'step' as const;
  readonly exitCode = EXIT.step;
  override readonly name = 'StepError';
}

/** A catalogue manifest (addons/NAME/manifest.yaml) is broken: a packaging bug, named by file and field. */
export class CatalogueError extends Mk8sError {
  readonly code = 'internal' as const;
  readonly exitCode = EXIT.internal;
  override readonly name = 'CatalogueError';
}

/** A bug in mk8s-addons. */
export class InternalError extends Mk8sError {
  readonly code = 'internal' as const;
  readonly exitCode = EXIT.internal;
  override readonly name = 'InternalError';
}

export const BUG_REPORT_HINT = 'this is a bug in mk8s-addons: please report it with the command you ran and this message';
