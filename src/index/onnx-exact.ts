/**
 * Exact top-k over the whole catalog by the MatMul + TopK graph (models/scoring/topk.onnx) in
 * an encoder worker: off the main thread, and faster than the JavaScript loop of index/exact.ts
 * at every size measured (7x for one query at 10,000 and 100,000 items, 67x for 32; barely at
 * 2,000, where the round trip to the worker is most of it: benchmarks/RESULTS.md, "Exact
 * scoring"). The matrix goes to the worker shared, not copied (index/shared-matrix.ts).
 *
 * Tombstones: a free slot (a deleted item, awaiting reuse) keeps its last vector in the
 * matrix. Zeroing it would not hide it, since a zero row scores 0 and outranks every live item
 * of negative score; a mask input would cost the graph a pass over N. Instead the graph is
 * asked for k + (free slots) + (excluded slots) rows and those are dropped from its answer:
 * every row dropped is one of them, so k live rows remain whenever the catalog has k. Free
 * slots are few (upserts reuse them first), so the extra rows cost TopK little.
 *
 * Scores are the graph's float32 sums; they differ from the JavaScript dot product (float64
 * sums) by about 1e-6 on the default bundle's vectors. A slot deleted or rewritten while the
 * run was in the worker is judged by its state when the answer comes back.
 */
import type { SharedMatrix } from "./shared-matrix.ts";
import type { TopKRows } from "../model/topk-wire.ts";

/** What the scorer needs of a catalog (store.ts's Catalog). */
export interface ExactCatalog {
  readonly matrix: SharedMatrix;
  /** Live items. */
  readonly size: number;
  /** Whether a slot holds an item (false for a free slot). */
  isLive(slot: number): boolean;
  /** The float64 dot product of a query and a slot's vector: the score everywhere else in the server. */
  scoreAt(query: Float32Array, slot: number): number;
}

/**
 * Rows asked past k where scores must be the server's own: the graph's float32 sums can order
 * near-equal items otherwise than the float64 dot products, so the k-th is found among a few
 * more, rescored.
 */
export const RESCORE_EXTRA = 8;

/** Runs the graph: Encoders.scoreTopK. */
export type TopKRun = (queries: Float32Array, batch: number, k: number, matrix: SharedMatrix) => Promise<TopKRows>;

export interface Scored {
  slot: number;
  score: number;
}

/** For each query, the k live slots of largest dot product that are not excluded, best first. */
export async function onnxExactTopK(
  catalog: ExactCatalog,
  run: TopKRun,
  queries: Float32Array[],
  k: number,
  exclude?: ReadonlySet<number>,
): Promise<Scored[][]> {
  return onnxExactEach(
    catalog,
    run,
    queries.map((query) => ({ query, k, exclude })),
  );
}

export interface ExactAsk {
  query: Float32Array;
  k: number;
  exclude?: ReadonlySet<number>;
}

/** onnxExactTopK with a k and exclusions of each query's own, in one run of the graph. */
export async function onnxExactEach(catalog: ExactCatalog, run: TopKRun, asks: ExactAsk[]): Promise<Scored[][]> {
  const m = catalog.matrix;
  if (!asks.length || m.rows === 0) return asks.map(() => []);
  const free = m.rows - catalog.size;
  const ask = Math.min(m.rows, Math.max(...asks.map((a) => a.k + free + (a.exclude?.size ?? 0))));
  if (ask < 1) return asks.map(() => []);
  const flat = new Float32Array(asks.length * m.dim);
  asks.forEach((a, i) => flat.set(a.query, i * m.dim));
  const { scores, indices } = await run(flat, asks.length, ask, m);
  return asks.map(({ k, exclude }, b) => {
    const out: Scored[] = [];
    for (let j = b * ask; j < (b + 1) * ask && out.length < k; j++) {
      const slot = indices[j]!;
      if (!catalog.isLive(slot) || exclude?.has(slot)) continue;
      out.push({ slot, score: scores[j]! });
    }
    return out;
  });
}

/**
 * Exact top-k asks batched while the workers are busy, answered as the JavaScript exact scorer
 * would: each ask's k + RESCORE_EXTRA best rows by the graph are scored again in float64, and the
 * k best of those kept (ties to the lower slot), so slots, order and scores are the same.
 * An ask made while fewer than
 * `maxRuns()` runs are in flight goes at the end of its turn of the event loop, with the others
 * made in that turn; asks made while every run slot is taken wait for the next run to come back
 * and then go together. A worker answers runs one at a time anyway, so waiting here costs an
 * ask no time, and under load one hand-over to the worker and one matrix product serve many
 * requests (a batch of queries costs the graph far less than as many runs of one, and each
 * hand-over costs the main thread a message each way: benchmarks/RESULTS.md, "Exact scoring",
 * "Cache-hit hot path").
 */
export class ExactBatcher {
  private pending: { ask: ExactAsk; resolve: (r: Scored[]) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private running = 0;

  constructor(
    private readonly catalog: ExactCatalog,
    private readonly run: TopKRun,
    /** Runs in flight at once (the live encoder workers). */
    private readonly maxRuns: () => number = () => 1,
    private readonly maxBatch = 64,
  ) {}

  /** `accept`: what answered rows must pass once back (a filter the asker checks against the catalog as it is then). */
  topK(query: Float32Array, k: number, exclude?: ReadonlySet<number>, accept?: (slot: number) => boolean): Promise<Scored[]> {
    return new Promise<Scored[]>((resolve, reject) => {
      this.pending.push({ ask: { query, k: k + RESCORE_EXTRA, exclude }, resolve, reject });
      if (!this.scheduled && this.running < Math.max(1, this.maxRuns())) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    }).then((rows) => {
      const c = this.catalog;
      const out = (accept ? rows.filter((r) => accept(r.slot)) : rows).map((r) => ({ slot: r.slot, score: c.scoreAt(query, r.slot) }));
      out.sort((a, b) => b.score - a.score || a.slot - b.slot);
      if (out.length > k) out.length = k;
      return out;
    });
  }

  private flush(): void {
    this.scheduled = false;
    const slots = Math.max(1, this.maxRuns());
    while (this.pending.length && this.running < slots) {
      const batch = this.pending.splice(0, this.maxBatch);
      this.running++;
      onnxExactEach(
        this.catalog,
        this.run,
        batch.map((p) => p.ask),
      )
        .then(
          (rs) => batch.forEach((p, j) => p.resolve(rs[j]!)),
          (err) => batch.forEach((p) => p.reject(err)),
        )
        .finally(() => {
          this.running--;
          if (this.pending.length && !this.scheduled) this.flush();
        });
    }
  }
}
