/** The registry of step kinds: every kind the catalogue may name, with its factory and undo. */
import type { StepKind } from '../../catalogue.js';
import { InternalError } from '../../errors.js';
import type { StepKindImpl } from './types.js';
import { NODE_FILE_KINDS } from './node-files.js';
import { HOST_KINDS } from './host.js';

const registry = new Map<StepKind, StepKindImpl>();
for (const k of [...NODE_FILE_KINDS, ...HOST_KINDS]) registry.set(k.kind, k);

/** Adds kinds that live in other modules (Kubernetes, Helm), loaded only by commands that need them. */
export function registerKinds(kinds: readonly StepKindImpl[]): void {
  for (const k of kinds) registry.set(k.kind, k);
}

export function kindImpl(kind: StepKind): StepKindImpl {
  const impl = registry.get(kind);
  if (!impl) throw new InternalError(`no implementation for step kind "${kind}"`);
  return impl;
}

/** Loads the kinds a set of steps needs that are not built in (their modules are heavy). */
export async function ensureKinds(kinds: Iterable<StepKind>): Promise<void> {
  const wanted = new Set(kinds);
  if ([...wanted].some((k) => k.startsWith('kube-')) && !registry.has('kube-apply')) registerKinds((await import('./kube.js')).KUBE_KINDS);
  if (wanted.has('helm-release') && !registry.has('helm-release')) registerKinds((await import('./helm.js')).HELM_KINDS);
  if (wanted.has('pod-file') && !registry.has('pod-file')) registerKinds((await import('./pod-file.js')).POD_FILE_KINDS);
  if (wanted.has('node-fanout') && !registry.has('node-fanout')) registerKinds([(await import('../../cluster/fan-out.js')).NODE_FANOUT_KIND]);
}
