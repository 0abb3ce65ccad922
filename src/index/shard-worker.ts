/**
 * An index worker thread: holds some shards' HNSW graphs (index/hnsw.ts, the one adapter of
 * hnswlib-node) and runs their writes and searches, so graph walks never run on the main
 * thread. Messages arrive on one port and are handled one at a time, in order: a search sees
 * every write posted before it and none posted after, and no search sees half a write.
 */
import { parentPort, workerData } from "node:worker_threads";
import { HnswIndex } from "./hnsw.ts";
import type { ShardColumns } from "./shard-columns.ts";
import { ALIVE_EVERY_MS, CRASH, type FromShardWorker, type ShardWorkerInit, type ToShardWorker, type WriteBatch } from "./shard-protocol.ts";
import { searchShard, type ShardHits } from "./shard-search.ts";
import { TopK } from "./exact.ts";

const init = workerData as ShardWorkerInit;
const graphs = new Map<number, HnswIndex>(init.own.map((s) => [s, new HnswIndex(init.dim, init.phi, init.params, init.capacity)]));
let columns: ShardColumns | null = null;
/** While a batch is handled, its answers are gathered here and posted as one message. */
let replies: FromShardWorker[] | null = null;
const post = (m: FromShardWorker) => (replies ? replies.push(m) : parentPort!.postMessage(m));

let lastSign = performance.now();

/**
 * Between two graph operations: ends this thread once the main thread has asked
 * (ShardWorkerInit.stop), and at most every ALIVE_EVERY_MS tells it this thread is still at
 * work (a long batch of writes or a rebuild answers nothing for a while; the main thread takes a
 * worker that is silent with searches outstanding for a stuck one).
 */
function stopIfAsked(): void {
  const s = Atomics.load(init.stop, 0);
  if (s) process.exit(s === CRASH ? 1 : 0);
  const now = performance.now();
  if (now - lastSign >= ALIVE_EVERY_MS) {
    lastSign = now;
    parentPort!.postMessage({ t: "alive" } satisfies FromShardWorker);
  }
}

function graphOf(slot: number): HnswIndex | undefined {
  return graphs.get(slot % init.shards);
}

function applyWrites(b: WriteBatch): void {
  let v = 0;
  const dim = init.dim;
  // Tombstones adopted a graph at a time (each adoption lists the graph's labels once), before the next other write.
  const tombstones = new Map<HnswIndex, number[]>();
  const adopt = () => {
    for (const [g, slots] of tombstones) g.adoptDeleted(slots);
    tombstones.clear();
  };
  for (let i = 0; i < b.kinds.length; i++) {
    stopIfAsked();
    const slot = b.slots[i]!;
    const g = graphOf(slot);
    const kind = b.kinds[i];
    if (kind === 2) {
      if (g) tombstones.get(g)?.push(slot) ?? tombstones.set(g, [slot]);
      continue;
    }
    adopt();
    if (kind === 1) {
      if (g) g.upsert(slot, b.vectors.subarray(v * dim, (v + 1) * dim));
      v++;
    } else if (kind === 0) {
      // A rebuilt graph never held a slot freed before the rebuild: nothing to remove then.
      if (g?.holds(slot)) g.remove(slot);
    }
  }
  adopt();
}

function rebuild(rows: number): void {
  const cols = columns!;
  const n = Math.min(rows, cols.categories.length);
  for (const shard of init.own) {
    let live = 0;
    for (let s = shard; s < n; s += init.shards) if (cols.categories[s]! >= 0) live++;
    const g = new HnswIndex(init.dim, init.phi, init.params, Math.max(16, live));
    for (let s = shard; s < n; s += init.shards) {
      stopIfAsked();
      if (cols.categories[s]! >= 0) g.upsert(s, cols.vectors.subarray(s * init.dim, (s + 1) * init.dim));
    }
    graphs.set(shard, g);
  }
}

function search(shards: number[], q: Extract<ToShardWorker, { t: "search" }>["q"]): ShardHits {
  const cols = columns!;
  if (shards.length === 1) return searchShard(graphs.get(shards[0]!)!, cols, q, shards[0]!, init.shards);
  const top = new TopK(q.k);
  let scored = 0;
  let calls = 0;
  for (const s of shards) {
    const h = searchShard(graphs.get(s)!, cols, q, s, init.shards);
    h.slots.forEach((slot, i) => top.push(slot, h.scores[i]!));
    scored += h.scored;
    calls += h.calls;
  }
  const r = top.result();
  return { slots: Int32Array.from(r, (x) => x.slot), scores: Float32Array.from(r, (x) => x.score), scored, calls };
}

function handle(m: ToShardWorker): void {
  switch (m.t) {
    case "columns":
      columns = m.columns;
      return;
    case "writes":
      try {
        applyWrites(m);
      } catch (err) {
        post({ t: "fault", error: `applying writes: ${(err as Error).message}` });
      }
      return;
    case "search":
      try {
        post({ t: "hits", id: m.id, hits: search(m.shards, m.q) });
      } catch (err) {
        post({ t: "done", id: m.id, error: (err as Error).message });
      }
      return;
    case "read":
      try {
        graphs.set(m.shard, HnswIndex.read(m.path, init.dim, init.phi, init.params));
        post({ t: "done", id: m.id });
      } catch (err) {
        post({ t: "done", id: m.id, error: `cannot read ${m.path}: ${(err as Error).message}` });
      }
      return;
    case "write":
      // Serialised on a libuv thread; searches go on meanwhile, changes wait (see receive).
      writing++;
      graphs
        .get(m.shard)!
        .write(m.path)
        .then(
          () => post({ t: "done", id: m.id }),
          (err: Error) => post({ t: "done", id: m.id, error: err.message }),
        )
        .finally(() => {
          writing--;
          drain();
        });
      return;
    case "sync":
      post({ t: "done", id: m.id });
      return;
    case "stop":
      stopIfAsked();
      return;
    case "rebuild":
      try {
        rebuild(m.rows);
        post({ t: "done", id: m.id });
      } catch (err) {
        post({ t: "fault", error: `rebuilding: ${(err as Error).message}` });
      }
      return;
  }
}

/**
 * While a graph is being written to disk nothing may change it: a write batch or a read then
 * waits, and so does every message after it, so the order of the port is kept.
 */
let writing = 0;
const waiting: ToShardWorker[] = [];
function receive(m: ToShardWorker): void {
  stopIfAsked();
  if (m.t === "batch") {
    replies = [];
    for (const x of m.ms) receive(x);
    const out = replies;
    replies = null;
    if (out.length === 1) post(out[0]!);
    else if (out.length) post({ t: "replies", ms: out });
    return;
  }
  if (waiting.length || (writing && (m.t === "writes" || m.t === "read"))) waiting.push(m);
  else handle(m);
}
function drain(): void {
  while (waiting.length && !(writing && (waiting[0]!.t === "writes" || waiting[0]!.t === "read"))) handle(waiting.shift()!);
}

parentPort!.on("message", receive);
post({ t: "ready" });
