/**
 * The only module that touches hnswlib-node. Labels are catalog slots.
 *
 * Maximum inner product is searched as nearest neighbour: each item x is indexed as
 * [x, sqrt(phi² − |x|²)] and each query q as [q, 0] in L2 space, so that
 * |q' − x'|² = |q|² + phi² − 2 q·x and the nearest item is the one of largest dot product.
 * On clustered news vectors this graph finds the true top-k far more often than hnswlib's
 * "ip" space at the same efSearch. phi must bound the item norms: it comes from the
 * bundle's measured norms with headroom; an item above it is still indexed (extra
 * coordinate 0). The catalog rescores every hit exactly.
 *
 * hnswlib is synchronous and single-threaded, so every call runs to completion on the main
 * thread: searches and writes cannot interleave. Capacity doubles as items arrive;
 * deletions are tombstones whose slots the catalog reuses.
 */
import HnswLib from "hnswlib-node";

export interface HnswParams {
  m: number;
  efConstruction: number;
  efSearch: number;
  /**
   * efSearch is the shipped default rather than a value someone chose: the beam then grows with
   * the catalog up to it (autoBeam), so a small catalog does not pay for a large one's beam.
   */
  efSearchAuto?: boolean;
}

/**
 * The default beam for a catalog of `live` items: one per 50 items, at least 100, at most `cap`
 * up to 100,000 items, and above that a cap that grows by half for every tenfold (1.5 × cap at a
 * million). Measured with `newsrec tune` on the default bundle (uniform histories, the
 * pessimistic bound), the beam that reaches recall@10 0.95 was about 100 at 5,000 items (0.983),
 * 300 at 20,000 (0.972; 200 gave 0.943) and 1,000 at 100,000 (0.954); at a million, in graphs
 * of 100,000 (newsrec embed's default), 1,000 gave 0.960 and 1,500 0.978 (newsrec tune
 * --keep-graph; 0.941 at 1,000 by a server's recall monitor on other users: benchmarks/RESULTS.md).
 * Beyond a million the growth is extrapolated, not measured.
 */
export function autoBeam(live: number, cap: number): number {
  const top = live > 100_000 ? Math.min(MAX_BEAM, Math.round(cap * (1 + 0.5 * Math.log10(live / 100_000)))) : cap;
  return Math.min(top, Math.max(100, Math.ceil(live / 50)));
}

/** The largest beam the size-aware default reaches (the config's efSearch maximum). */
const MAX_BEAM = 4096;

export class HnswIndex {
  private index: HnswLib.HierarchicalNSW;
  private deleted = new Set<number>();

  constructor(
    readonly dim: number,
    readonly phi: number,
    private params: HnswParams,
    capacity = 1024,
  ) {
    if (!(phi > 0)) throw new Error("HNSW phi must be positive");
    this.index = new HnswLib.HierarchicalNSW("l2", dim + 1);
    this.params = { ...params };
    this.index.initIndex({
      maxElements: Math.max(capacity, 16),
      m: params.m,
      efConstruction: params.efConstruction,
      randomSeed: 100,
      allowReplaceDeleted: false,
    });
  }

  static read(path: string, dim: number, phi: number, params: HnswParams): HnswIndex {
    const idx = new HnswIndex(dim, phi, params, 16);
    idx.index.readIndexSync(path, false);
    return idx;
  }

  /**
   * Serialises the graph on a libuv thread. Searches may run meanwhile (both only read the
   * graph); the caller must not add or delete items until it resolves.
   */
  async write(path: string): Promise<void> {
    await this.index.writeIndex(path);
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

  private augment(v: Float32Array): number[] {
    const out = new Array<number>(this.dim + 1);
    let n2 = 0;
    for (let i = 0; i < this.dim; i++) {
      out[i] = v[i]!;
      n2 += v[i]! * v[i]!;
    }
    out[this.dim] = Math.sqrt(Math.max(0, this.phi * this.phi - n2));
    return out;
  }

  /** Adds or replaces the vector of a slot. */
  upsert(slot: number, vector: Float32Array): void {
    const point = this.augment(vector);
    if (this.deleted.delete(slot)) {
      // A tombstoned label is brought back and overwritten in place (adoptDeleted keeps only held labels).
      this.index.unmarkDelete(slot);
      this.index.addPoint(point, slot);
      return;
    }
    // A graph read from an empty snapshot has room for nothing: it grows from 16.
    if (this.count >= this.capacity) this.index.resizeIndex(Math.max(16, this.capacity * 2));
    this.index.addPoint(point, slot);
  }

  /** The search beam; larger finds more of the true top-k at a higher latency. */
  set efSearch(ef: number) {
    this.params.efSearch = ef;
    this.params.efSearchAuto = false;
  }

  /** The beam searches use now (with the size-aware default, it depends on the catalog's size). */
  get efSearch(): number {
    return this.params.efSearchAuto ? autoBeam(this.count - this.deleted.size, this.params.efSearch) : this.params.efSearch;
  }

  /**
   * After reading a graph from disk: these labels are tombstones already, those of them it holds.
   * A graph rebuilt from the live items alone (an index worker replaced) never held the free
   * slots, and a snapshot may have been written from it: their upserts are new labels.
   */
  adoptDeleted(slots: number[]): void {
    if (!slots.length) return;
    const held = new Set(this.index.getIdsList());
    for (const s of slots) if (held.has(s)) this.deleted.add(s);
  }

  /** Whether the graph holds this label, live or tombstoned. */
  holds(slot: number): boolean {
    if (this.deleted.has(slot)) return true;
    try {
      this.index.getPoint(slot);
      return true;
    } catch {
      return false;
    }
  }

  remove(slot: number): void {
    if (this.deleted.has(slot)) return;
    this.index.markDelete(slot);
    this.deleted.add(slot);
  }

  /** Up to k candidate slots of largest dot product, among slots that pass the filter; `ef`: this search's beam. */
  search(query: Float32Array, k: number, filter?: (slot: number) => boolean, ef = this.efSearch): number[] {
    const live = this.count - this.deleted.size;
    const n = Math.min(k, live);
    if (n <= 0) return [];
    this.index.setEf(Math.max(ef, n));
    const q = Array.from(query);
    q.push(0);
    return this.index.searchKnn(q, n, filter).neighbors;
  }
}
