/**
 * The live news catalog: metadata and vectors by slot, and the HNSW index over them.
 * Slots of deleted items are reused by later upserts. Everything here is synchronous, so a
 * search never sees half an update.
 */
import { HnswIndex, type HnswParams } from "../index/hnsw.ts";
import { dot, exactTopK } from "../index/exact.ts";

export interface NewsMeta {
  id: string;
  title: string;
  abstract?: string;
  category?: string;
  subcategory?: string;
  /** ISO 8601. */
  publishedAt?: string;
  url?: string;
}

export interface SearchFilter {
  categories?: Set<string>;
  /** Only items published at or after this time (ms since epoch). */
  publishedAfter?: number;
  exclude?: Set<number>;
}

export interface CatalogOptions extends HnswParams {
  /** Bound on item vector norms for the HNSW transform (see index/hnsw.ts). */
  phi: number;
  /** Live catalogs up to this size are searched exactly (as fast as HNSW, and exact). */
  exactMaxItems: number;
  /** Items older than this leave retrieval results (0: never). */
  maxAgeHours: number;
}

/** Catalog options from the server configuration and the bundle's norm bound. */
export function catalogOptions(c: { hnswM: number; efConstruction: number; efSearch: number; exactMaxItems: number; maxAgeHours: number }, phi: number): CatalogOptions {
  return { m: c.hnswM, efConstruction: c.efConstruction, efSearch: c.efSearch, exactMaxItems: c.exactMaxItems, maxAgeHours: c.maxAgeHours, phi };
}

export class Catalog {
  private readonly slotById = new Map<string, number>();
  private metas: (NewsMeta | null)[] = [];
  private vectors: Float32Array;
  private published: Float64Array;
  private readonly free: number[] = [];
  private freshest: number[] | null = null;
  readonly index: HnswIndex;

  constructor(
    readonly dim: number,
    readonly fingerprint: string,
    private readonly opts: CatalogOptions,
    capacity = 1024,
    index?: HnswIndex,
  ) {
    this.vectors = new Float32Array(capacity * dim);
    this.published = new Float64Array(capacity).fill(NaN);
    this.index = index ?? new HnswIndex(dim, opts.phi, opts, capacity);
  }

  get size(): number {
    return this.slotById.size;
  }

  /** Slots ever used (live and free). */
  get slots(): number {
    return this.metas.length;
  }

  has(id: string): boolean {
    return this.slotById.has(id);
  }

  get(id: string): NewsMeta | undefined {
    const s = this.slotById.get(id);
    return s === undefined ? undefined : this.metas[s]!;
  }

  slotOf(id: string): number | undefined {
    return this.slotById.get(id);
  }

  metaAt(slot: number): NewsMeta {
    return this.metas[slot]!;
  }

  vectorAt(slot: number): Float32Array {
    return this.vectors.subarray(slot * this.dim, (slot + 1) * this.dim);
  }

  private grow(slots: number): void {
    if (slots * this.dim <= this.vectors.length) return;
    let cap = this.vectors.length / this.dim;
    while (cap < slots) cap *= 2;
    const v = new Float32Array(cap * this.dim);
    v.set(this.vectors);
    this.vectors = v;
    const p = new Float64Array(cap).fill(NaN);
    p.set(this.published);
    this.published = p;
  }

  upsert(meta: NewsMeta, vector: Float32Array, indexIt = true): number {
    if (vector.length !== this.dim) throw new Error(`vector of ${meta.id} has dimension ${vector.length}, not ${this.dim}`);
    let slot = this.slotById.get(meta.id);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.metas.length;
      this.grow(slot + 1);
      if (slot === this.metas.length) this.metas.push(null);
      this.slotById.set(meta.id, slot);
    }
    this.metas[slot] = meta;
    this.vectors.set(vector, slot * this.dim);
    const t = meta.publishedAt ? Date.parse(meta.publishedAt) : NaN;
    this.published[slot] = t;
    if (indexIt) this.index.upsert(slot, vector);
    this.freshest = null;
    return slot;
  }

  delete(id: string): boolean {
    const slot = this.slotById.get(id);
    if (slot === undefined) return false;
    this.slotById.delete(id);
    this.metas[slot] = null;
    this.published[slot] = NaN;
    this.index.remove(slot);
    this.free.push(slot);
    this.freshest = null;
    return true;
  }

  private accepts(f: SearchFilter, now: number): (slot: number) => boolean {
    const after = Math.max(f.publishedAfter ?? -Infinity, this.opts.maxAgeHours > 0 ? now - this.opts.maxAgeHours * 3600_000 : -Infinity);
    return (slot) => {
      const m = this.metas[slot];
      if (!m) return false;
      if (f.exclude?.has(slot)) return false;
      if (f.categories && !f.categories.has(m.category ?? "")) return false;
      // Items without a publication time never expire.
      if (after > -Infinity && this.published[slot]! < after) return false;
      return true;
    };
  }

  /** Top-k live items by dot product that pass the filter; HNSW above exactMaxItems, exact below. */
  search(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now()): { slot: number; score: number }[] {
    const accept = this.accepts(f, now);
    if (this.size <= this.opts.exactMaxItems) return exactTopK(query, this.vectors, this.metas.length, k, accept);
    const found = this.graphSearch(query, k, f, accept);
    // A selective filter can starve the graph walk; answer exactly rather than short.
    if (found.length < k && found.length < this.size) return exactTopK(query, this.vectors, this.metas.length, k, accept);
    return found;
  }

  /**
   * hnswlib calls a JS filter for every node it visits, which costs more than the walk itself.
   * Without a category or age filter, the walk runs unfiltered for k plus the excluded items
   * (deleted ones are tombstones inside the graph) and the exclusions are dropped after.
   */
  private graphSearch(query: Float32Array, k: number, f: SearchFilter, accept: (slot: number) => boolean): { slot: number; score: number }[] {
    const needsFilter = Boolean(f.categories) || f.publishedAfter !== undefined || this.opts.maxAgeHours > 0;
    const slots = needsFilter ? this.index.search(query, k, accept) : this.index.search(query, k + (f.exclude?.size ?? 0)).filter((s) => !f.exclude?.has(s)).slice(0, k);
    return slots.map((slot) => ({ slot, score: dot(query, this.vectors, slot * this.dim) })).sort((a, b) => b.score - a.score);
  }

  exactSearch(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now()): { slot: number; score: number }[] {
    return exactTopK(query, this.vectors, this.metas.length, k, this.accepts(f, now));
  }

  /** Live items, newest first (items without a date last): the cold-start fallback's order. */
  freshestSlots(f: SearchFilter, k: number, now = Date.now()): number[] {
    if (!this.freshest) {
      this.freshest = [...this.slotById.values()].sort((a, b) => {
        const pa = this.published[a]!;
        const pb = this.published[b]!;
        return (Number.isNaN(pb) ? -Infinity : pb) - (Number.isNaN(pa) ? -Infinity : pa) || a - b;
      });
    }
    const accept = this.accepts(f, now);
    const out: number[] = [];
    for (const s of this.freshest) {
      if (out.length >= k) break;
      if (accept(s)) out.push(s);
    }
    return out;
  }

  /** Fills an empty catalog from a snapshot; slots not listed are free (tombstoned in the index). */
  restore(items: { slot: number; meta: NewsMeta }[], vectors: Float32Array, slots: number): void {
    if (this.metas.length) throw new Error("restore needs an empty catalog");
    this.grow(Math.max(slots, 1));
    this.metas = new Array(slots).fill(null);
    this.vectors.set(vectors.subarray(0, slots * this.dim));
    for (const { slot, meta } of items) {
      if (this.metas[slot]) throw new Error(`slot ${slot} is used twice`);
      if (this.slotById.has(meta.id)) throw new Error(`news id ${meta.id} appears twice`);
      this.metas[slot] = meta;
      this.slotById.set(meta.id, slot);
      this.published[slot] = meta.publishedAt ? Date.parse(meta.publishedAt) : NaN;
    }
    const holes: number[] = [];
    for (let s = slots - 1; s >= 0; s--) if (!this.metas[s]) holes.push(s);
    this.free.push(...holes);
    this.index.adoptDeleted(holes);
    this.freshest = null;
  }

  /** Live entries in slot order (snapshots). */
  *entries(): Generator<{ slot: number; meta: NewsMeta; vector: Float32Array }> {
    for (let s = 0; s < this.metas.length; s++) {
      const meta = this.metas[s];
      if (meta) yield { slot: s, meta, vector: this.vectorAt(s) };
    }
  }
}
