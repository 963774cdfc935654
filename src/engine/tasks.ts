/**
 * The Listr2 wiring of the engine: how runs are shown (default renderer on a TTY, simple when not, silent
 * for --output json), typed task lists, and nothing else. What a task does is the executor's
 * (src/engine/executor.ts); what is recorded, the recorder's (src/engine/recorder.ts). listr2 is loaded
 * only when a run starts (`loadListr`), so that the commands that show no task list never load it.
 */
import type { Listr as ListrClass, ListrRendererFactory, ListrTask, ListrTaskWrapper } from 'listr2';
import type { EventSink } from '../output/events.js';

type Renderer = ListrRendererFactory;
/** A task of an engine run (the runs share no Listr context: what they share is in the executor). */
export type EngineTask = ListrTask<void, Renderer, Renderer>;
/** What a running task may do to its own line: skip it, show output, open its subtasks. */
export type EngineTaskWrapper = ListrTaskWrapper<void, Renderer, Renderer>;
export type RendererName = 'default' | 'simple' | 'silent';

export type ListrModule = typeof ListrClass;

/** Starts loading listr2 (call it early: it loads while hooks run); `runTasks` awaits it. */
export function loadListr(): Promise<ListrModule> {
  const loaded = import('listr2').then((m) => m.Listr);
  loaded.catch(() => undefined);
  return loaded;
}

export function rendererFor(sink: EventSink): RendererName {
  return sink.mode === 'json' ? 'silent' : sink.mode === 'pretty' && process.stdout.isTTY ? 'default' : 'simple';
}

/** Runs a task list to its end or its first error (the engine's rollback takes it from there). */
export async function runTasks(listr: Promise<ListrModule>, tasks: EngineTask[], sink: EventSink, options: { collapseSubtasks?: boolean } = {}): Promise<void> {
  const Listr = await listr;
  const list = new Listr<void, RendererName, RendererName>(tasks, {
    renderer: rendererFor(sink),
    exitOnError: true,
    // Ctrl+C is the node session's (it cancels the running step and rolls back), not Listr's.
    registerSignalListeners: false,
    ...(options.collapseSubtasks === false ? { rendererOptions: { collapseSubtasks: false } } : {}),
  });
  await list.run();
}

/**
 * A group of tasks under one title, run in order (an addon's steps). `subtasks` may skip the group's line
 * (and return no subtasks) when there is nothing to do.
 */
export function group(title: string, subtasks: (task: EngineTaskWrapper) => EngineTask[] | undefined | Promise<EngineTask[] | undefined>, options: { persistentOutput?: boolean } = {}): EngineTask {
  return {
    title,
    task: async (_ctx, task) => {
      const list = await subtasks(task);
      if (list === undefined) return undefined;
      return task.newListr(list, { concurrent: false, exitOnError: true, ...(options.persistentOutput ? { rendererOptions: { persistentOutput: true } } : {}) });
    },
  };
}
