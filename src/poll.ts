/**
 * The one readiness poller: asks `probe` until it says done, then returns its value; when `timeoutMs`
 * passes, throws `timedOut(last reason)`. A probe that throws ends the wait with that error (a probe
 * that can fail transiently says so as a reason instead). Waits `intervalMs` between probes, never past
 * the deadline.
 */
export type Probe<T> = () => Promise<{ done: true; value: T } | { done: false; reason: string }>;

export interface PollOptions {
  timeoutMs: number;
  intervalMs: number;
  /** The error for a wait that timed out, given the last probe's reason. */
  timedOut(reason: string): Error;
}

export async function pollUntil<T>(probe: Probe<T>, opts: PollOptions): Promise<T> {
  const end = Date.now() + opts.timeoutMs;
  for (;;) {
    const r = await probe();
    if (r.done) return r.value;
    const left = end - Date.now();
    if (left <= 0) throw opts.timedOut(r.reason);
    await new Promise((resolve) => setTimeout(resolve, Math.min(opts.intervalMs, left)));
  }
}
