/**
 * The only module that touches hnswlib-node. Labels are catalog slots. hnswlib is
 * synchronous and single-threaded, so every call here runs to completion on the main
 * thread: searches and writes cannot interleave. Capacity doubles as items arrive;
 * deletions are tombstones whose slots the catalog reuses (replaceDeleted).
 */
import HnswLib from "hnswlib-node";

export interface HnswParams {
  m: number;
  efConstruction: number;
  efSearch: number;
}

export class HnswIndex {
  private index: HnswLib.HierarchicalNSW;
  private deleted = new Set<number>();

  constructor(
    readonly dim: number,
    private readonly params: HnswParams,
    capacity = 1024,
  ) {
    this.index = new HnswLib.HierarchicalNSW("ip", dim);
    this.index.initIndex({ maxElements: Math.max(capacity, 16), m: params.m, efConstruction: params.efConstruction, randomSeed: 100, allowReplaceDeleted: true });
  }

  static read(path: string, dim: number, params: HnswParams): HnswIndex {
    const idx = new HnswIndex(dim, params, 16);
    idx.index.readIndexSync(path, true);
    return idx;
  }

  write(path: string): void {
    this.index.writeIndexSync(path);
  }

  get capacity(): number {
    return this.index.getMaxElements();
  }

  get count(): number {
    return this.index.getCurrentCount();
  }

  get deletedCount(): number {
    return this.deleted.size;
  }

  /** Adds or replaces the vector of a slot. */
  upsert(slot: number, vector: Float32Array): void {
    const point = Array.from(vector);
    if (this.deleted.has(slot)) {
      this.deleted.delete(slot);
      // A tombstoned label is brought back and overwritten in place.
      this.index.unmarkDelete(slot);
      this.index.addPoint(point, slot);
      return;
    }
    if (this.count >= this.capacity) this.index.resizeIndex(this.capacity * 2);
    this.index.addPoint(point, slot);
  }

  remove(slot: number): void {
    if (this.deleted.has(slot)) return;
    this.index.markDelete(slot);
    this.deleted.add(slot);
  }

  /** Top-k slots by inner product, best first, among slots that pass the filter. */
  search(query: Float32Array, k: number, filter?: (slot: number) => boolean): { slot: number; score: number }[] {
    const live = this.count - this.deleted.size;
    const n = Math.min(k, live);
    if (n <= 0) return [];
    this.index.setEf(Math.max(this.params.efSearch, n));
    const res = this.index.searchKnn(Array.from(query), n, filter);
    // hnswlib's inner-product distance is 1 - dot.
    return res.neighbors.map((slot, i) => ({ slot, score: 1 - res.distances[i]! }));
  }
}
