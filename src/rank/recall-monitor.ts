/**
 * Online recall monitoring. A sampled fraction of the live retrieves that the HNSW graph
 * answered is recomputed exactly, off the main thread (the ONNX exact scorer in an encoder
 * worker), and each sample's recall@k feeds a moving average over the last `window` samples:
 * newsrec_retrieval_recall, against the target that deploy/prometheus/alerts.yml holds it to.
 * Offline benchmarks measure recall on synthetic queries; this measures it on the real ones,
 * on the live catalog, as it drifts with writes, deletes and tombstones.
 *
 * Never in a response's way: the rank service calls observe() once the answer exists, and
 * unless the request is drawn, observe() only draws a random number. A drawn one starts an
 * exact run and returns at once. At most maxInFlight samples run at a time; one drawn while
 * they run is dropped (and counted), never queued, so the monitor's work is bounded whatever
 * the traffic. A sample's run takes its turn in an encoder worker like any encoding.
 *
 * What is sampled: retrieves the graph answered, i.e. whose filter every live item passes
 * (no category or time filter, as in Catalog.search) on a catalog above exactMaxItems. Smaller
 * catalogs are searched exactly (recall 1 by construction); filtered walks are bounded by
 * their own budgets and would need the filter in the oracle.
 *
 * Recall by score: a returned item is a hit when its score reaches the k-th exact score, so
 * items of equal score (duplicate news, equal vectors) count alike whichever one a scorer
 * kept. The exact items are rescored here with the same arithmetic as the service's scores
 * (index/exact.ts's dot), so that "reaches" needs no tolerance: items 2.5e-7 apart on the
 * default bundle are told apart, as an exact recomputation tells them.
 * A write between the answer and its recomputation can shift the exact top-k slightly; at a
 * few samples a second and runs of milliseconds, rarely and little.
 */
import type { Catalog, SearchFilter } from "../catalog/store.ts";
import { dot } from "../index/exact.ts";
import { onnxExactTopK, RESCORE_EXTRA, type TopKRun } from "../index/onnx-exact.ts";

export type SampleResult = "measured" | "busy" | "failed";

export interface RecallMonitorOptions {
  /** Fraction of eligible retrieves recomputed (0: off). */
  sampleRate: number;
  /** Samples in the moving average. */
  window: number;
  /** Samples computing at once; more are dropped. */
  maxInFlight: number;
  /** The catalog size up to which retrieval is exact (config exactMaxItems). */
  exactMaxItems: number;
  onSample?: (result: SampleResult, recall?: number) => void;
  log?: (line: string) => void;
  /** Uniform in [0, 1) (tests pass their own). */
  random?: () => number;
}

export class RecallMonitor {
  private readonly recent: number[] = [];
  private next = 0;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private failureLogged = false;
  private readonly random: () => number;

  /** run: the exact scorer (Encoders.scoreTopK), or null when the workers have none (monitoring off). */
  constructor(
    private readonly catalog: Catalog,
    private readonly run: TopKRun | null,
    private readonly o: RecallMonitorOptions,
  ) {
    this.random = o.random ?? Math.random;
  }

  /** Mean recall@k of the last `window` samples; null before the first. */
  get recall(): number | null {
    if (!this.recent.length) return null;
    return this.recent.reduce((a, b) => a + b, 0) / this.recent.length;
  }

  /** Samples in the current window. */
  get samples(): number {
    return this.recent.length;
  }

  /** A retrieve's answer, after it was computed; returns at once. */
  observe(query: Float32Array, k: number, filter: SearchFilter, items: readonly { score: number }[]): void {
    if (!this.run || !(this.random() < this.o.sampleRate)) return;
    const c = this.catalog;
    // The graph answered only when every live item passes the filter (Catalog.search).
    if (c.size <= this.o.exactMaxItems || c.matching(filter) !== c.size) return;
    if (this.inFlight >= this.o.maxInFlight) {
      this.o.onSample?.("busy");
      return;
    }
    this.inFlight++;
    const scores = items.map((i) => i.score);
    this.measure(query.slice(), k, filter.exclude, scores)
      .then(
        (recall) => {
          if (recall === null) return;
          this.record(recall);
          this.o.onSample?.("measured", recall);
        },
        (err: Error) => {
          this.o.onSample?.("failed");
          // Once: a dead worker fails every sample until it is replaced, and the pool logs that itself.
          if (!this.failureLogged) this.o.log?.(`recall sample failed (counted in newsrec_retrieval_recall_samples_total): ${err.message}`);
          this.failureLogged = true;
        },
      )
      .finally(() => {
        if (--this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
  }

  /**
   * Fills the matrix mirror of `workers` encoder workers before traffic: a worker's first run
   * copies every row (25 ms per 100,000 items), which should not wait in front of encodings.
   * Concurrent runs go to distinct workers (the pool picks the least busy). A worker started
   * later (a replacement) fills its mirror on its first sample.
   */
  async warm(workers: number): Promise<void> {
    if (!this.run || this.o.sampleRate <= 0 || this.catalog.size === 0) return;
    const zero = new Float32Array(this.catalog.dim);
    await Promise.all(Array.from({ length: workers }, () => onnxExactTopK(this.catalog, this.run!, [zero], 1))).catch((err: Error) =>
      this.o.log?.(`recall monitor warm-up failed (its first samples fill the workers' mirrors instead): ${err.message}`),
    );
  }

  /** Resolves when no sample is computing (tests, shutdown). */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((r) => this.idleWaiters.push(r));
  }

  /** recall@k of one answer, or null when the catalog has nothing to find. */
  private async measure(query: Float32Array, k: number, exclude: ReadonlySet<number> | undefined, got: number[]): Promise<number | null> {
    const [exact] = await onnxExactTopK(this.catalog, this.run!, [query], k + RESCORE_EXTRA, exclude);
    const n = Math.min(k, exact?.length ?? 0);
    if (n === 0) return null;
    const scores = exact!.map((r) => dot(query, this.catalog.vectorAt(r.slot))).sort((a, b) => b - a);
    // The service scored its answer with this same dot product, so equal items score equal to the bit.
    const kth = scores[n - 1]!;
    const hits = got.filter((s) => s >= kth).length;
    return Math.min(hits, n) / n;
  }

  private record(recall: number): void {
    if (this.recent.length < this.o.window) this.recent.push(recall);
    else this.recent[this.next] = recall;
    this.next = (this.next + 1) % this.o.window;
  }
}
