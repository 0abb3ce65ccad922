/**
 * How the catalog answers a search (catalog/store.ts keeps the state; this plans and runs the
 * search over it): the items that pass a filter are counted first, and that count decides the
 * work: none, an exact score of the matching items, a graph walk with or without a filter
 * callback, on this thread or handed to the index workers (index/sharded.ts), whose answers are
 * checked here against the catalog as of the search's ask.
 */
import { dot, exactTopK, TopK } from "../index/exact.ts";
import { HnswIndex } from "../index/hnsw.ts";
import { FREE, type ShardColumns } from "../index/shard-columns.ts";
import { rowAsOf, writesOf } from "../index/shared-matrix.ts";
import { NewsrecError } from "../errors.ts";
import type { FilterIndex } from "./filters.ts";
import type { GraphIndex, SearchFilter } from "./store.ts";

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

/** What a search reads of the catalog, as it is at the time. */
export interface CatalogView {
  readonly dim: number;
  /** The shared columns, replaced in this object when the catalog grows. */
  readonly columns: ShardColumns;
  readonly categoryNames: readonly string[];
  readonly categoryCodes: ReadonlyMap<string, number>;
  readonly filters: FilterIndex;
  readonly index: GraphIndex;
  /** Live items. */
  readonly size: number;
  /** Slots in use (live and free). */
  readonly rows: number;
  readonly exactMaxItems: number;
  readonly maxAgeHours: number;
  /** Items scored exactly and filter evaluations in graph walks, all searches together. */
  readonly work: { scored: number; filterCalls: number };
}

export class CatalogSearch {
  constructor(private readonly c: CatalogView) {}

  /** The publication bound of a filter: the later of its own and maxAgeHours' (-Infinity: none). */
  after(f: SearchFilter, now: number): number {
    const age = this.c.maxAgeHours > 0 ? now - this.c.maxAgeHours * 3600_000 : -Infinity;
    return f.publishedAfter !== undefined && f.publishedAfter > age ? f.publishedAfter : age;
  }

  /**
   * Whether a slot holds a live item that passes the filter, and has not been written since this
   * was asked: answers that overlapped writes are checked so, and answer as of the ask.
   */
  passes(f: SearchFilter, now = Date.now()): (slot: number) => boolean {
    return this.passesAsOf(f, now, writesOf(this.c.columns.stamps));
  }

  /** passes() for a search asked when the catalog had made `seen` writes. */
  private passesAsOf(f: SearchFilter, now: number, seen: number): (slot: number) => boolean {
    const accept = this.accepts(f, this.after(f, now));
    const cols = this.c.columns;
    return (slot) => accept(slot) && rowAsOf(cols.stamps, slot, seen);
  }

  /** The filter's test of a slot; it reads the columns as they are when called (the catalog may grow meanwhile). */
  private accepts(f: SearchFilter, after: number): (slot: number) => boolean {
    const cols = this.c.columns;
    const names = this.c.categoryNames;
    const { exclude, categories } = f;
    return (slot) => {
      const code = cols.categories[slot]!;
      if (code === FREE) return false;
      if (exclude?.has(slot)) return false;
      if (categories && !categories.has(names[code]!)) return false;
      // Items without a publication time (NaN) never expire.
      return !(cols.published[slot]! < after);
    };
  }

  /** Live items that pass the category and age filters (exclusions not counted), in O(categories · log n). */
  matching(f: SearchFilter, now = Date.now()): number {
    return this.c.filters.count(f.categories, this.after(f, now));
  }

  /** Matching sets up to this size are scored exactly rather than walked to. */
  get scanBudget(): number {
    return Math.max(this.c.exactMaxItems, Math.ceil(Math.sqrt(SCAN_PER_BEAM * this.c.index.efSearch * this.c.size)));
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
    const m = f.categories || after > -Infinity ? this.c.filters.count(f.categories, after) : this.c.size;
    if (m === 0) return [];
    // A filter that every live item passes (a maxAgeHours the whole catalog is within) is no filter.
    if (m === this.c.size)
      return m <= this.c.exactMaxItems ? this.scoreMatching(query, k, { exclude: f.exclude }, -Infinity, m) : this.graphSearch(query, k, f.exclude);
    if (m <= this.scanBudget) return this.scoreMatching(query, k, f, after, m);
    return this.filteredWalk(query, k, f, after, m);
  }

  /** The graph when it is on this thread (synchronous search). */
  private get local(): HnswIndex {
    if (!(this.c.index instanceof HnswIndex)) throw new Error("this catalog's index is in workers: use searchAsync");
    return this.c.index;
  }

  /**
   * search() for either kind of index. With the index in workers, the main thread counts the
   * matching items (O(categories · log n)), scores exactly a set of at most exactMaxItems itself
   * (cheaper than the hand-over), and sends the rest to the workers: the graph walk, the exact
   * scan of a selective filter's items, or a broad filter's bounded walk
   * (index/shard-search.ts). Their answers are checked against the catalog as it is now (the
   * whole filter) and scored again here, so an answer never holds an item outside the filter or
   * half written. An answer short of k, where more items matched, with writes made while it was
   * in the workers (they take the items they wrote out of it) is asked again once, as of then:
   * it is short only when writes overlap that second search too.
   */
  async searchAsync(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now(), again = true): Promise<{ slot: number; score: number }[]> {
    if (this.c.index instanceof HnswIndex) return this.search(query, k, f, now);
    const seen = writesOf(this.c.columns.stamps);
    const after = this.after(f, now);
    const { m, mode: planned } = this.plan(f, after);
    if (planned === "none") return [];
    if (planned === "exact") return this.scoreMatching(query, k, m === this.c.size ? { exclude: f.exclude } : f, m === this.c.size ? -Infinity : after, m);
    const mode = planned;
    const categories = mode !== "graph" && f.categories ? Int32Array.from([...f.categories].flatMap((c) => this.c.categoryCodes.get(c) ?? [])) : null;
    const hits = await this.c.index
      .search({
        query,
        k,
        mode,
        categories,
        after: mode === "graph" ? -Infinity : after,
        exclude: Int32Array.from(f.exclude ?? []),
        budget: walkCalls(m),
        rows: this.c.rows,
        seen,
      })
      .catch((err: Error) => {
        throw new NewsrecError("UNAVAILABLE", `the index cannot search: ${err.message}`);
      });
    this.c.work.scored += hits.scored;
    this.c.work.filterCalls += hits.calls;
    // The whole filter, whatever the mode (a plain graph walk, every item passing when it was asked, can meet an
    // item written since that no longer does), and the rows as of the ask: an item written since is left out.
    const accept = this.passesAsOf(f, now, seen);
    const top = new TopK(k);
    const { vectors } = this.c.columns;
    const dim = this.c.dim;
    for (const s of hits.slots) if (accept(s)) top.push(s, dot(query, vectors, s * dim));
    const found = top.result();
    // Short where more matched, with writes made meanwhile (which the workers and this check leave out): once more.
    return again && found.length < Math.min(k, m) && writesOf(this.c.columns.stamps) !== seen ? this.searchAsync(query, k, f, now, false) : found;
  }

  /**
   * How a search of this filter goes now, from its matching count m: none (m is 0), an exact score
   * of the matching items on this thread (m at most exactMaxItems), and past that a graph walk
   * (every item matches), an exact scan of the matching items (m at most scanBudget) or a walk
   * with the filter. search() decides alike: scanBudget is at least exactMaxItems.
   */
  private plan(f: SearchFilter, after: number): { m: number; mode: "none" | "exact" | "graph" | "scan" | "walk" } {
    const m = f.categories !== undefined || after > -Infinity ? this.c.filters.count(f.categories, after) : this.c.size;
    const mode = m === 0 ? "none" : m <= this.c.exactMaxItems ? "exact" : m === this.c.size ? "graph" : m <= this.scanBudget ? "scan" : "walk";
    return { m, mode };
  }

  /** Whether a search of this filter now would score every matching item (an exact answer) rather than walk the graph. */
  scoresExactly(f: SearchFilter, now = Date.now()): boolean {
    const { mode } = this.plan(f, this.after(f, now));
    return mode !== "graph" && mode !== "walk";
  }

  /** Scores exactly the matching items, enumerated from the category and time orders. */
  private scoreMatching(query: Float32Array, k: number, f: SearchFilter, after: number, matching: number): { slot: number; score: number }[] {
    const accept = this.accepts(f, after);
    const { vectors } = this.c.columns;
    const { dim, work } = this.c;
    if (matching * SPARSE > this.c.rows) return exactTopK(query, vectors, this.c.rows, k, (s) => accept(s) && ++work.scored > 0);
    const top = new TopK(k);
    this.c.filters.forEach(f.categories, after, (slot) => {
      if (f.exclude?.has(slot)) return;
      top.push(slot, dot(query, vectors, slot * dim));
      work.scored++;
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
    this.c.work.scored += slots.length;
    return slots.map((slot) => ({ slot, score: dot(query, this.c.columns.vectors, slot * this.c.dim) })).sort((a, b) => b.score - a.score);
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
    this.c.work.filterCalls += Math.min(calls, budget);
    const cut = calls > budget;
    if (cut && seen.length < k && matching <= MAX_FALLBACK) return this.scoreMatching(query, k, f, after, matching);
    const top = new TopK(k);
    const { vectors } = this.c.columns;
    for (const s of cut ? seen : found) top.push(s, dot(query, vectors, s * this.c.dim));
    this.c.work.scored += cut ? seen.length : found.length;
    return top.result();
  }

  /** Exact top-k over every slot: the reference for recall measurements. */
  exactSearch(query: Float32Array, k: number, f: SearchFilter = {}, now = Date.now()): { slot: number; score: number }[] {
    return exactTopK(query, this.c.columns.vectors, this.c.rows, k, this.accepts(f, this.after(f, now)));
  }

  /** Live items, newest first (items without a date last): the cold-start fallback's order, kept sorted on every write. */
  freshestSlots(f: SearchFilter, k: number, now = Date.now()): number[] {
    return this.c.filters.freshest(f.categories, this.after(f, now), f.exclude, k);
  }
}
