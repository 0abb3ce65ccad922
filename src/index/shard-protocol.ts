/** Messages between the main thread (index/sharded.ts) and an index worker (index/shard-worker.ts). */
import type { HnswParams } from "./hnsw.ts";
import type { ShardColumns } from "./shard-columns.ts";
import type { ShardHits, ShardQuery } from "./shard-search.ts";

export interface ShardWorkerInit {
  dim: number;
  phi: number;
  params: HnswParams;
  shards: number;
  /** The shards this worker holds. */
  own: number[];
  /** Each held shard's initial capacity. */
  capacity: number;
  /**
   * [0]: 0 run on; STOP exit 0; CRASH exit 1. Read between any two graph operations, so a worker
   * ends at a safe point: one terminated inside hnswlib's addPoint aborts the whole process.
   */
  stop: Int32Array;
}

/** Values of ShardWorkerInit.stop[0]. */
export const STOP = 1;
export const CRASH = 2;

/**
 * A batch of writes in the order the catalog made them: kind 1 upserts the next vector of
 * `vectors`, kind 0 removes, kind 2 marks a slot that a graph read from disk holds as a tombstone.
 */
export interface WriteBatch {
  t: "writes";
  kinds: Uint8Array;
  slots: Int32Array;
  vectors: Float32Array;
}

export type ToShardWorker =
  | { t: "columns"; columns: ShardColumns }
  | WriteBatch
  | { t: "search"; id: number; shards: number[]; q: ShardQuery }
  /** Messages of one turn of the main thread's event loop, handled in order. */
  | { t: "batch"; ms: ToShardWorker[] }
  | { t: "read"; id: number; shard: number; path: string }
  | { t: "write"; id: number; shard: number; path: string }
  | { t: "sync"; id: number }
  /** A replacement worker: build the held shards from the columns' live slots below `rows`. */
  | { t: "rebuild"; id: number; rows: number }
  /** Wakes an idle worker to read its stop flag. */
  | { t: "stop" };

export type FromShardWorker =
  | { t: "ready" }
  | { t: "hits"; id: number; hits: ShardHits }
  | { t: "done"; id: number; error?: string }
  | { t: "fault"; error: string }
  /** The answers to one batch's searches, posted together. */
  | { t: "replies"; ms: FromShardWorker[] }
  /** Still at work on a long batch of writes or a rebuild (at most every ALIVE_EVERY_MS). */
  | { t: "alive" };

/** How often a worker busy with graph writes says so; the main thread's stall timeout is at least twice this. */
export const ALIVE_EVERY_MS = 50;
