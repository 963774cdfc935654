/**
 * The pod-file step kind: copies one program out of a running pod's image onto the node, as MicroK8s's
 * Cilium script copied the agent's CLI (`kubectl cp`): exec `tar cf -` in the container through the API
 * and unpack the one file. The program is looked up on the container's PATH (the image decides where it
 * lives). check: the node file exists (`enabled: false`: nothing to copy); undo: the node file goes back to
 * what it was (absent).
 */
import path from 'node:path';
import * as fs from '../../adapters/fs.js';
import * as kube from '../../adapters/kube.js';
import type { FileState } from '../../adapters/fs.js';
import type { Step } from '../step.js';
import type { StepKindImpl } from './types.js';
import { InternalError, StepError } from '../../errors.js';
import { undoWaitMs } from './helm.js';

/** The first regular file of a tar stream (ustar/GNU/pax headers): its name, mode and bytes. */
export function firstTarFile(tar: Buffer): { name: string; mode: number; data: Buffer } | undefined {
  let at = 0;
  let longName: string | undefined;
  while (at + 512 <= tar.length) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) return undefined;
    const text = (from: number, len: number) => header.subarray(from, from + len).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(text(124, 12).trim() || '0', 8);
    const type = text(156, 1) || '0';
    const data = tar.subarray(at + 512, at + 512 + size);
    if (data.length < size) return undefined;
    if (type === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '');
    else if (type === '0' || type === '7') {
      const prefix = text(345, 155);
      return { name: longName ?? (prefix ? `${prefix}/${text(0, 100)}` : text(0, 100)), mode: parseInt(text(100, 8).trim() || '644', 8), data: Buffer.from(data) };
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

/** `tar cf - PROGRAM` run in the folder of PROGRAM on the container's PATH; the name goes as $0, never into the script. */
export const tarProgramCommand = (program: string): string[] => ['sh', '-c', 'cd "$(dirname "$(command -v "$0")")" && exec tar cf - "$(basename "$0")"', program];

const podFile: StepKindImpl = {
  kind: 'pod-file',
  create(seed): Step {
    const p = seed.params;
    for (const key of ['namespace', 'selector', 'container', 'program', 'path']) {
      if (typeof p[key] !== 'string' || p[key] === '') throw new InternalError(`step ${seed.phase}: parameter "${key}" must be a non-empty string`);
    }
    const [namespace, selector, container, program, file] = [p.namespace, p.selector, p.container, p.program, p.path] as [string, string, string, string, string];
    const enabled = p.enabled !== false;
    return {
      ...seed.meta,
      touches: () => [file],
      async check() {
        if (!enabled) return { satisfied: true, summary: `${program} is not copied: no container runs it here` };
        return (await fs.exists(file))
          ? { satisfied: true, summary: `${file} is there` }
          : { satisfied: false, summary: `copy ${program} out of a ${selector} pod (container ${container}) to ${file}`, detail: `exec in the pod: ${tarProgramCommand(program).join(' ')}` };
      },
      async prepare() {
        return { path: file, previous: await fs.fileState(file) };
      },
      async apply(ctx) {
        const k = await kube.connect(ctx.kubeconfig);
        const pods = await kube.listPods(k, { namespace, labelSelector: selector });
        const ready = pods.find((pod) => pod.status?.phase === 'Running' && (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));
        if (!ready?.metadata?.name) throw new StepError(`no Ready pod with ${selector} in ${namespace} to copy ${program} from`, { phase: seed.phase });
        const tar = await kube.execCapture(k, { namespace, pod: ready.metadata.name, container }, tarProgramCommand(program), { timeoutMs: undoWaitMs(ctx) });
        const entry = firstTarFile(tar);
        if (!entry || path.basename(entry.name) !== program) throw new StepError(`the tar stream from ${ready.metadata.name} holds no ${program} (${tar.length} bytes)`, { phase: seed.phase });
        await fs.writeAtomic(file, entry.data, { mode: 0o755 });
        ctx.note(`copied ${program} (${(entry.data.length / 1e6).toFixed(1)} MB) from pod ${namespace}/${ready.metadata.name} to ${file}`);
      },
      undo: (ctx, record) => podFile.undo(ctx, record),
    };
  },
  async undo(_ctx, record) {
    const file = record.path as string;
    const had = await fs.exists(file);
    await fs.restoreState(file, record.previous as FileState);
    return had !== (await fs.exists(file));
  },
};

export const POD_FILE_KINDS: readonly StepKindImpl[] = [podFile];
