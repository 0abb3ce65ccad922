/**
 * What index workers read of the catalog besides their graphs: the vectors, each slot's
 * category code (FREE for a free slot) and publication time (NaN: none), all on shared memory,
 * and the rows' write stamps (index/shared-matrix.ts). Only the main thread writes them
 * (catalog/store.ts); a worker reads a row between two loads of its stamp and passes over a row
 * written since its search was asked, or while it read it, and the main thread checks every
 * answer again likewise: an answer that overlapped writes is the catalog as it was when it was
 * asked, short of the items written since, never holding half of a write.
 */
export interface ShardColumns {
  /** Row-major [capacity, dim]. */
  vectors: Float32Array;
  categories: Int32Array;
  published: Float64Array;
  /** The catalog's [id, writes, stamp per row] (SharedMatrix.stamps). */
  stamps: Int32Array;
}

export const FREE = -1;

/** Category codes for `slots` rows on shared memory, FREE where `old` does not reach. */
export function sharedCategories(slots: number, old?: Int32Array): Int32Array {
  const c = new Int32Array(new SharedArrayBuffer(slots * Int32Array.BYTES_PER_ELEMENT)).fill(FREE);
  if (old) c.set(old);
  return c;
}

/** Publication times for `slots` rows on shared memory, NaN where `old` does not reach. */
export function sharedPublished(slots: number, old?: Float64Array): Float64Array {
  const p = new Float64Array(new SharedArrayBuffer(slots * Float64Array.BYTES_PER_ELEMENT)).fill(Number.NaN);
  if (old) p.set(old);
  return p;
}
