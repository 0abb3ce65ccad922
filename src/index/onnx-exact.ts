/**
 * Exact top-k over the whole catalog by the MatMul + TopK graph (models/scoring/topk.onnx) in
 * an encoder worker: off the main thread, and faster than the JavaScript loop of index/exact.ts
 * at every size measured (7x for one query at 10,000 and 100,000 items, 67x for 32; barely at
 * 2,000, where the round trip to the worker is most of it: benchmarks/RESULTS.md, "Exact
 * scoring"). The matrix goes to the worker shared, not copied (index/shared-matrix.ts).
 *
 * Tombstones: a free slot (a deleted item, awaiting reuse) keeps its last vector in the
 * matrix. Zeroing it would not hide it, since a zero row scores 0 and outranks every live item
 * of negative score; a mask input would cost the graph a pass over N. Instead the graph is
 * asked for k + (free slots) + (excluded slots) rows and those are dropped from its answer:
 * every row dropped is one of them, so k live rows remain whenever the catalog has k. Free
 * slots are few (upserts reuse them first), so the extra rows cost TopK little.
 *
 * Scores are the graph's float32 sums; they differ from the JavaScript dot product (float64
 * sums) by about 1e-6 on the default bundle's vectors. A slot deleted or rewritten while the
 * run was in the worker is judged by its state when the answer comes back.
 */
import type { SharedMatrix } from "./shared-matrix.ts";

/** What the scorer needs of a catalog (store.ts's Catalog). */
export interface ExactCatalog {
  readonly matrix: SharedMatrix;
  /** Live items. */
  readonly size: number;
  /** Whether a slot holds an item (false for a free slot). */
  isLive(slot: number): boolean;
}

/** Runs the graph: Encoders.scoreTopK. */
export type TopKRun = (queries: Float32Array, batch: number, k: number, matrix: SharedMatrix) => Promise<{ scores: Float32Array; indices: BigInt64Array }>;

export interface Scored {
  slot: number;
  score: number;
}

/** For each query, the k live slots of largest dot product that are not excluded, best first. */
export async function onnxExactTopK(
  catalog: ExactCatalog,
  run: TopKRun,
  queries: Float32Array[],
  k: number,
  exclude?: ReadonlySet<number>,
): Promise<Scored[][]> {
  const m = catalog.matrix;
  if (!queries.length || m.rows === 0 || k < 1) return queries.map(() => []);
  const ask = Math.min(m.rows, k + (m.rows - catalog.size) + (exclude?.size ?? 0));
  const flat = new Float32Array(queries.length * m.dim);
  queries.forEach((q, i) => flat.set(q, i * m.dim));
  const { scores, indices } = await run(flat, queries.length, ask, m);
  return queries.map((_, b) => {
    const out: Scored[] = [];
    for (let j = b * ask; j < (b + 1) * ask && out.length < k; j++) {
      const slot = Number(indices[j]);
      if (!catalog.isLive(slot) || exclude?.has(slot)) continue;
      out.push({ slot, score: scores[j]! });
    }
    return out;
  });
}
