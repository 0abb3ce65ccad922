/**
 * HNSW parameters chosen by measurement: for each (M, efConstruction) the snapshot's graphs are
 * built from the catalog's vectors exactly as the server builds them (split by slot modulo the
 * snapshot's graph count, slot order, tombstoned free slots; the snapshot's own graphs are
 * measured where the grid names their M and efConstruction), then efSearch is swept on them,
 * searched as the server searches them, each setting measured against exact search on the same queries:
 * recall@10, recall@100, and the p50/p99 latency of one top-10 search. The cheapest setting
 * (lowest p50) that meets the recall@10 target wins; build time breaks ties, since a graph is
 * rebuilt on every re-embed.
 */
import { dot, exactTopK } from "./exact.ts";
import type { UserQuery } from "./tune-queries.ts";
import { HnswIndex } from "./hnsw.ts";

export interface Grid {
  m: number[];
  efConstruction: number[];
  efSearch: number[];
}

export interface GridPoint {
  m: number;
  efConstruction: number;
  efSearch: number;
  recall10: number;
  recall100: number;
  p50Ms: number;
  p99Ms: number;
  buildSeconds: number;
}

export interface TuneInput {
  vectors: Float32Array;
  dim: number;
  /** Slots in the snapshot (live and free). */
  slots: number;
  isLive: (slot: number) => boolean;
  phi: number;
  /** Each user's vector and history; results leave the history out, as /rank does by default. */
  queries: UserQuery[];
}

/** Searches before each timed pass, so that caches and the JIT are warm for every setting alike. */
const WARMUP = 20;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

/**
 * The graph the server would build of the slots s with s % shards === shard: every one in order,
 * free slots inserted then tombstoned (so later upserts can reuse them).
 */
export function buildGraph(t: TuneInput, m: number, efConstruction: number, shard = 0, shards = 1): HnswIndex {
  const idx = new HnswIndex(t.dim, t.phi, { m, efConstruction, efSearch: 16 }, Math.max(16, Math.ceil((t.slots - shard) / shards)));
  for (let s = shard; s < t.slots; s += shards) {
    idx.upsert(s, t.vectors.subarray(s * t.dim, (s + 1) * t.dim));
    if (!t.isLive(s)) idx.remove(s);
  }
  return idx;
}

/** A snapshot's graphs as the server would build them: `shards` of them, split by slot modulo shards. */
export function buildGraphs(t: TuneInput, m: number, efConstruction: number, shards = 1): HnswIndex[] {
  return Array.from({ length: shards }, (_, i) => buildGraph(t, m, efConstruction, i, shards));
}

/** How the server searches these graphs: one graph's search, or every graph's merged. */
export const graphsSearcher = (graphs: HnswIndex[], t: Pick<TuneInput, "vectors" | "dim">): Searcher =>
  graphs.length === 1 ? graphSearcher(graphs[0]!) : shardsSearcher(graphs, t);

/**
 * Exact top-k slots of each query, its history left out (the items nearest a user are often the
 * ones the user clicked, which /rank does not return, and which a graph finds easily), and the
 * time one exact top-10 search took (JavaScript scorer).
 */
export function exactTruth(t: TuneInput, k: number): { truth: Set<number>[]; ms: number[] } {
  const ms: number[] = [];
  const truth = t.queries.map((q) => {
    const clicked = new Set(q.history);
    const t0 = performance.now();
    const r = exactTopK(q.vector, t.vectors, t.slots, k, (s) => t.isLive(s) && !clicked.has(s));
    ms.push(performance.now() - t0);
    return new Set(r.map((x) => x.slot));
  });
  return { truth, ms };
}

const recallOf = (found: number[], truth: Set<number>) => found.filter((s) => truth.has(s)).length / Math.max(1, truth.size);

/** Up to k slots of largest dot product found with this beam, none of `exclude`. */
export type Searcher = (query: Float32Array, k: number, efSearch: number, exclude: ReadonlySet<number>) => number[];

/** One graph's search, as the catalog's: k plus the excluded asked for, the excluded dropped. */
export const graphSearcher =
  (idx: HnswIndex): Searcher =>
  (q, k, ef, exclude) =>
    idx
      .search(q, k + exclude.size, undefined, ef)
      .filter((s) => !exclude.has(s))
      .slice(0, k);

/**
 * A sharded snapshot's search as the server makes it: every graph searched with the same beam
 * (here one after another, on this thread), the candidates merged by their dot products.
 */
export function shardsSearcher(graphs: HnswIndex[], t: Pick<TuneInput, "vectors" | "dim">): Searcher {
  return (q, k, ef, exclude) => {
    const all = graphs.flatMap((g) => g.search(q, k + exclude.size, undefined, ef)).filter((s) => !exclude.has(s));
    const score = (s: number) => dot(q, t.vectors, s * t.dim);
    return all
      .map((s) => ({ s, v: score(s) }))
      .sort((a, b) => b.v - a.v)
      .slice(0, k)
      .map((x) => x.s);
  };
}

/** One efSearch on a graph (or a sharded snapshot's graphs). */
export function measure(
  search: Searcher,
  t: TuneInput,
  truth10: Set<number>[],
  truth100: Set<number>[],
  efSearch: number,
): Omit<GridPoint, "m" | "efConstruction" | "buildSeconds"> {
  const clicked = t.queries.map((q) => new Set(q.history));
  t.queries.slice(0, WARMUP).forEach((q, i) => search(q.vector, 10, efSearch, clicked[i]!));
  const ms: number[] = [];
  let r10 = 0;
  let r100 = 0;
  t.queries.forEach((q, i) => {
    const t0 = performance.now();
    const found = search(q.vector, 10, efSearch, clicked[i]!);
    ms.push(performance.now() - t0);
    r10 += recallOf(found, truth10[i]!);
    r100 += recallOf(search(q.vector, 100, efSearch, clicked[i]!), truth100[i]!);
  });
  const n = t.queries.length;
  return { efSearch, recall10: r10 / n, recall100: r100 / n, p50Ms: pct(ms, 0.5), p99Ms: pct(ms, 0.99) };
}

/** The cheapest point meeting the target (lowest p50, then fastest build), or null when none does. */
export function cheapest(points: GridPoint[], target: number): GridPoint | null {
  let best: GridPoint | null = null;
  for (const p of points) {
    if (p.recall10 < target) continue;
    if (!best || p.p50Ms < best.p50Ms || (p.p50Ms === best.p50Ms && p.buildSeconds < best.buildSeconds)) best = p;
  }
  return best;
}

/** The snapshot's graphs as tuning sees them: how many, and, to be measured where the grid names its M and efConstruction, its own. */
export interface SnapshotGraphs {
  shards: number;
  own?: { m: number; efConstruction: number; search: () => Searcher };
}

/**
 * Measures the whole grid. Only the graphs of the best point so far are kept (to be written
 * into the snapshot), so memory holds at most two sets at once. bestGraphs is null when the best
 * point is the snapshot's own graphs.
 */
export function tuneGrid(
  t: TuneInput,
  grid: Grid,
  target: number,
  onPoint: (p: GridPoint) => void = () => {},
  onBuild: (m: number, efConstruction: number) => void = () => {},
  snapshot: SnapshotGraphs = { shards: 1 },
): { points: GridPoint[]; best: GridPoint | null; bestGraphs: HnswIndex[] | null; exactMs: number[] } {
  const t10 = exactTruth(t, 10);
  const t100 = exactTruth(t, 100);
  const points: GridPoint[] = [];
  let best: GridPoint | null = null;
  let bestGraphs: HnswIndex[] | null = null;
  for (const m of grid.m) {
    for (const efConstruction of grid.efConstruction) {
      const own = snapshot.own?.m === m && snapshot.own.efConstruction === efConstruction ? snapshot.own : null;
      let graphs: HnswIndex[] | null = null;
      let buildSeconds = 0;
      let search: Searcher;
      if (own) search = own.search();
      else {
        onBuild(m, efConstruction);
        const t0 = performance.now();
        graphs = buildGraphs(t, m, efConstruction, snapshot.shards);
        buildSeconds = (performance.now() - t0) / 1000;
        search = graphsSearcher(graphs, t);
      }
      for (const ef of grid.efSearch) {
        const p = { m, efConstruction, buildSeconds, ...measure(search, t, t10.truth, t100.truth, ef) };
        points.push(p);
        onPoint(p);
        if (cheapest([p, ...(best ? [best] : [])], target) === p) {
          best = p;
          bestGraphs = graphs;
        }
      }
    }
  }
  return { points, best, bestGraphs, exactMs: t10.ms };
}

/**
 * Sweeps efSearch alone on the snapshot's own graph or graphs (M and efConstruction are theirs):
 * no graph is built, so a catalog of a million news is tuned in minutes, sharded or not.
 */
export function tuneBeam(
  t: TuneInput,
  search: Searcher,
  graph: { m: number; efConstruction: number },
  efSearch: number[],
  onPoint: (p: GridPoint) => void = () => {},
): { points: GridPoint[]; exactMs: number[] } {
  const t10 = exactTruth(t, 10);
  const t100 = exactTruth(t, 100);
  const points = efSearch.map((ef) => {
    const p = { ...graph, buildSeconds: 0, ...measure(search, t, t10.truth, t100.truth, ef) };
    onPoint(p);
    return p;
  });
  return { points, exactMs: t10.ms };
}
