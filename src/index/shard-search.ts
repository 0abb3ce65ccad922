/**
 * One shard's part of a search, as an index worker runs it (index/shard-worker.ts). A shard is
 * an HNSW graph over the catalog slots s with s % shards === shard; the catalog's vectors,
 * category codes and publication times are columns on shared memory (index/shard-columns.ts),
 * read here without a copy and written only by the main thread.
 *
 * The main thread picks the mode from the number m of items that pass the filter, which it
 * counts in O(categories · log n) (catalog/filters.ts):
 * - graph: no category or age filter; the walk runs without a per-node callback, for k plus the
 *   excluded items, which are dropped after.
 * - scan: the shard's matching items are scored exactly, one pass over its slots in memory order
 *   reading the category and time columns (no graph, no callback).
 * - walk: a broad filter; hnswlib walks with a callback that reads the columns, at most `budget`
 *   calls; a walk cut short with fewer than k found scans instead.
 * Every mode reads a row between two loads of its stamp and passes over one written after the
 * search was asked (`seen`) or while it was read; the main thread checks every answer against
 * the catalog as it is when the answer arrives, likewise, and scores it again. So a search that
 * overlaps writes answers as of when it was asked, short of the items written since: never an
 * item outside its filter, never half of a write.
 */
import { dot, TopK } from "./exact.ts";
import type { HnswIndex } from "./hnsw.ts";
import type { ShardColumns } from "./shard-columns.ts";
import { rowAsOf } from "./shared-matrix.ts";

export type SearchMode = "graph" | "scan" | "walk";

export interface ShardQuery {
  query: Float32Array;
  k: number;
  mode: SearchMode;
  efSearch: number;
  /** Category codes that pass (null: every category). */
  categories: Int32Array | null;
  /** Only items published at or after this time (-Infinity: no bound; items without a time always pass). */
  after: number;
  exclude: Int32Array;
  /** The most filter evaluations a walk makes in one shard. */
  budget: number;
  /** Slots in use (live and free): a scan reads no further. */
  rows: number;
  /** The catalog's write count when the search was asked: rows written later are passed over. */
  seen: number;
}

export interface ShardHits {
  slots: Int32Array;
  scores: Float32Array;
  /** Items scored exactly and filter evaluations made (the work bounds, made visible). */
  scored: number;
  calls: number;
}

function acceptor(cols: ShardColumns, q: ShardQuery, exclude: Set<number>): (slot: number) => boolean {
  let mask: Uint8Array | null = null;
  if (q.categories) {
    mask = new Uint8Array(Math.max(0, ...q.categories) + 1);
    for (const c of q.categories) mask[c] = 1;
  }
  const cats = cols.categories;
  const published = cols.published;
  const after = q.after;
  const { stamps } = cols;
  const seen = q.seen;
  return (slot) => {
    if (!rowAsOf(stamps, slot, seen)) return false;
    const c = cats[slot]!;
    if (c < 0) return false;
    if (mask && mask[c] !== 1) return false;
    if (published[slot]! < after) return false;
    return !exclude.has(slot);
  };
}

function scan(cols: ShardColumns, q: ShardQuery, shard: number, shards: number, accept: (slot: number) => boolean, top: TopK): number {
  const rows = Math.min(q.rows, cols.categories.length);
  const dim = q.query.length;
  let scored = 0;
  for (let s = shard; s < rows; s += shards) {
    if (!accept(s)) continue;
    const score = dot(q.query, cols.vectors, s * dim);
    // Written while it was read: passed over.
    if (!rowAsOf(cols.stamps, s, q.seen)) continue;
    top.push(s, score);
    scored++;
  }
  return scored;
}

/** The shard's best k for the query (slot order among ties), with the work it took. */
export function searchShard(index: HnswIndex, cols: ShardColumns, q: ShardQuery, shard: number, shards: number): ShardHits {
  const exclude = new Set(q.exclude);
  const top = new TopK(q.k);
  const dim = q.query.length;
  let scored = 0;
  let calls = 0;
  if (q.mode === "graph") {
    for (const s of index.search(q.query, q.k + exclude.size, undefined, q.efSearch)) {
      if (exclude.has(s) || !rowAsOf(cols.stamps, s, q.seen) || cols.categories[s]! < 0) continue;
      const score = dot(q.query, cols.vectors, s * dim);
      if (!rowAsOf(cols.stamps, s, q.seen)) continue;
      top.push(s, score);
      scored++;
    }
  } else {
    const accept = acceptor(cols, q, exclude);
    if (q.mode === "scan") scored = scan(cols, q, shard, shards, accept, top);
    else {
      const seen: number[] = [];
      const found = index.search(
        q.query,
        q.k,
        (slot) => {
          if (++calls > q.budget) return true;
          if (!accept(slot)) return false;
          seen.push(slot);
          return true;
        },
        q.efSearch,
      );
      const cut = calls > q.budget;
      calls = Math.min(calls, q.budget);
      if (cut && seen.length < q.k) scored = scan(cols, q, shard, shards, accept, top);
      else {
        for (const s of cut ? seen : found) {
          const score = dot(q.query, cols.vectors, s * dim);
          // Passed by the callback as it was; written since: passed over.
          if (rowAsOf(cols.stamps, s, q.seen)) top.push(s, score);
        }
        scored = cut ? seen.length : found.length;
      }
    }
  }
  const r = top.result();
  return { slots: Int32Array.from(r, (x) => x.slot), scores: Float32Array.from(r, (x) => x.score), scored, calls };
}
