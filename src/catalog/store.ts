/**
 * The live news catalog: metadata and vectors by slot, and the HNSW index over them.
 * Slots of deleted items are reused by later upserts. Every write here is synchronous; searches
 * (catalog-search.ts) answer as of when they were asked, so none sees half an update.
 */
import { HnswIndex, type HnswParams } from "../index/hnsw.ts";
import { ShardedIndex, type IndexLayout, type ShardedOptions } from "../index/sharded.ts";
import { FREE, sharedCategories, sharedPublished, type ShardColumns } from "../index/shard-columns.ts";
import { dot } from "../index/exact.ts";
import { FilterIndex } from "./filters.ts";
import { MetaStore, type ItemPlaces } from "./meta-store.ts";
import { TokenColumn, type TokenSpec } from "./token-column.ts";
import { openRow, sharedStamps, sharedVectors, stampRows, type SharedMatrix } from "../index/shared-matrix.ts";
import type { NewsItem } from "../api/schemas.ts";
import { CatalogSearch } from "./catalog-search.ts";
import { WriteLog } from "./write-log.ts";

/** The graph over the catalog's vectors: on this thread (tools, tests) or in index workers (the server). */
export type GraphIndex = HnswIndex | ShardedIndex;

/** A news item's metadata: the API's NewsItem (src/api/schemas.ts), defined once. */
export type NewsMeta = NewsItem;

export interface SearchFilter {
  categories?: Set<string>;
  /** Only items published at or after this time (ms since epoch). */
  publishedAfter?: number;
  exclude?: Set<number>;
}

/** Where the graph lives: index workers (ShardedIndex), or this thread when absent. `shards`: graphs a new catalog is split into (a snapshot keeps its own). */
export type IndexWorkers = ShardedOptions;

export interface CatalogOptions extends HnswParams {
  indexWorkers?: IndexWorkers;
  /** Bound on item vector norms for the HNSW transform (see index/hnsw.ts). */
  phi: number;
  /** Live catalogs up to this size are searched exactly (as fast as HNSW, and exact). */
  exactMaxItems: number;
  /** Items older than this leave retrieval results (0: never). */
  maxAgeHours: number;
  /** Keep each item's token ids (token-column.ts): the bundle's user encoder reads them (FUM). */
  tokens?: TokenSpec;
  /** A snapshot whose items.jsonl is larger leaves its items there, read on demand (meta-store.ts); absent: always in memory. */
  itemsInMemoryMaxBytes?: number;
}

/** An item of a snapshot being restored; `inFile`: where its stored text is in the snapshot's items file (MetaStore.setInFile). */
export interface RestoredItem {
  slot: number;
  meta: NewsMeta;
  inFile?: { at: number; length: number; sum: number };
}

/** Catalog options from the server configuration and the bundle's norm bound. */
export function catalogOptions(
  c: {
    hnswM: number;
    efConstruction: number;
    efSearch: number;
    efSearchAuto?: boolean;
    exactMaxItems: number;
    maxAgeHours: number;
    itemsInMemoryMaxBytes?: number;
  },
  phi: number,
  /** The graph in index workers (the server, newsrec embed); without, on this thread (tools, tests). */
  workers?: { indexWorkers: number; indexShards: number; indexLayout: IndexLayout; indexRunTimeoutMs?: number },
): CatalogOptions {
  const { hnswM: m, efConstruction, efSearch, efSearchAuto = false, exactMaxItems, maxAgeHours, itemsInMemoryMaxBytes } = c;
  // Several graphs are always sharded: a replicated index is one graph in every worker.
  const layout = workers && workers.indexShards > 1 ? "sharded" : workers?.indexLayout;
  const indexWorkers =
    workers && workers.indexWorkers > 0 && layout
      ? { workers: workers.indexWorkers, shards: workers.indexShards, layout, runTimeoutMs: workers.indexRunTimeoutMs }
      : undefined;
  return { m, efConstruction, efSearch, efSearchAuto, exactMaxItems, maxAgeHours, itemsInMemoryMaxBytes, phi, ...(indexWorkers ? { indexWorkers } : {}) };
}

export class Catalog {
  private readonly slotById = new Map<string, number>();
  /** Each slot's item as JSON bytes (meta-store.ts), parsed when read. */
  private metas = new MetaStore();
  /** On shared memory, with per-row write stamps, for the exact scorer in the encoder workers (index/shared-matrix.ts). */
  private vectors: Float32Array;
  private stamps: Int32Array;
  private published: Float64Array;
  /** Each slot's category code (FREE for a free slot), for the index workers' filters. */
  private categories: Int32Array;
  private readonly categoryCodes = new Map<string, number>();
  private readonly categoryNames: string[] = [];
  private readonly free: number[] = [];
  private readonly filters = new FilterIndex();
  /** Each slot's token ids, only when the bundle's user encoder reads them. */
  private readonly tokens: TokenColumn | null;
  readonly index: GraphIndex;
  /** Items scored exactly and filter evaluations in graph walks, all searches together: the work bounds made visible. */
  readonly work = { scored: 0, filterCalls: 0 };
  /** Searches over this catalog's columns as they are at the time (catalog-search.ts). */
  private readonly searcher: CatalogSearch;
  /** The shared columns in one object that searches read (postColumns keeps it current). */
  private readonly columns = {} as ShardColumns;
  /** The slots written most recently, for answers kept to be checked against (rank/answer-reuse.ts). */
  private readonly log = new WriteLog();

  constructor(
    readonly dim: number,
    readonly fingerprint: string,
    private readonly opts: CatalogOptions,
    capacity = 1024,
    index?: GraphIndex,
  ) {
    this.vectors = sharedVectors(capacity, dim);
    this.stamps = sharedStamps(capacity);
    this.published = sharedPublished(capacity);
    this.categories = sharedCategories(capacity);
    this.tokens = opts.tokens ? new TokenColumn(opts.tokens, capacity) : null;
    const w = opts.indexWorkers;
    this.index = index ?? (w ? new ShardedIndex(dim, opts.phi, opts, capacity, w) : new HnswIndex(dim, opts.phi, opts, capacity));
    this.postColumns();
    const self = this;
    this.searcher = new CatalogSearch({
      dim,
      columns: this.columns,
      categoryNames: this.categoryNames,
      categoryCodes: this.categoryCodes,
      filters: this.filters,
      index: this.index,
      get size() {
        return self.size;
      },
      get rows() {
        return self.metas.rows;
      },
      exactMaxItems: opts.exactMaxItems,
      maxAgeHours: opts.maxAgeHours,
      work: this.work,
    });
  }

  /** After the columns are made or grown: the searches' and the index workers' view of them. */
  private postColumns(): void {
    Object.assign(this.columns, { vectors: this.vectors, categories: this.categories, published: this.published, stamps: this.stamps });
    if (!(this.index instanceof HnswIndex)) this.index.setColumns({ ...this.columns });
  }

  private categoryCode(category: string): number {
    let c = this.categoryCodes.get(category);
    if (c === undefined) {
      c = this.categoryNames.length;
      this.categoryCodes.set(category, c);
      this.categoryNames.push(category);
    }
    return c;
  }

  get size(): number {
    return this.slotById.size;
  }

  /** See CatalogOptions. */
  get itemsInMemoryMaxBytes(): number | undefined {
    return this.opts.itemsInMemoryMaxBytes;
  }

  /** Reads of items in a snapshot's file so far, by where the bytes came from (newsrec_item_file_reads_total). */
  get itemFileReads(): { readonly file: number; readonly cache: number } {
    return this.metas.fileReads;
  }

  /** Items read on demand from a snapshot's file rather than held (diagnostics, tests). */
  get itemsInFile(): number {
    return this.metas.inFile;
  }

  /** Slots ever used (live and free). */
  get slots(): number {
    return this.metas.rows;
  }

  has(id: string): boolean {
    return this.slotById.has(id);
  }

  get(id: string): NewsMeta | undefined {
    const s = this.slotById.get(id);
    return s === undefined ? undefined : this.metas.get(s)!;
  }

  slotOf(id: string): number | undefined {
    return this.slotById.get(id);
  }

  metaAt(slot: number): NewsMeta {
    return this.metas.get(slot)!;
  }

  /** Whether a slot holds an item (false for a free slot). */
  isLive(slot: number): boolean {
    return this.categories[slot]! !== FREE;
  }

  /** The item's JSON text as stored, for a response. */
  rawMetaAt(slot: number): Uint8Array | null {
    return this.metas.raw(slot);
  }

  /** rawMetaAt for a snapshot being written (which writes it without parsing it): not counted as an item served, nor kept. */
  rawMetaToCopy(slot: number): Uint8Array | null {
    return this.metas.rawToCopy(slot);
  }

  /** A slot's publication time in ms since the epoch (NaN: none). */
  publishedAtMs(slot: number): number {
    return this.published[slot]!;
  }

  /** The dot product of a query with a slot's vector (no view of the row is made). */
  scoreAt(query: Float32Array, slot: number): number {
    return dot(query, this.vectors, slot * this.dim);
  }

  vectorAt(slot: number): Float32Array {
    return this.vectors.subarray(slot * this.dim, (slot + 1) * this.dim);
  }

  /** What this catalog keeps of each item's token ids (undefined: none). */
  get tokenSpec(): TokenSpec | undefined {
    return this.tokens?.spec;
  }

  /** The item's token ids (a view: valid until the next write); null when the catalog keeps none. */
  tokensAt(slot: number): ArrayLike<number> | null {
    return this.tokens ? this.tokens.get(slot) : null;
  }

  /** tokens.bin of a snapshot: the token rows of every slot in use (null when the catalog keeps none). */
  tokenBytes(): Uint8Array | null {
    return this.tokens ? this.tokens.bytes(this.metas.rows) : null;
  }

  /** The vectors of every slot in use (live and free), shared with the workers without a copy. */
  get matrix(): SharedMatrix {
    return { vectors: this.vectors, stamps: this.stamps, rows: this.metas.rows, dim: this.dim };
  }

  private grow(slots: number): void {
    if (slots * this.dim <= this.vectors.length) return;
    let cap = this.vectors.length / this.dim;
    while (cap < slots) cap *= 2;
    this.vectors = sharedVectors(cap, this.dim, this.vectors);
    this.stamps = sharedStamps(cap, this.stamps);
    this.published = sharedPublished(cap, this.published);
    this.categories = sharedCategories(cap, this.categories);
    this.tokens?.grow(cap);
    this.postColumns();
  }

  /**
   * `tokens`: the item's token ids, required when the catalog keeps them (the bundle's
   * Encoders.clickTokens), ignored otherwise.
   */
  upsert(meta: NewsMeta, vector: Float32Array, indexIt = true, tokens: ArrayLike<number> | null = null): number {
    if (vector.length !== this.dim) throw new Error(`vector of ${meta.id} has dimension ${vector.length}, not ${this.dim}`);
    if (this.tokens) {
      const why = tokens ? this.tokens.problem(tokens) : "no token ids were given, and this model's user encoder reads them";
      if (why) throw new Error(`news ${meta.id}: ${why}`);
    }
    let slot = this.slotById.get(meta.id);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.metas.rows;
      this.grow(slot + 1);
      this.slotById.set(meta.id, slot);
    }
    const t = meta.publishedAt ? Date.parse(meta.publishedAt) : NaN;
    const oldCode = this.categories[slot]!;
    const was = this.published[slot]!;
    const code = this.categoryCode(meta.category ?? "");
    if (oldCode !== code || !Object.is(was, t)) {
      if (oldCode !== FREE) this.filters.remove(slot, this.categoryNames[oldCode]!, was);
      this.filters.add(slot, meta.category ?? "", t);
    }
    this.metas.set(slot, meta);
    // The row's shared columns are written between WRITING and its stamp (index/shared-matrix.ts).
    openRow(this.stamps, slot);
    this.vectors.set(vector, slot * this.dim);
    this.published[slot] = t;
    this.categories[slot] = code;
    stampRows(this.stamps, slot);
    this.log.record(slot);
    if (this.tokens) this.tokens.set(slot, tokens!);
    if (indexIt) this.index.upsert(slot, vector);
    return slot;
  }

  delete(id: string): boolean {
    const slot = this.slotById.get(id);
    if (slot === undefined) return false;
    this.slotById.delete(id);
    this.filters.remove(slot, this.categoryNames[this.categories[slot]!]!, this.published[slot]!);
    this.metas.clear(slot);
    openRow(this.stamps, slot);
    this.published[slot] = NaN;
    this.categories[slot] = FREE;
    stampRows(this.stamps, slot);
    this.log.record(slot);
    this.tokens?.clear(slot);
    this.index.remove(slot);
    this.free.push(slot);
    return true;
  }

  /** Writes made so far (upserts and deletes): where the catalog stands for changedSince. */
  get writePosition(): number {
    return this.log.position;
  }

  /**
   * Calls `visit` with each slot written after `position` (writePosition then), oldest first,
   * until it returns false; false when the catalog no longer lists that far back, or `visit` stopped.
   */
  changedSince(position: number, visit: (slot: number) => boolean): boolean {
    return this.log.since(position, visit);
  }

  /**
   * Whether a slot holds a live item that passes the filter, and has not been written since this
   * was asked: answers that overlapped writes are checked so, and answer as of the ask.
   */
  passes(f: SearchFilter, now = Date.now()): (slot: number) => boolean {
    return this.searcher.passes(f, now);
  }

  /** The earliest publication time the filter and maxAgeHours let through now (-Infinity: any); undated items always pass. */
  publishedBound(f: SearchFilter, now = Date.now()): number {
    return this.searcher.after(f, now);
  }

  /** Live items that pass the category and age filters (exclusions not counted), in O(categories · log n). */
  matching(f: SearchFilter, now = Date.now()): number {
    return this.searcher.matching(f, now);
  }

  /** Whether search() or searchAsync() of this filter now would score every matching item rather than walk the graph (catalog-search.ts). */
  scoresExactly(f: SearchFilter, now = Date.now()): boolean {
    return this.searcher.scoresExactly(f, now);
  }

  /** Matching sets up to this size are scored exactly rather than walked to (catalog-search.ts). */
  get scanBudget(): number {
    return this.searcher.scanBudget;
  }

  /** The most filter evaluations a graph walk for this filter makes (catalog-search.ts). */
  walkBudget(f: SearchFilter, now = Date.now()): number {
    return this.searcher.walkBudget(f, now);
  }

  /** Top-k live items by dot product that pass the filter, with the index on this thread (catalog-search.ts). */
  search(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now()): { slot: number; score: number }[] {
    return this.searcher.search(query, k, f, now);
  }

  /** search() for either kind of index, answered as of when it was asked (catalog-search.ts). */
  searchAsync(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now()): Promise<{ slot: number; score: number }[]> {
    return this.searcher.searchAsync(query, k, f, now);
  }

  /** Exact top-k over every slot: the reference for recall measurements. */
  exactSearch(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now()): { slot: number; score: number }[] {
    return this.searcher.exactSearch(query, k, f, now);
  }

  /** Live items, newest first (items without a date last): the cold-start fallback's order, kept sorted on every write. */
  freshestSlots(f: SearchFilter, k: number, now = Date.now()): number[] {
    return this.searcher.freshestSlots(f, k, now);
  }

  /**
   * Fills an empty catalog from a snapshot, one item at a time; slots not listed are free
   * (tombstoned in the index). `vectors`: the rows of slots [0, slots), or a function that
   * writes their bytes into the matrix (a file read straight into it, with no copy between).
   * `tokens`: the snapshot's tokens.bin, required when the catalog keeps token ids.
   * `itemBytes`: about what the items' JSON takes (the file's size), reserved at once.
   * Returns the number of items.
   */
  restore(
    items: Iterable<RestoredItem>,
    vectors: Float32Array | ((rows: Uint8Array) => void),
    slots: number,
    tokens: Uint8Array | null = null,
    store: { bytes: number } | { file: string } = { bytes: 0 },
  ): number {
    if (this.metas.rows) throw new Error("restore needs an empty catalog");
    if (this.tokens && !tokens) throw new Error("restore needs the token ids this catalog keeps");
    this.grow(Math.max(slots, 1));
    if (this.tokens) this.tokens.load(tokens!, slots);
    this.metas.reserveRows(slots);
    if ("file" in store) this.metas.openFile(store.file);
    else this.metas.reserveBytes(store.bytes);
    if (typeof vectors === "function") vectors(new Uint8Array(this.vectors.buffer, 0, slots * this.dim * 4));
    else this.vectors.set(vectors.subarray(0, slots * this.dim));
    stampRows(this.stamps, 0, slots);
    this.log.forgetAll();
    // The filters are loaded from the columns at the end, in one pass (no object per item).
    const listed: number[] = [];
    for (const { slot, meta, inFile } of items) {
      if (this.metas.has(slot)) throw new Error(`slot ${slot} is used twice`);
      if (this.slotById.has(meta.id)) throw new Error(`news id ${meta.id} appears twice`);
      if (this.tokens && !this.tokens.get(slot).length) throw new Error(`news id ${meta.id} (slot ${slot}) has no token ids`);
      if (inFile && "file" in store) this.metas.setInFile(slot, inFile.at, inFile.length, inFile.sum);
      else this.metas.set(slot, meta);
      this.slotById.set(meta.id, slot);
      this.published[slot] = meta.publishedAt ? Date.parse(meta.publishedAt) : NaN;
      this.categories[slot] = this.categoryCode(meta.category ?? "");
      listed.push(slot);
    }
    const holes: number[] = [];
    for (let s = slots - 1; s >= 0; s--) if (!this.metas.has(s)) holes.push(s);
    this.free.push(...holes);
    this.index.adoptDeleted(holes);
    this.filters.load(Int32Array.from(listed), this.published, this.categories, this.categoryNames);
    return listed.length;
  }

  /** Whether the index can search: false once an index worker has died or failed a write. */
  indexHealth(): { ok: true } | { ok: false; reason: string } {
    const why = this.index instanceof HnswIndex ? null : this.index.unavailableReason;
    return why ? { ok: false, reason: why } : { ok: true };
  }

  /**
   * After a snapshot of this catalog, as it still is, is written: `path` is its items.jsonl and
   * `items` where each slot's text is there. A catalog that reads items from a file, or whose
   * items now pass itemsInMemoryMaxBytes, reads them all from this one from now on (the arena of
   * items written since is let go, an older file closed). Returns whether it did; a file that
   * cannot be opened leaves things as they were (and says so in a process warning).
   */
  readItemsFrom(path: string, items: ItemPlaces): boolean {
    const limit = this.opts.itemsInMemoryMaxBytes;
    if (!this.metas.readsFile && (limit === undefined || this.metas.liveBytes <= limit)) return false;
    try {
      this.metas.adoptFile(path, items);
      return true;
    } catch (err) {
      process.emitWarning(`the catalog's items stay read from ${this.metas.fileName || "memory"}, not ${path}: ${(err as Error).message}`);
      return false;
    }
  }

  /** Whether the items can be read: false once a read of the snapshot's item file has failed, until that read succeeds again. */
  itemsHealth(): { ok: true } | { ok: false; reason: string } {
    const why = this.metas.recheck();
    return why ? { ok: false, reason: why } : { ok: true };
  }

  /** Ends the index workers, if any, and closes the item file. */
  async close(): Promise<void> {
    this.metas.close();
    if (!(this.index instanceof HnswIndex)) await this.index.close();
  }

  /** Live entries in slot order (snapshots); tokens is null when the catalog keeps none. */
  *entries(): Generator<{ slot: number; meta: NewsMeta; vector: Float32Array; tokens: ArrayLike<number> | null }> {
    for (let s = 0; s < this.metas.rows; s++) {
      const meta = this.metas.get(s);
      if (meta) yield { slot: s, meta, vector: this.vectorAt(s), tokens: this.tokensAt(s) };
    }
  }
}
