/**
 * What index workers read of the catalog besides their graphs: the vectors, each slot's
 * category code (FREE for a free slot) and publication time (NaN: none), all on shared memory.
 * Only the main thread writes them (catalog/store.ts); a worker reads them during scans and
 * filtered walks, and the main thread checks every answer again, so a read racing a write can
 * make an answer stale by that item, never wrong.
 */
export interface ShardColumns {
  /** Row-major [capacity, dim]. */
  vectors: Float32Array;
  categories: Int32Array;
  published: Float64Array;
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
