/**
 * Micro-batching: concurrent callers' items are gathered into one encoder run, flushed
 * when maxBatch items wait or the oldest has waited maxWaitMs. While every worker is busy,
 * items keep gathering, so batches grow with load. The queue is bounded: past maxQueue
 * waiting items, submit fails at once with OVERLOADED instead of letting latency grow.
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
}

export class MicroBatcher<I, O> {
  private queue: Entry<I, O>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;

  constructor(
    private readonly opts: BatcherOptions,
    private readonly runBatch: (items: I[]) => Promise<O[]>,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** deadline: an absolute performance.now() time; items still queued after it are dropped unrun. */
  submit(item: I, deadline = Infinity): Promise<O> {
    if (this.queue.length >= this.opts.maxQueue) return Promise.reject(overloaded(`the ${this.opts.name} encoder queue`));
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject, enqueued: performance.now(), deadline });
      this.schedule();
    });
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
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.inFlight >= this.opts.concurrency || !this.queue.length) return;
    const now = performance.now();
    // Work whose caller has given up is abandoned here, before it costs an encoder run.
    if (this.queue.some((e) => e.deadline <= now)) {
      this.queue = this.queue.filter((e) => {
        if (e.deadline > now) return true;
        e.reject(new NewsrecError("DEADLINE_EXCEEDED", `the request deadline passed while waiting for the ${this.opts.name} encoder`));
        return false;
      });
      if (!this.queue.length) return;
    }
    const batch = this.queue.splice(0, this.opts.maxBatch);
    this.opts.onBatch?.(batch.length, batch.map((e) => (now - e.enqueued) / 1000));
    this.inFlight++;
    this.runBatch(batch.map((e) => e.item)).then(
      (outs) => batch.forEach((e, i) => e.resolve(outs[i]!)),
      (err) => batch.forEach((e) => e.reject(err)),
    ).finally(() => {
      this.inFlight--;
      this.schedule();
    });
    this.schedule();
  }
}
