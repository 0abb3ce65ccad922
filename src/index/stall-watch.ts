/**
 * Which index workers are stuck: alive (no exit event) but silent, as a native call that never
 * returns leaves a thread. A worker is stuck when it has searches or syncs outstanding and has
 * sent nothing for `timeoutMs`, while nothing that may keep a healthy worker silent is in flight:
 * its start (loading its modules), a graph file read or write, a rebuild. A worker busy with a
 * long batch of writes says so every ALIVE_EVERY_MS (shard-protocol.ts), which counts as heard.
 * The policy (what becomes of a stuck worker) is the index's (sharded.ts).
 */
import { ALIVE_EVERY_MS } from "./shard-protocol.ts";

interface Watched {
  /** Searches and syncs asked and not answered, by id: when each was asked. */
  asked: Map<number, number>;
  /** Operations that may hold the worker silent for long, by id (STARTING among them). */
  long: Set<number>;
  /** When the worker last sent anything. */
  heard: number;
}

/** In `long` from a worker's start until it says it is ready (ids of asks start at 1). */
const STARTING = 0;

export class StallWatch {
  readonly timeoutMs: number;
  private readonly everyMs: number;
  private readonly workers: Watched[];
  private readonly timer: NodeJS.Timeout;
  private lastCheck = performance.now();

  /** `onStuck(w)`: called once per check for each worker found stuck (which is forgotten: `starting` it again watches its replacement). */
  constructor(workers: number, timeoutMs: number | undefined, onStuck: (w: number) => void, skip: (w: number) => boolean) {
    this.timeoutMs = Math.max(2 * ALIVE_EVERY_MS, timeoutMs ?? 10_000);
    this.everyMs = Math.max(ALIVE_EVERY_MS, Math.min(1000, this.timeoutMs / 4));
    this.workers = Array.from({ length: workers }, () => ({ asked: new Map(), long: new Set([STARTING]), heard: performance.now() }));
    this.timer = setInterval(() => {
      for (const w of this.check(skip)) onStuck(w);
    }, this.everyMs);
    this.timer.unref();
  }

  /** A worker (a replacement) is starting: silent until it says it is ready. */
  starting(w: number): void {
    this.workers[w] = { asked: new Map(), long: new Set([STARTING]), heard: performance.now() };
  }

  ready(w: number): void {
    this.workers[w]!.long.delete(STARTING);
  }

  /** Asked of worker w: a search or sync (watched), or a `long` operation (a graph file read or write, a rebuild). */
  asked(w: number, id: number, long = false): void {
    const x = this.workers[w]!;
    if (long) x.long.add(id);
    else x.asked.set(id, performance.now());
  }

  /** Anything came from worker w. */
  heard(w: number): void {
    this.workers[w]!.heard = performance.now();
  }

  /** Worker w answered ask `id`. */
  answered(w: number, id: number): void {
    const x = this.workers[w]!;
    x.asked.delete(id);
    x.long.delete(id);
  }

  /** Workers given up on or dead: nothing of theirs is outstanding any more. */
  forget(w: number): void {
    this.workers[w]!.asked.clear();
    this.workers[w]!.long.clear();
  }

  /**
   * The stuck workers, `skip` aside. A check that comes late finds none: this thread was held,
   * and the workers' messages of the meantime wait behind this timer in the event loop.
   */
  private check(skip: (w: number) => boolean): number[] {
    const now = performance.now();
    const late = now - this.lastCheck > 2 * this.everyMs;
    this.lastCheck = now;
    if (late) return [];
    const stuck: number[] = [];
    this.workers.forEach((x, w) => {
      if (skip(w) || x.long.size || !x.asked.size) return;
      const oldest = x.asked.values().next().value as number;
      if (now - Math.max(oldest, x.heard) >= this.timeoutMs) stuck.push(w);
    });
    return stuck;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
