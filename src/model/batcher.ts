/**
 * Micro-batching: concurrent callers' items are gathered into one encoder run, flushed
 * when maxBatch items wait or the oldest has waited maxWaitMs. While every worker is busy,
 * items keep gathering, so batches grow with load. The queue is bounded: past maxQueue
 * waiting items, submit fails at once with OVERLOADED instead of letting latency grow.
 *
 * A caller stops waiting the moment its deadline passes or its signal aborts, whether its
 * item is still queued (it leaves the queue and never runs) or already in a run (the late
 * result is dropped): a slow or stuck encoder never holds a request past its deadline.
 */
import { NewsrecError, overloaded } from "../errors.ts";

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
  /** Batches allowed in flight at once (normally the worker count). */
  concurrency: number;
  name: string;
  onBatch?: (size: number, queueWaitSeconds: number[]) => void;
}

interface Entry<I, O> {
  item: I;
  /** performance.now() after which nobody waits for this item any more. */
  deadline: number;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
  enqueued: number;
  /** The caller has its answer (a result, or why it stopped waiting); anything later is dropped. */
  done: boolean;
  timer: NodeJS.Timeout | null;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
}

export class MicroBatcher<I, O> {
  private queue: Entry<I, O>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;

  constructor(
    private readonly opts: BatcherOptions,
    private readonly runBatch: (items: I[]) => Promise<O[]>,
  ) {}

  /**
   * deadline: an absolute performance.now() time; signal: aborted when the caller has gone.
   * Either ends the wait at once, rejecting with DEADLINE_EXCEEDED or the signal's reason.
   */
  submit(item: I, deadline = Infinity, signal?: AbortSignal): Promise<O> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.queue.length >= this.opts.maxQueue) return Promise.reject(overloaded(`the ${this.opts.name} encoder queue`));
    const now = performance.now();
    if (deadline <= now) return Promise.reject(this.expired());
    return new Promise<O>((resolve, reject) => {
      const e: Entry<I, O> = { item, resolve, reject, enqueued: now, deadline, done: false, timer: null, signal, onAbort: null };
      // Ref'd on purpose: a caller is waiting on it (an unref'd one could let the loop end first).
      // Past setTimeout's range (24.8 days) it would fire at once; flush still checks such deadlines.
      if (deadline - now < 2 ** 31) e.timer = setTimeout(() => this.abandon(e, this.expired()), deadline - now);
      if (signal) {
        e.onAbort = () => this.abandon(e, signal.reason);
        signal.addEventListener("abort", e.onAbort, { once: true });
      }
      this.queue.push(e);
      this.schedule();
    });
  }

  private expired(): NewsrecError {
    return new NewsrecError("DEADLINE_EXCEEDED", `the request deadline passed while waiting for the ${this.opts.name} encoder`);
  }

  /** The caller stops waiting: a queued item leaves the queue unrun; a running one's result will be dropped. */
  private abandon(e: Entry<I, O>, why: unknown): void {
    if (e.done) return;
    const i = this.queue.indexOf(e);
    if (i >= 0) {
      this.queue.splice(i, 1);
      // Nothing left to flush: a held batch timer would only keep the process awake.
      if (!this.queue.length) this.clearTimer();
    }
    this.settle(e);
    e.reject(why);
  }

  private settle(e: Entry<I, O>): void {
    e.done = true;
    if (e.timer) clearTimeout(e.timer);
    if (e.onAbort) e.signal!.removeEventListener("abort", e.onAbort);
  }

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private schedule(): void {
    if (this.inFlight >= this.opts.concurrency || !this.queue.length) return;
    if (this.queue.length >= this.opts.maxBatch || this.opts.maxWaitMs <= 0) {
      this.flush();
    } else if (!this.timer) {
      const wait = Math.max(0, this.queue[0]!.enqueued + this.opts.maxWaitMs - performance.now());
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, wait);
    }
  }

  private flush(): void {
    this.clearTimer();
    if (this.inFlight >= this.opts.concurrency || !this.queue.length) return;
    const now = performance.now();
    // A deadline can pass before its timer has fired: such work is abandoned here, before it costs a run.
    for (const e of this.queue.filter((e) => e.deadline <= now)) this.abandon(e, this.expired());
    if (!this.queue.length) return;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    this.opts.onBatch?.(
      batch.length,
      batch.map((e) => (now - e.enqueued) / 1000),
    );
    this.inFlight++;
    this.runBatch(batch.map((e) => e.item))
      .then(
        (outs) =>
          batch.forEach((e, i) => {
            if (e.done) return;
            this.settle(e);
            e.resolve(outs[i]!);
          }),
        (err) =>
          batch.forEach((e) => {
            if (e.done) return;
            this.settle(e);
            e.reject(err);
          }),
      )
      .finally(() => {
        this.inFlight--;
        this.schedule();
      });
    this.schedule();
  }
}
