/**
 * An exact-scoring run's messages between the pool and an encoder worker, one ArrayBuffer each
 * way. A structured clone of nested objects holding typed arrays (feeds, dims, an int64 k)
 * costs the main thread several microseconds per message, where one flat buffer costs about a
 * copy; on the demo catalog every cache-hit retrieve is one such run (benchmarks/RESULTS.md,
 * "Cache-hit hot path").
 *
 * Ask: int32 [id, batch, k, rows], then float32 queries [batch · dim].
 * Answer: int32 [id, batch, k, 0], then float32 scores [batch · k], then int32 rows [batch · k].
 * Row indices fit int32: a catalog's slots are counted in int32 everywhere else too.
 */

const HEAD = 4;
const I32 = Int32Array.BYTES_PER_ELEMENT;

export interface TopKAsk {
  id: number;
  batch: number;
  k: number;
  rows: number;
  queries: Float32Array;
}

export interface TopKRows {
  scores: Float32Array;
  indices: Int32Array;
}

export function encodeAsk(id: number, queries: Float32Array, batch: number, k: number, rows: number, dim: number): ArrayBuffer {
  const buf = new ArrayBuffer((HEAD + batch * dim) * I32);
  new Int32Array(buf, 0, HEAD).set([id, batch, k, rows]);
  new Float32Array(buf, HEAD * I32, batch * dim).set(queries.subarray(0, batch * dim));
  return buf;
}

export function decodeAsk(buf: ArrayBuffer): TopKAsk {
  const [id, batch, k, rows] = new Int32Array(buf, 0, HEAD) as unknown as [number, number, number, number];
  return { id, batch, k, rows, queries: new Float32Array(buf, HEAD * I32) };
}

/** indices: the graph's int64 row numbers (or any numbers), batch · k of them. */
export function encodeAnswer(id: number, batch: number, k: number, scores: Float32Array, indices: ArrayLike<bigint | number>): ArrayBuffer {
  const n = batch * k;
  const buf = new ArrayBuffer((HEAD + 2 * n) * I32);
  new Int32Array(buf, 0, HEAD).set([id, batch, k, 0]);
  new Float32Array(buf, HEAD * I32, n).set(scores.subarray(0, n));
  const rows = new Int32Array(buf, (HEAD + n) * I32, n);
  for (let i = 0; i < n; i++) rows[i] = Number(indices[i]);
  return buf;
}

/** The answer's run id. */
export function answerId(buf: ArrayBuffer): number {
  return new Int32Array(buf, 0, 1)[0]!;
}

export function decodeAnswer(buf: ArrayBuffer): TopKRows {
  const head = new Int32Array(buf, 0, HEAD);
  const n = head[1]! * head[2]!;
  return { scores: new Float32Array(buf, HEAD * I32, n), indices: new Int32Array(buf, (HEAD + n) * I32, n) };
}
