/**
 * A supervised pool of encoder worker threads; each run goes to the live worker with the
 * fewest runs in flight.
 *
 * A worker that dies (its thread exits, or throws an uncaught error) is taken out at once:
 * its runs fail with UNAVAILABLE, nothing is sent to it again, and a replacement starts after
 * a backoff. A worker that does not answer a run within runTimeoutMs is presumed hung and
 * treated the same way, terminated first. While no worker is alive, runs fail at once rather
 * than wait for one: the caller's client can retry elsewhere.
 */
import { Worker } from "node:worker_threads";
import { NewsrecError } from "../errors.ts";
import { type Feed, type Provider, TRANSFER_MIN_BYTES } from "./onnx.ts";
import type { WorkerHello, WorkerInit, WorkerReply, WorkerRequest } from "./worker.ts";
import type { SharedMatrix } from "../index/shared-matrix.ts";
import { answerId, decodeAnswer, encodeAsk, type TopKRows } from "./topk-wire.ts";

type Outputs = Record<string, { data: Float32Array; dims: readonly number[] }>;

export interface PoolOptions {
  log: (line: string) => void;
  /** A run unanswered this long means a hung worker (default 30 s). */
  runTimeoutMs?: number;
  /** The first restart's delay (default 100 ms); it doubles with each failure in a row, up to 10 s. */
  restartDelayMs?: number;
  /** The worker's entry module (tests load the real worker through one that injects faults). */
  entry?: URL;
  /** A replacement worker is up. */
  onRestart?: () => void;
  /** The count of live workers changed. */
  onAlive?: (alive: number) => void;
}

const MAX_RESTART_DELAY_MS = 10_000;
/** A worker that lived this long was healthy: the next death starts the backoff afresh. */
const STABLE_MS = 60_000;

interface Member {
  worker: Worker;
  /** Kept here: worker.threadId reads -1 once the thread has stopped. */
  threadId: number;
  slot: number;
  alive: boolean;
  inFlight: number;
  startedAt: number;
  /** The catalog matrix's vectors this worker was last handed (a run sends the matrix only when it changes). */
  matrixSent: Float32Array | null;
}

interface Run {
  resolve: (o: Outputs | TopKRows) => void;
  reject: (e: Error) => void;
  member: Member;
  /** performance.now() when sent: the watchdog's reference. */
  sentAt: number;
}

/**
 * Run from the sources, a worker first registers tsx (worker-entry.mjs) to load worker.ts; the
 * build (dist/) has a compiled worker.js that runs as it is, with no TypeScript loader installed.
 */
const DEFAULT_ENTRY = import.meta.url.endsWith(".ts") ? new URL("./worker-entry.mjs", import.meta.url) : new URL("./worker.js", import.meta.url);

export class WorkerPool {
  private readonly members: (Member | null)[];
  /** Deaths in a row per slot (the backoff exponent). */
  private readonly failures: number[];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  /** Checks the oldest run in flight against runTimeoutMs (one timer for the pool, not one per run). */
  private readonly watchdog: NodeJS.Timeout;
  /** Workers still starting, so that close() can end them too. */
  private readonly starting = new Set<Worker>();
  private readonly pending = new Map<number, Run>();
  private readonly waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly url: URL;
  private readonly runTimeoutMs: number;
  private readonly restartDelayMs: number;
  private nextId = 1;
  private closed = false;
  alive = 0;
  provider: Provider = "cpu";

  private constructor(
    private readonly init: WorkerInit,
    private readonly o: PoolOptions,
    size: number,
  ) {
    this.members = Array.from({ length: size }, () => null);
    this.failures = Array.from({ length: size }, () => 0);
    this.url = o.entry ?? DEFAULT_ENTRY;
    this.runTimeoutMs = o.runTimeoutMs ?? 30_000;
    this.restartDelayMs = o.restartDelayMs ?? 100;
    this.watchdog = setInterval(() => this.checkHung(), Math.max(10, Math.min(1000, this.runTimeoutMs / 4)));
    this.watchdog.unref();
  }

  static async start(size: number, init: WorkerInit, o: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(init, o, size);
    try {
      await Promise.all(pool.members.map((_, slot) => pool.spawn(slot, slot === 0)));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.members.length;
  }

  /** The live workers' thread ids (diagnostics, fault drills). */
  get threadIds(): number[] {
    return this.members.flatMap((m) => (m?.alive ? [m.threadId] : []));
  }

  /** Why runs cannot be served now, or null when they can. */
  get unavailableReason(): string | null {
    if (this.closed) return "encoders are closed";
    if (this.alive === 0) return `no live encoder worker (0 of ${this.size}; restarting)`;
    return null;
  }

  /** Resolves once every slot has a live worker. */
  whenAllAlive(): Promise<void> {
    if (this.closed) return Promise.reject(new NewsrecError("UNAVAILABLE", "encoders are closed"));
    if (this.alive === this.size) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * Ends one worker's thread the way a crash would: the pool learns of it from the exit event,
   * like any other death, and replaces it.
   */
  async terminateWorker(threadId: number): Promise<void> {
    const m = this.members.find((m) => m?.alive && m.threadId === threadId);
    if (!m) throw new Error(`no live encoder worker with thread id ${threadId}`);
    await m.worker.terminate();
  }

  /** Runs an encoder (news or user) in the least busy live worker. */
  run(encoder: "news" | "user", feeds: Record<string, Feed>, outputs: string[]): Promise<Outputs> {
    const transfer: ArrayBuffer[] = [];
    for (const name in feeds) {
      const buffer = feeds[name]!.data.buffer as ArrayBuffer;
      if (buffer.byteLength >= TRANSFER_MIN_BYTES) transfer.push(buffer);
    }
    return this.send((m, id) => m.worker.postMessage({ id, encoder, feeds, outputs } satisfies WorkerRequest, transfer)) as Promise<Outputs>;
  }

  /**
   * Runs the exact-scoring graph over `matrix`, which is shared with the worker, never copied or
   * transferred: a worker is handed it once (posting it is most of a small run's cost), then each
   * run names only its row count. Ask and answer travel as one flat buffer each (topk-wire.ts).
   */
  runTopK(queries: Float32Array, batch: number, k: number, matrix: SharedMatrix): Promise<TopKRows> {
    return this.send((m, id) => {
      if (m.matrixSent !== matrix.vectors) {
        m.worker.postMessage({ matrix: { vectors: matrix.vectors, stamps: matrix.stamps, dim: matrix.dim } } satisfies WorkerRequest);
        m.matrixSent = matrix.vectors;
      }
      const ask = encodeAsk(id, queries, batch, k, matrix.rows, matrix.dim);
      m.worker.postMessage(ask, ask.byteLength >= TRANSFER_MIN_BYTES ? [ask] : []);
    }) as Promise<TopKRows>;
  }

  /** Posts a run (`post`) to the live worker with the fewest in flight; settles with its answer. */
  private send(post: (m: Member, id: number) => void): Promise<unknown> {
    const reason = this.unavailableReason;
    if (reason) return Promise.reject(new NewsrecError("UNAVAILABLE", `${reason}; retry`));
    let member: Member | null = null;
    for (const m of this.members) if (m?.alive && (!member || m.inFlight < member.inFlight)) member = m;
    const m = member!;
    const id = this.nextId;
    // Exact runs carry their id as int32 (topk-wire.ts); a run outstanding through 2^31 others is long retired.
    this.nextId = id >= 0x7fffffff ? 1 : id + 1;
    m.inFlight++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, member: m, sentAt: performance.now() });
      post(m, id);
    });
  }

  /** The oldest run in flight (runs are kept in the order sent) past runTimeoutMs marks its worker hung. */
  private checkHung(): void {
    const now = performance.now();
    for (const [id, run] of this.pending) {
      if (now - run.sentAt < this.runTimeoutMs) return;
      // Retiring the worker fails and removes each of its runs, this one included (a Map's
      // iteration skips entries deleted meanwhile).
      if (run.member.alive) this.hung(run.member);
      else if (this.pending.delete(id)) run.reject(new NewsrecError("UNAVAILABLE", `encoder worker ${run.member.threadId} is gone; retry`));
    }
  }

  /** Starts the worker of one slot and waits for its sessions to open. */
  private async spawn(slot: number, logHello: boolean): Promise<void> {
    const worker = new Worker(this.url, { workerData: this.init });
    this.starting.add(worker);
    let hello: WorkerHello;
    try {
      hello = await new Promise<WorkerHello>((resolve, reject) => {
        const onExit = (code: number) => reject(new Error(`encoder worker exited with code ${code} while starting`));
        worker.once("message", (m: WorkerHello) => {
          // Only our own listeners go: removeAllListeners would also drop the worker's internal port hooks.
          worker.off("error", reject);
          worker.off("exit", onExit);
          resolve(m);
        });
        worker.once("error", reject);
        worker.once("exit", onExit);
      });
      if (!hello.ready) throw new Error(hello.error);
    } catch (err) {
      void worker.terminate();
      throw err;
    } finally {
      this.starting.delete(worker);
    }
    if (this.closed) {
      void worker.terminate();
      return;
    }
    if (logHello) for (const l of hello.logs) this.o.log(l);
    this.provider = hello.provider;
    const m: Member = { worker, threadId: worker.threadId, slot, alive: true, inFlight: 0, startedAt: performance.now(), matrixSent: null };
    worker.on("message", (r: WorkerReply | ArrayBuffer) => this.onReply(r));
    const name = `encoder worker ${m.threadId}`;
    // The error's own text goes to the log only: clients see that the worker died, not its internals.
    worker.on("error", (err) => this.retire(m, `${name} died (uncaught exception)`, `${name} died (uncaught exception: ${err.message})`));
    worker.on("exit", (code) => this.retire(m, `${name} died (exit code ${code})`));
    this.members[slot] = m;
    this.setAlive(this.alive + 1);
  }

  private onReply(r: WorkerReply | ArrayBuffer): void {
    const id = r instanceof ArrayBuffer ? answerId(r) : r.id;
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.member.inFlight--;
    if (r instanceof ArrayBuffer) p.resolve(decodeAnswer(r));
    else if ("error" in r) p.reject(new Error(`encoder failed: ${r.error}`));
    else p.resolve(r.outputs);
  }

  /** A run went unanswered: the worker is presumed hung, so it goes, and every run it holds fails. */
  private hung(m: Member): void {
    this.retire(m, `encoder worker ${m.threadId} did not answer within ${this.runTimeoutMs} ms`);
    // Its exit (once a stuck native call returns, if ever) finds it already retired.
    m.worker.terminate().catch(() => {});
  }

  /**
   * Takes a worker out for good: nothing is sent to it again, its runs fail now, and its slot
   * gets a new worker. message: what its callers are told; detail: what the log says.
   */
  private retire(m: Member, message: string, detail = message): void {
    if (!m.alive) return;
    m.alive = false;
    if (this.members[m.slot] === m) this.members[m.slot] = null;
    const err = new NewsrecError("UNAVAILABLE", `${this.closed ? "encoders are closed" : message}; retry`);
    for (const [id, p] of this.pending) {
      if (p.member !== m) continue;
      this.pending.delete(id);
      p.reject(err);
    }
    m.inFlight = 0;
    this.setAlive(this.alive - 1);
    if (this.closed) return;
    if (performance.now() - m.startedAt >= STABLE_MS) this.failures[m.slot] = 0;
    const delay = this.scheduleRestart(m.slot);
    this.o.log(`${detail}; ${this.alive} of ${this.size} alive; restarting in ${delay} ms`);
  }

  /** Replaces a slot's worker after the backoff; a failed start backs off further and tries again. */
  private scheduleRestart(slot: number): number {
    const delay = Math.min(Math.max(MAX_RESTART_DELAY_MS, this.restartDelayMs), this.restartDelayMs * 2 ** this.failures[slot]!);
    this.failures[slot]!++;
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      this.spawn(slot, false).then(
        () => {
          if (this.closed) return;
          this.o.log(`encoder worker ${this.members[slot]!.threadId} restarted (slot ${slot}); ${this.alive} of ${this.size} alive`);
          this.o.onRestart?.();
        },
        (err: Error) => {
          if (this.closed) return;
          const next = this.scheduleRestart(slot);
          this.o.log(`encoder worker for slot ${slot} failed to start (${err.message}); retrying in ${next} ms`);
        },
      );
    }, delay);
    this.restartTimers.add(timer);
    return delay;
  }

  private setAlive(n: number): void {
    this.alive = n;
    this.o.onAlive?.(n);
    if (n === this.size) for (const w of this.waiters.splice(0)) w.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    for (const w of this.waiters.splice(0)) w.reject(new NewsrecError("UNAVAILABLE", "encoders are closed"));
    const workers = [...this.starting, ...this.members.flatMap((m) => (m ? [m.worker] : []))];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
