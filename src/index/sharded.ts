/**
 * The catalog's graph index in worker threads, so that graph walks and filtered searches never
 * hold the main thread's event loop. The catalog's slots are split into `shards` graphs by
 * slot % shards; a worker holds one or more shards (layout "sharded": each shard on one worker,
 * a search fanned out to every worker and the answers merged) or every worker holds the one
 * graph (layout "replicated": each write to every worker, a search to the least busy).
 * benchmarks/index-layout.ts measures both.
 *
 * Writes and searches are queued here, in the order they were made, and posted at the end of
 * the turn of the event loop as one message per worker (under load, the searches of every
 * request parsed in that turn: one hand-over and one wake-up of each worker for all of them,
 * and one message back). A worker handles its port's messages one at a time and in order, so
 * a search sees every write made before it was asked and no half of one.
 */
import { Worker } from "node:worker_threads";
import type { HnswParams } from "./hnsw.ts";
import { autoBeam } from "./hnsw.ts";
import type { ShardColumns } from "./shard-columns.ts";
import { CRASH, STOP, type FromShardWorker, type ShardWorkerInit, type ToShardWorker } from "./shard-protocol.ts";
import type { ShardHits, ShardQuery } from "./shard-search.ts";
import { TopK } from "./exact.ts";
import { StallWatch } from "./stall-watch.ts";

/** How long a stopping index worker may take to reach a safe point before it is terminated. */
const STOP_GRACE_MS = 10_000;

export type IndexLayout = "sharded" | "replicated";

export interface ShardedOptions {
  /** Worker threads. */
  workers: number;
  /** Graphs; 1 with the replicated layout. */
  shards: number;
  layout: IndexLayout;
  /** The worker script (tests); by default the one beside this module. */
  entry?: URL;
  /**
   * A worker that has searches outstanding and sends nothing for this long is taken for a stuck
   * one (a native call that never returns: alive, so no exit event): its searches fail, and it is
   * ended and replaced as a dead one is. Default 10 s; at least twice ALIVE_EVERY_MS.
   */
  runTimeoutMs?: number;
}

const DEFAULT_ENTRY = import.meta.url.endsWith(".ts") ? new URL("./shard-worker-entry.mjs", import.meta.url) : new URL("./shard-worker.js", import.meta.url);

interface Member {
  worker: Worker;
  /** Writes not yet sealed into the outbox, in order. */
  kinds: number[];
  slots: number[];
  vectors: Float32Array[];
  /** Messages for the end of this turn, in order: sealed write batches and searches. */
  outbox: ToShardWorker[];
  /** Searches posted and not answered (the replicated layout's balance). */
  busy: number;
}

type Waiter = { resolve: (h: ShardHits | null) => void; reject: (e: Error) => void };

/** A search as the catalog asks it: everything of ShardQuery but the beam and the row count. */
export type IndexQuery = Omit<ShardQuery, "efSearch" | "rows"> & { rows: number };

export class ShardedIndex {
  readonly shards: number;
  readonly layout: IndexLayout;
  private readonly members: Member[];
  private readonly holders: number[][];
  private readonly waiting = new Map<number, Waiter & { left: number; parts: ShardHits[]; to: number[] }>();
  private nextId = 1;
  private flushScheduled = false;
  /** Per slot: 0 never indexed, 1 live, 2 tombstone. */
  private state = new Uint8Array(1024);
  private live = 0;
  private tombstones = 0;
  private readonly perShard: number[];
  private readonly capacityPerShard: number[];
  /** A fault no replacement mends (a write a worker could not apply, or close()): every search fails. */
  private failure: string | null = null;
  private closed = false;
  readonly ready: Promise<void>;

  constructor(
    readonly dim: number,
    readonly phi: number,
    private params: HnswParams,
    capacity: number,
    o: ShardedOptions,
  ) {
    if (!(phi > 0)) throw new Error("HNSW phi must be positive");
    this.params = { ...params };
    this.layout = o.layout;
    this.shards = o.layout === "replicated" ? 1 : Math.max(1, o.shards);
    const workers = Math.max(1, o.layout === "replicated" ? o.workers : Math.min(o.workers, this.shards));
    this.holders = Array.from({ length: this.shards }, (_, s) => (o.layout === "replicated" ? Array.from({ length: workers }, (_, w) => w) : [s % workers]));
    const perShardCapacity = Math.max(16, Math.ceil(capacity / this.shards));
    this.perShard = new Array(this.shards).fill(0);
    this.capacityPerShard = new Array(this.shards).fill(perShardCapacity);
    this.entry = o.entry ?? DEFAULT_ENTRY;
    this.inits = Array.from({ length: workers }, (_, w) => {
      const own = this.holders.flatMap((h, s) => (h.includes(w) ? [s] : []));
      return { dim, phi, params: this.params, shards: this.shards, own, capacity: perShardCapacity, stop: new Int32Array(new SharedArrayBuffer(4)) };
    });
    this.stalls = new StallWatch(
      workers,
      o.runTimeoutMs,
      (w) => this.stuck(w),
      (w) => this.failure !== null || this.down.has(w),
    );
    const starts: Promise<void>[] = [];
    this.members = this.inits.map((init, w) => {
      const { worker, started } = this.spawn(w, init);
      starts.push(started);
      return { worker, kinds: [], slots: [], vectors: [], outbox: [], busy: 0 };
    });
    this.ready = Promise.all(starts).then(() => {});
    this.ready.catch(() => {});
  }

  /** Workers given up on while alive: asked to stop, unreferenced, and no longer awaited or reported. */
  private readonly retired = new WeakSet<Worker>();

  /** A stuck worker is given up on and replaced as a dead one is. */
  private stuck(w: number): void {
    void this.stopWorker(w, CRASH);
    const worker = this.members[w]!.worker;
    this.retired.add(worker);
    worker.unref();
    this.died(w, `did not answer within ${this.stalls.timeoutMs} ms`);
  }

  private readonly stalls: StallWatch;
  private readonly entry: URL;
  private readonly inits: ShardWorkerInit[];
  private columns: ShardColumns | null = null;
  /** Index workers being replaced (with why), and deaths in a row per worker (the backoff exponent). */
  private readonly down = new Map<number, string>();
  private readonly deaths: number[] = [];
  /** Worker deaths and recoveries, one line each (the server's log). */
  onEvent: (line: string) => void = () => {};
  /** Index workers replaced after dying (newsrec_index_worker_restarts_total). */
  restarts = 0;

  /** Workers whose thread has ended. */
  private readonly exited = new WeakSet<Worker>();

  /**
   * Ends worker w at its next safe point (between two graph operations: see
   * ShardWorkerInit.stop), with exit code 0 (STOP) or 1 (CRASH); resolves once it has exited.
   * A worker stuck in one native call longer than STOP_GRACE_MS is terminated, the last resort
   * (one only slow gets to a safe point; ending it inside hnswlib's addPoint would abort the process).
   */
  private stopWorker(w: number, how: typeof STOP | typeof CRASH): Promise<void> {
    const worker = this.members[w]!.worker;
    if (this.exited.has(worker) || this.retired.has(worker)) return Promise.resolve();
    Atomics.store(this.inits[w]!.stop, 0, how);
    return new Promise((resolve) => {
      const last = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
      last.unref();
      worker.once("exit", () => {
        clearTimeout(last);
        resolve();
      });
      worker.postMessage({ t: "stop" } satisfies ToShardWorker);
    });
  }

  private spawn(w: number, init: ShardWorkerInit): { worker: Worker; started: Promise<void> } {
    const worker = new Worker(this.entry, { workerData: init });
    const started = new Promise<void>((resolve, reject) => {
      const onMessage = (m: FromShardWorker) => {
        if (m.t !== "ready") return;
        worker.off("message", onMessage);
        resolve();
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
    });
    started.catch(() => {});
    worker.on("message", (m: FromShardWorker) => {
      if (this.members[w]?.worker !== worker) return;
      this.stalls.heard(w);
      this.onMessage(m, w);
    });
    worker.on("error", (err) => this.onEvent(`index worker ${w} failed: ${err.message}`));
    worker.on("exit", (code) => {
      this.exited.add(worker);
      if (!this.closed && this.members[w]?.worker === worker && !this.retired.has(worker)) this.died(w, `exited (code ${code})`);
    });
    return { worker, started };
  }

  /**
   * A dead index worker (or a stuck one, ended: `what` says which) is replaced and rebuilds its
   * graphs from the shared columns (every live slot's vector), after a wait that doubles with
   * each death in a row (100 ms to 10 s). Until then searches fail at once with the reason, and
   * readiness says it; writes go on (they are in the columns, and queued writes follow the
   * rebuild on the new worker's port).
   */
  private died(w: number, what: string): void {
    const reason = `index worker ${w} ${what}; rebuilding its graphs`;
    this.down.set(w, reason);
    const n = (this.deaths[w] = (this.deaths[w] ?? 0) + 1);
    const delay = Math.min(10_000, 100 * 2 ** (n - 1));
    // Its unanswered requests fail now; other workers' go on.
    for (const [id, waiter] of this.waiting)
      if (waiter.to.includes(w)) {
        this.waiting.delete(id);
        waiter.reject(new Error(reason));
      }
    // Its searches not yet posted were among those failed; its writes stay queued for the new worker.
    const dead = this.members[w]!;
    dead.outbox = dead.outbox.filter((m) => m.t !== "search");
    this.stalls.forget(w);
    this.onEvent(`index worker ${w} ${what}; replacing it in ${delay} ms`);
    const timer = setTimeout(() => {
      if (this.closed) return;
      const t0 = performance.now();
      const m = this.members[w]!;
      // A stop flag of its own: the worker it replaces may still be on its way to its next safe point.
      this.inits[w] = { ...this.inits[w]!, stop: new Int32Array(new SharedArrayBuffer(4)) };
      const { worker } = this.spawn(w, this.inits[w]!);
      m.worker = worker;
      m.busy = 0;
      this.stalls.starting(w);
      if (this.columns) worker.postMessage({ t: "columns", columns: this.columns } satisfies ToShardWorker);
      const id = this.nextId++;
      this.stalls.asked(w, id, true);
      this.rebuilding.set(id, () => {
        this.down.delete(w);
        this.deaths[w] = 0;
        this.restarts++;
        this.onEvent(`index worker ${w} replaced; its graphs rebuilt in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      });
      worker.postMessage({ t: "rebuild", id, rows: this.state.length } satisfies ToShardWorker);
      // Writes queued meanwhile follow the rebuild on the new port.
      this.flush();
    }, delay);
    timer.unref();
  }

  private readonly rebuilding = new Map<number, () => void>();

  get workers(): number {
    return this.members.length;
  }

  /** Why searches cannot be answered (a write failed, or every holder of a graph is being replaced), or null. */
  get unavailableReason(): string | null {
    if (this.failure) return this.failure;
    const orphan = this.holders.find((hs) => hs.every((w) => this.down.has(w)));
    return orphan ? orphan.map((w) => this.down.get(w)).join("; ") : null;
  }

  private fail(reason: string): void {
    if (this.failure) return;
    this.failure = reason;
    for (const w of this.waiting.values()) w.reject(new Error(reason));
    this.waiting.clear();
  }

  /** A message from worker `from`. */
  private onMessage(m: FromShardWorker, from: number): void {
    if (m.t === "replies") {
      for (const r of m.ms) this.onMessage(r, from);
      return;
    }
    if (m.t === "fault") {
      this.fail(m.error);
      return;
    }
    if (m.t === "ready") this.stalls.ready(from);
    if (m.t === "ready" || m.t === "alive") return;
    this.stalls.answered(from, m.id);
    const rebuilt = this.rebuilding.get(m.id);
    if (rebuilt) {
      this.rebuilding.delete(m.id);
      rebuilt();
      return;
    }
    const w = this.waiting.get(m.id);
    if (!w) return;
    if (m.t === "done" && m.error) {
      this.waiting.delete(m.id);
      w.reject(new Error(m.error));
      return;
    }
    if (m.t === "hits") w.parts.push(m.hits);
    if (--w.left > 0) return;
    this.waiting.delete(m.id);
    w.resolve(w.parts.length ? merge(w.parts, Number.POSITIVE_INFINITY) : null);
  }

  private ask(to: number[], message: (id: number, worker: number) => ToShardWorker): Promise<ShardHits | null> {
    if (this.failure) return Promise.reject(new Error(this.failure));
    const down = to.find((w) => this.down.has(w));
    if (down !== undefined) return Promise.reject(new Error(this.down.get(down)));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, left: to.length, parts: [], to });
      for (const w of to) {
        const msg = message(id, w);
        this.stalls.asked(w, id, msg.t === "read" || msg.t === "write");
        if (msg.t !== "search") {
          // Reads, graph writes and syncs go at once, behind everything queued before them.
          this.flush();
          this.members[w]!.worker.postMessage(msg);
          continue;
        }
        const m = this.members[w]!;
        this.seal(m);
        m.outbox.push(msg);
        this.schedule();
      }
    });
  }

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** The columns the workers read (the catalog posts new ones whenever it grows them). */
  setColumns(columns: ShardColumns): void {
    this.flush();
    this.columns = columns;
    for (const m of this.members) m.worker.postMessage({ t: "columns", columns } satisfies ToShardWorker);
  }

  private queue(slot: number, kind: number, vector?: Float32Array): void {
    for (const w of this.holders[slot % this.shards]!) {
      const m = this.members[w]!;
      m.kinds.push(kind);
      m.slots.push(slot);
      if (vector) m.vectors.push(vector);
    }
    this.schedule();
  }

  /** Moves a member's pending writes into its outbox as one batch (before a search that must see them). */
  private seal(m: Member): void {
    if (!m.kinds.length) return;
    const vectors = new Float32Array(m.vectors.length * this.dim);
    m.vectors.forEach((v, i) => vectors.set(v, i * this.dim));
    m.outbox.push({ t: "writes", kinds: Uint8Array.from(m.kinds), slots: Int32Array.from(m.slots), vectors });
    m.kinds = [];
    m.slots = [];
    m.vectors = [];
  }

  /** Posts everything queued, one message per worker (at the end of each turn, or before a message that must follow it). */
  flush(): void {
    this.flushScheduled = false;
    for (const m of this.members) {
      this.seal(m);
      if (!m.outbox.length) continue;
      const transfer = m.outbox.flatMap((x) =>
        x.t === "writes" ? [x.kinds.buffer as ArrayBuffer, x.slots.buffer as ArrayBuffer, x.vectors.buffer as ArrayBuffer] : [],
      );
      m.worker.postMessage(m.outbox.length === 1 ? m.outbox[0]! : ({ t: "batch", ms: m.outbox } satisfies ToShardWorker), transfer);
      m.outbox = [];
    }
  }

  private stateOf(slot: number): number {
    return slot < this.state.length ? this.state[slot]! : 0;
  }

  private setState(slot: number, s: number): void {
    if (slot >= this.state.length) {
      let cap = this.state.length;
      while (cap <= slot) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.state);
      this.state = next;
    }
    this.state[slot] = s;
  }

  /** Adds or replaces the vector of a slot (the vector is copied now). */
  upsert(slot: number, vector: Float32Array): void {
    const was = this.stateOf(slot);
    if (was === 0) {
      const s = slot % this.shards;
      if (++this.perShard[s]! > this.capacityPerShard[s]!) this.capacityPerShard[s]! *= 2;
    }
    if (was !== 1) this.live++;
    if (was === 2) this.tombstones--;
    this.setState(slot, 1);
    this.queue(slot, 1, vector.slice());
  }

  remove(slot: number): void {
    if (this.stateOf(slot) !== 1) return;
    this.setState(slot, 2);
    this.live--;
    this.tombstones++;
    this.queue(slot, 0);
  }

  /** After the shards' graphs were read from disk: these labels are tombstones already. */
  adoptDeleted(slots: number[]): void {
    for (const s of slots) {
      if (this.stateOf(s) === 1) this.live--;
      if (this.stateOf(s) !== 2) this.tombstones++;
      this.setState(s, 2);
      this.queue(s, 2);
    }
  }

  /**
   * Reads each shard's graph (`paths[shard]`) in its workers, in parallel; the files hold the
   * slots below `slots` (tombstones among them are adopted after, as the catalog restores).
   * The returned promise settles once they are read; later writes and searches wait behind it.
   */
  read(paths: string[], slots: number): Promise<void> {
    if (paths.length !== this.shards) throw new Error(`the snapshot has ${paths.length} graphs, this index ${this.shards} shards`);
    this.live = 0;
    this.tombstones = 0;
    this.perShard.fill(0);
    for (let s = 0; s < slots; s++) {
      this.setState(s, 1);
      this.live++;
      this.perShard[s % this.shards]!++;
    }
    this.perShard.forEach((n, s) => (this.capacityPerShard[s] = Math.max(n, 16)));
    return Promise.all(paths.map((path, shard) => this.ask(this.holders[shard]!, (id) => ({ t: "read", id, shard, path })))).then(() => {});
  }

  /** Writes each shard's graph to `paths[shard]`; the catalog must not change until it resolves. */
  async write(paths: string[]): Promise<void> {
    await Promise.all(paths.map((path, shard) => this.ask([this.holderOf(shard)], (id) => ({ t: "write", id, shard, path }))));
  }

  /** The least busy holder of a shard that is not being replaced (any holder when all are: asking it fails). */
  private holderOf(shard: number): number {
    const hs = this.holders[shard]!.filter((w) => !this.down.has(w));
    let best = hs[0] ?? this.holders[shard]![0]!;
    for (const w of hs) if (this.members[w]!.busy < this.members[best]!.busy) best = w;
    return best;
  }

  /** Resolves once every write made so far is in the graphs. */
  async sync(): Promise<void> {
    await this.ask(
      this.members.map((_, w) => w),
      (id) => ({ t: "sync", id }),
    );
  }

  get count(): number {
    return this.live + this.tombstones;
  }

  get deletedCount(): number {
    return this.tombstones;
  }

  get capacity(): number {
    return this.capacityPerShard.reduce((a, b) => a + b, 0);
  }

  set efSearch(ef: number) {
    this.params.efSearch = ef;
    this.params.efSearchAuto = false;
  }

  /** The beam each shard's walk uses (with the size-aware default, by the whole catalog's size). */
  get efSearch(): number {
    return this.params.efSearchAuto ? autoBeam(this.live, this.params.efSearch) : this.params.efSearch;
  }

  /** The best k of the catalog for the query among the items that pass its filter (checked again by the caller). */
  async search(q: IndexQuery): Promise<ShardHits> {
    const query: ShardQuery = { ...q, efSearch: this.efSearch, budget: Math.ceil(q.budget / this.shards) };
    const byWorker = new Map<number, number[]>();
    for (let s = 0; s < this.shards; s++) {
      const best = this.holderOf(s);
      byWorker.set(best, [...(byWorker.get(best) ?? []), s]);
    }
    const to = [...byWorker.keys()];
    to.forEach((w) => this.members[w]!.busy++);
    try {
      const hits = await this.ask(to, (id, w) => ({ t: "search", id, shards: byWorker.get(w)!, q: query }));
      if (!hits) return { slots: new Int32Array(0), scores: new Float32Array(0), scored: 0, calls: 0 };
      // Merged best first: the first k are the catalog's best k.
      return { ...hits, slots: hits.slots.subarray(0, q.k), scores: hits.scores.subarray(0, q.k) };
    } finally {
      to.forEach((w) => this.members[w]!.busy--);
    }
  }

  /** Ends one index worker's thread as a crash would, exit code 1 and its graphs lost (fault drills, tests). */
  async terminateWorker(w: number): Promise<void> {
    await this.stopWorker(w, CRASH);
  }

  /** Ends every index worker at its next safe point, even in the middle of a burst of writes. */
  async close(): Promise<void> {
    this.closed = true;
    this.stalls.close();
    this.fail("the index is closed");
    await Promise.all(this.members.map((_, w) => this.stopWorker(w, STOP)));
  }
}

/** The best k (at most `k`) of several shards' answers, best first. */
function merge(parts: ShardHits[], k: number): ShardHits {
  if (parts.length === 1) return parts[0]!;
  const n = Math.min(
    k,
    parts.reduce((a, p) => a + p.slots.length, 0),
  );
  const top = new TopK(n);
  let scored = 0;
  let calls = 0;
  for (const p of parts) {
    p.slots.forEach((s, i) => top.push(s, p.scores[i]!));
    scored += p.scored;
    calls += p.calls;
  }
  const r = top.result();
  return { slots: Int32Array.from(r, (x) => x.slot), scores: Float32Array.from(r, (x) => x.score), scored, calls };
}
