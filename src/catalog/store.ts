/**
 * The live news catalog: metadata and vectors by slot, and the HNSW index over them.
 * Slots of deleted items are reused by later upserts. Everything here is synchronous, so a
 * search never sees half an update.
 */
import { HnswIndex, type HnswParams } from "../index/hnsw.ts";
import { ShardedIndex, type IndexLayout } from "../index/sharded.ts";
import { FREE, sharedCategories, sharedPublished } from "../index/shard-columns.ts";
import { dot, exactTopK, TopK } from "../index/exact.ts";
import { FilterIndex } from "./filters.ts";
import { MetaStore, type ItemPlaces } from "./meta-store.ts";
import { TokenColumn, type TokenSpec } from "./token-column.ts";
import { openRow, rowAsOf, sharedStamps, sharedVectors, stampRows, writesOf, type SharedMatrix } from "../index/shared-matrix.ts";
import type { NewsItem } from "../api/schemas.ts";
import { NewsrecError } from "../errors.ts";

/**
 * Bounds of filtered searches, measured with benchmarks/filters.ts (120,000 news, default bundle).
 * hnswlib explores until its beam holds efSearch items that pass the filter, calling the JS
 * filter for every node it considers: about 1.5 · efSearch / p calls at pass rate p, several
 * times more when the passing items lie away from the query (categories cluster in vector
 * space), each costing about CALL_COST exact dot products. Scoring the m matching items costs m
 * dot products (0.1 to 0.3 µs each, by memory locality). The two break even near
 * m = sqrt(c · efSearch · n), c ≈ 4 for filters unrelated to the vectors and far higher for
 * categories; SCAN_PER_BEAM sits between (20% of 120,000 items). A walk makes at most
 * walkCalls(m) filter calls: about the cost of scoring its matching items once.
 */
const SCAN_PER_BEAM = 16;
const CALL_COST = 6;
const walkCalls = (m: number): number => Math.ceil(m / CALL_COST);
/** A cut-short walk is answered from its matching items only up to this many (~30 ms); above, with what it found. */
const MAX_FALLBACK = 250_000;
/** Above 1/SPARSE of the slots, matching items are scored in one pass in slot (memory) order, checking at most SPARSE·m slots. */
const SPARSE = 3;

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

/** Where the graph lives: index workers (ShardedIndex), or this thread when absent. */
export interface IndexWorkers {
  workers: number;
  /** Graphs a new catalog is split into (a snapshot keeps its own). */
  shards: number;
  layout: IndexLayout;
}

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
  workers?: { indexWorkers: number; indexShards: number; indexLayout: IndexLayout },
): CatalogOptions {
  const { hnswM: m, efConstruction, efSearch, efSearchAuto = false, exactMaxItems, maxAgeHours, itemsInMemoryMaxBytes } = c;
  // Several graphs are always sharded: a replicated index is one graph in every worker.
  const layout = workers && workers.indexShards > 1 ? "sharded" : workers?.indexLayout;
  const indexWorkers = workers && workers.indexWorkers > 0 && layout ? { workers: workers.indexWorkers, shards: workers.indexShards, layout } : undefined;
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
  }

  private postColumns(): void {
    if (!(this.index instanceof HnswIndex))
      this.index.setColumns({ vectors: this.vectors, categories: this.categories, published: this.published, stamps: this.stamps });
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
    this.tokens?.clear(slot);
    this.index.remove(slot);
    this.free.push(slot);
    return true;
  }

  /** The publication bound of a filter: the later of its own and maxAgeHours' (-Infinity: none). */
  private after(f: SearchFilter, now: number): number {
    const age = this.opts.maxAgeHours > 0 ? now - this.opts.maxAgeHours * 3600_000 : -Infinity;
    return f.publishedAfter !== undefined && f.publishedAfter > age ? f.publishedAfter : age;
  }

  /**
   * Whether a slot holds a live item that passes the filter, and has not been written since this
   * was asked: answers that overlapped writes are checked so, and answer as of the ask.
   */
  passes(f: SearchFilter, now = Date.now()): (slot: number) => boolean {
    return this.passesAsOf(f, now, writesOf(this.stamps));
  }

  /** passes() for a search asked when the catalog had made `seen` writes. */
  private passesAsOf(f: SearchFilter, now: number, seen: number): (slot: number) => boolean {
    const accept = this.accepts(f, this.after(f, now));
    return (slot) => accept(slot) && rowAsOf(this.stamps, slot, seen);
  }

  private accepts(f: SearchFilter, after: number): (slot: number) => boolean {
    return (slot) => {
      const code = this.categories[slot]!;
      if (code === FREE) return false;
      if (f.exclude?.has(slot)) return false;
      if (f.categories && !f.categories.has(this.categoryNames[code]!)) return false;
      // Items without a publication time (NaN) never expire.
      return !(this.published[slot]! < after);
    };
  }

  /** Live items that pass the category and age filters (exclusions not counted), in O(categories · log n). */
  matching(f: SearchFilter, now = Date.now()): number {
    return this.filters.count(f.categories, this.after(f, now));
  }

  /** Matching sets up to this size are scored exactly rather than walked to. */
  get scanBudget(): number {
    return Math.max(this.opts.exactMaxItems, Math.ceil(Math.sqrt(SCAN_PER_BEAM * this.index.efSearch * this.size)));
  }

  /** The most filter evaluations a graph walk for this filter makes (see filteredWalk). */
  walkBudget(f: SearchFilter, now = Date.now()): number {
    return walkCalls(this.matching(f, now));
  }

  /**
   * Top-k live items by dot product that pass the filter. The m matching items are counted
   * first, and the work of one search is bounded by them: none gives [] with no work; up to
   * scanBudget are scored exactly (m dot products); more walk the graph on a beam of
   * max(efSearch, k) (k is at most the rank service's MAX_K) with at most walkBudget filter
   * calls (about m dot products' worth), then score the m items only if the walk was cut
   * short with fewer than k found. Never scores an item that cannot match.
   */
  search(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now()): { slot: number; score: number }[] {
    const after = this.after(f, now);
    const m = f.categories || after > -Infinity ? this.filters.count(f.categories, after) : this.size;
    if (m === 0) return [];
    // A filter that every live item passes (a maxAgeHours the whole catalog is within) is no filter.
    if (m === this.size)
      return m <= this.opts.exactMaxItems ? this.scoreMatching(query, k, { exclude: f.exclude }, -Infinity, m) : this.graphSearch(query, k, f.exclude);
    if (m <= this.scanBudget) return this.scoreMatching(query, k, f, after, m);
    return this.filteredWalk(query, k, f, after, m);
  }

  /** The graph when it is on this thread (synchronous search). */
  private get local(): HnswIndex {
    if (!(this.index instanceof HnswIndex)) throw new Error("this catalog's index is in workers: use searchAsync");
    return this.index;
  }

  /**
   * search() for either kind of index. With the index in workers, the main thread counts the
   * matching items (O(categories · log n)), scores exactly a set of at most exactMaxItems itself
   * (cheaper than the hand-over), and sends the rest to the workers: the graph walk, the exact
   * scan of a selective filter's items, or a broad filter's bounded walk
   * (index/shard-search.ts). Their answers are checked against the catalog as it is now (the
   * whole filter) and scored again here, so an answer that overlapped a write is short by that
   * item at worst, and never holds one outside the filter.
   */
  async searchAsync(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now()): Promise<{ slot: number; score: number }[]> {
    if (this.index instanceof HnswIndex) return this.search(query, k, f, now);
    const seen = writesOf(this.stamps);
    const after = this.after(f, now);
    const filtered = f.categories !== undefined || after > -Infinity;
    const m = filtered ? this.filters.count(f.categories, after) : this.size;
    if (m === 0) return [];
    if (m <= this.opts.exactMaxItems) return this.scoreMatching(query, k, m === this.size ? { exclude: f.exclude } : f, m === this.size ? -Infinity : after, m);
    const mode = m === this.size ? "graph" : m <= this.scanBudget ? "scan" : "walk";
    const categories = mode !== "graph" && f.categories ? Int32Array.from([...f.categories].flatMap((c) => this.categoryCodes.get(c) ?? [])) : null;
    const hits = await this.index
      .search({
        query,
        k,
        mode,
        categories,
        after: mode === "graph" ? -Infinity : after,
        exclude: Int32Array.from(f.exclude ?? []),
        budget: walkCalls(m),
        rows: this.metas.rows,
        seen,
      })
      .catch((err: Error) => {
        throw new NewsrecError("UNAVAILABLE", `the index cannot search: ${err.message}`);
      });
    this.work.scored += hits.scored;
    this.work.filterCalls += hits.calls;
    // The whole filter, whatever the mode (a plain graph walk, every item passing when it was asked, can meet an
    // item written since that no longer does), and the rows as of the ask: an item written since is left out.
    const accept = this.passesAsOf(f, now, seen);
    const top = new TopK(k);
    for (const s of hits.slots) if (accept(s)) top.push(s, dot(query, this.vectors, s * this.dim));
    return top.result();
  }

  /** Scores exactly the matching items, enumerated from the category and time orders. */
  private scoreMatching(query: Float32Array, k: number, f: SearchFilter, after: number, matching: number): { slot: number; score: number }[] {
    const accept = this.accepts(f, after);
    if (matching * SPARSE > this.metas.rows) return exactTopK(query, this.vectors, this.metas.rows, k, (s) => accept(s) && ++this.work.scored > 0);
    const top = new TopK(k);
    this.filters.forEach(f.categories, after, (slot) => {
      if (f.exclude?.has(slot)) return;
      top.push(slot, dot(query, this.vectors, slot * this.dim));
      this.work.scored++;
    });
    return top.result();
  }

  /**
   * Without a category or age filter the walk runs without hnswlib's per-node JS callback, for k
   * plus the excluded items (deleted ones are tombstones inside the graph), which are dropped after.
   */
  private graphSearch(query: Float32Array, k: number, exclude?: Set<number>): { slot: number; score: number }[] {
    const slots = this.local
      .search(query, k + (exclude?.size ?? 0))
      .filter((s) => !exclude?.has(s))
      .slice(0, k);
    this.work.scored += slots.length;
    return slots.map((slot) => ({ slot, score: dot(query, this.vectors, slot * this.dim) })).sort((a, b) => b.score - a.score);
  }

  /**
   * A broad filter (more than scanBudget items pass, so most visited nodes pass too) walks the
   * graph with the callback; most such walks need a few beams' worth of calls. But when the
   * passing items lie away from the query (categories cluster in vector space), hnswlib explores
   * everything nearer first. Past walkBudget calls the callback therefore passes every node, so
   * the beam fills and the walk ends; the passing items met until then are kept here (hnswlib's
   * own answer then holds nodes passed unchecked). If they are fewer than k, the matching items
   * are scored exactly instead: the known subset, never the whole catalog, and at most MAX_FALLBACK.
   */
  private filteredWalk(query: Float32Array, k: number, f: SearchFilter, after: number, matching: number): { slot: number; score: number }[] {
    const accept = this.accepts(f, after);
    const budget = walkCalls(matching);
    const seen: number[] = [];
    let calls = 0;
    const found = this.local.search(query, k, (slot) => {
      if (++calls > budget) return true;
      if (!accept(slot)) return false;
      seen.push(slot);
      return true;
    });
    this.work.filterCalls += Math.min(calls, budget);
    const cut = calls > budget;
    if (cut && seen.length < k && matching <= MAX_FALLBACK) return this.scoreMatching(query, k, f, after, matching);
    const top = new TopK(k);
    for (const s of cut ? seen : found) top.push(s, dot(query, this.vectors, s * this.dim));
    this.work.scored += cut ? seen.length : found.length;
    return top.result();
  }

  /** Exact top-k over every slot: the reference for recall measurements. */
  exactSearch(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now()): { slot: number; score: number }[] {
    return exactTopK(query, this.vectors, this.metas.rows, k, this.accepts(f, this.after(f, now)));
  }

  /** Live items, newest first (items without a date last): the cold-start fallback's order, kept sorted on every write. */
  freshestSlots(f: SearchFilter, k: number, now = Date.now()): number[] {
    return this.filters.freshest(f.categories, this.after(f, now), f.exclude, k);
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
