/**
 * Every Prometheus metric of the server, in one registry. Histograms (not summaries) so
 * that replicas aggregate; buckets span 100 µs to 10 s.
 */
import client from "prom-client";
import { BoundHistogram } from "./bound-histogram.ts";
import type { HealthReport } from "./api/health.ts";

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

export type Stage = "history_lookup" | "cache_lookup" | "user_encoding" | "retrieval" | "scoring" | "serialization";
const STAGES: Stage[] = ["history_lookup", "cache_lookup", "user_encoding", "retrieval", "scoring", "serialization"];
const STAGE_INDEX = Object.fromEntries(STAGES.map((stage, i) => [stage, i])) as Record<Stage, number>;

/**
 * A counter of running totals kept in plain numbers (counted per request without a metric call)
 * and added to the counter when scraped, one series per key of what `totals` reads.
 */
function totalsCounter<L extends string>(
  registry: client.Registry,
  name: string,
  help: string,
  label: L,
  totals: () => Readonly<Record<string, number>>,
): client.Counter<L> {
  const added: Record<string, number> = {};
  return new client.Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [key, now] of Object.entries(totals())) {
        this.inc({ [label]: key } as Partial<Record<L, string>>, now - (added[key] ?? 0));
        added[key] = now;
      }
    },
  });
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly requests: client.Counter<"transport" | "method" | "status">;
  readonly requestSeconds: client.Histogram<"transport" | "method" | "status">;
  readonly stageSeconds: BoundHistogram<Stage>;
  readonly batchSize: client.Histogram<"encoder">;
  readonly walCommitRecords: client.Histogram;
  readonly queueWaitSeconds: client.Histogram<"encoder">;
  readonly encoderRestarts: client.Counter;
  readonly encoderWorkersAlive: client.Gauge;
  readonly cacheLookups: client.Counter<"result">;
  readonly cacheEntries: client.Gauge;
  readonly itemFileReadsTotal: client.Counter<"source">;
  readonly keptAnswersTotal: client.Counter<"result">;
  readonly catalogItems: client.Gauge;
  readonly indexCapacity: client.Gauge;
  readonly indexDeleted: client.Gauge;
  readonly indexEfSearch: client.Gauge;
  readonly coldStarts: client.Counter;
  readonly walBytes: client.Gauge;
  readonly walWriteFailures: client.Counter<"cause">;
  readonly snapshotAge: client.Gauge;
  readonly ready: client.Gauge;
  /** The server's readiness report (model loaded, catalog restored, not draining, able to work). */
  health: () => HealthReport = () => ({ ready: false, reasons: ["starting"], checks: {} });
  readonly inFlight: client.Gauge<"transport">;
  readonly healthCheck: client.Gauge<"check">;
  /** When the catalog was last snapshotted (ms), or null when it is not durable. */
  lastSnapshotAt: () => number | null = () => null;
  readonly rejected: client.Counter<"reason">;
  readonly modelInfo: client.Gauge<"name" | "version" | "fingerprint" | "provider" | "architecture">;
  /** Mean recall@k of the recent sampled retrieves, or null before the first (rank/recall-monitor.ts). */
  retrievalRecall: () => number | null = () => null;
  readonly recall: client.Gauge;
  readonly recallTarget: client.Gauge;
  readonly recallSamples: client.Counter<"result">;
  /** The replicated catalog log's position and writability (catalog/replication/), or null without one. */
  catalogLog: () => { applied: number; lagMessages: number; lagSeconds: number; readOnly: boolean } | null = () => null;
  readonly catalogLogApplied: client.Gauge;
  readonly catalogLogLagMessages: client.Gauge;
  readonly catalogLogLagSeconds: client.Gauge;
  readonly catalogReadOnly: client.Gauge;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const r = [this.registry];
    if (opts.defaultMetrics !== false) {
      // Event-loop delay sampled every millisecond (perf_hooks.monitorEventLoopDelay): at the
      // default 10 ms an idle server reads about 10 ms of "lag", hiding the few milliseconds that matter.
      client.collectDefaultMetrics({ register: this.registry, prefix: "newsrec_", eventLoopMonitoringPrecision: 1 });
      // Gauges that prom-client names with a counter's "_total" suffix (promtool rejects them);
      // newsrec_nodejs_active_handles and _resources carry the same counts by type.
      for (const n of ["active_handles_total", "active_requests_total", "active_resources_total"]) this.registry.removeSingleMetric(`newsrec_nodejs_${n}`);
    }
    this.requests = new client.Counter({
      name: "newsrec_requests_total",
      help: "Requests by transport, method and status.",
      labelNames: ["transport", "method", "status"],
      registers: r,
    });
    this.requestSeconds = new client.Histogram({
      name: "newsrec_request_duration_seconds",
      help: "Request latency by transport, method and status.",
      labelNames: ["transport", "method", "status"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    // Timed four times a request or more: observed without prom-client's per-call label hashing (bound-histogram.ts).
    this.stageSeconds = new BoundHistogram(
      "newsrec_rank_stage_duration_seconds",
      "Time spent in each stage of a rank.",
      "stage",
      STAGES,
      LATENCY_BUCKETS,
      this.registry,
    );
    this.batchSize = new client.Histogram({
      name: "newsrec_encoder_batch_size",
      help: "Items per encoder run.",
      labelNames: ["encoder"],
      buckets: BATCH_BUCKETS,
      registers: r,
    });
    this.walCommitRecords = new client.Histogram({
      name: "newsrec_wal_commit_records",
      help: "Writes made durable by one write-ahead-log fsync (group commit).",
      buckets: BATCH_BUCKETS,
      registers: r,
    });
    this.queueWaitSeconds = new client.Histogram({
      name: "newsrec_encoder_queue_wait_seconds",
      help: "Time an item waited for its encoder batch.",
      labelNames: ["encoder"],
      buckets: LATENCY_BUCKETS,
      registers: r,
    });
    const self = this;
    this.cacheLookups = totalsCounter(
      this.registry,
      "newsrec_user_cache_lookups_total",
      "User-vector cache lookups by result (hit, miss).",
      "result",
      () => self.lookups,
    );
    this.cacheEntries = new client.Gauge({ name: "newsrec_user_cache_entries", help: "User vectors in the cache.", registers: r });
    this.itemFileReadsTotal = totalsCounter(
      this.registry,
      "newsrec_item_file_reads_total",
      "Reads of items left in the snapshot's item file (itemsInMemoryMaxBytes), by where the bytes came from: the file, or the most recently read ones kept (cache).",
      "source",
      () => self.itemFileReads(),
    );
    this.keptAnswersTotal = totalsCounter(
      this.registry,
      "newsrec_kept_answers_total",
      "Retrieves that found an answer kept for their cached user vector, by result: reused (the catalog's writes since could not change it; no search) or stale (searched again).",
      "result",
      () => self.keptAnswers(),
    );
    this.catalogItems = new client.Gauge({ name: "newsrec_catalog_items", help: "Live news items in the catalog.", registers: r });
    this.indexCapacity = new client.Gauge({ name: "newsrec_index_capacity", help: "Slots allocated in the HNSW index.", registers: r });
    this.indexDeleted = new client.Gauge({ name: "newsrec_index_deleted_slots", help: "Tombstoned HNSW slots awaiting reuse.", registers: r });
    this.indexEfSearch = new client.Gauge({
      name: "newsrec_index_ef_search",
      help: "The HNSW search beam in use (configured, tuned, or the size-aware default).",
      registers: r,
    });
    this.walBytes = new client.Gauge({ name: "newsrec_wal_bytes", help: "Size of the write-ahead log.", registers: r });
    this.walWriteFailures = new client.Counter({
      name: "newsrec_wal_write_failures_total",
      help: "Writes the write-ahead log refused because the disk failed, by errno (ENOSPC, EFBIG, EIO...).",
      labelNames: ["cause"],
      registers: r,
    });
    this.snapshotAge = new client.Gauge({
      name: "newsrec_snapshot_age_seconds",
      help: "Seconds since the catalog was last snapshotted (compacted).",
      registers: r,
      collect() {
        const t = self.lastSnapshotAt();
        if (t !== null) this.set((Date.now() - t) / 1000);
      },
    });
    this.ready = new client.Gauge({
      name: "newsrec_ready",
      help: "1 when the server is ready for traffic (what /readyz and gRPC health report), else 0.",
      registers: r,
      collect() {
        this.set(self.health().ready ? 1 : 0);
      },
    });
    this.healthCheck = new client.Gauge({
      name: "newsrec_health_check",
      help: "1 when a readiness check passes, 0 when it fails (the reason is in /readyz).",
      labelNames: ["check"],
      registers: r,
      collect() {
        for (const [check, v] of Object.entries(self.health().checks)) this.set({ check }, v === "ok" ? 1 : 0);
      },
    });
    // Read from the admission counts when scraped: nothing per request.
    this.inFlight = new client.Gauge({
      name: "newsrec_in_flight_requests",
      help: "Requests holding an admission slot, by transport.",
      labelNames: ["transport"],
      registers: r,
      collect() {
        for (const transport of ["http", "grpc"] as const) this.set({ transport }, self.inFlightOf(transport));
      },
    });
    this.encoderRestarts = new client.Counter({
      name: "newsrec_encoder_worker_restarts_total",
      help: "Encoder workers started to replace a dead or hung one.",
      registers: r,
    });
    this.encoderWorkersAlive = new client.Gauge({ name: "newsrec_encoder_workers_alive", help: "Encoder worker threads alive and taking work.", registers: r });
    this.coldStarts = new client.Counter({ name: "newsrec_cold_starts_total", help: "Ranks served by the cold-start fallback.", registers: r });
    this.rejected = new client.Counter({
      name: "newsrec_rejected_total",
      help: "Requests refused before work, by reason.",
      labelNames: ["reason"],
      registers: r,
    });
    this.recall = new client.Gauge({
      name: "newsrec_retrieval_recall",
      help: "Recall@k of HNSW retrieval: mean over the last recallWindow sampled retrieves, each recomputed exactly off the request path (NaN until the first sample).",
      registers: r,
      collect() {
        this.set(self.retrievalRecall() ?? NaN);
      },
    });
    this.recallTarget = new client.Gauge({
      name: "newsrec_retrieval_recall_target",
      help: "The recall@k that newsrec_retrieval_recall is held to (config recallTarget).",
      registers: r,
    });
    this.recallSamples = new client.Counter({
      name: "newsrec_retrieval_recall_samples_total",
      help: "Recall samples by result: measured, busy (dropped: the most allowed were computing), failed.",
      labelNames: ["result"],
      registers: r,
    });
    const logGauge = (name: string, help: string, value: (s: NonNullable<ReturnType<Metrics["catalogLog"]>>) => number) =>
      new client.Gauge({
        name,
        help,
        registers: r,
        collect() {
          const s = self.catalogLog();
          if (s) this.set(value(s));
        },
      });
    this.catalogLogApplied = logGauge(
      "newsrec_catalog_log_applied_sequence",
      "The last catalog-log (JetStream stream) sequence this replica has applied.",
      (s) => s.applied,
    );
    this.catalogLogLagMessages = logGauge(
      "newsrec_catalog_log_lag_messages",
      "Catalog-log messages known to be in the stream and not yet applied by this replica.",
      (s) => s.lagMessages,
    );
    this.catalogLogLagSeconds = logGauge(
      "newsrec_catalog_log_lag_seconds",
      "Seconds this replica has been behind the catalog log (0 when it has applied every message it knows of).",
      (s) => s.lagSeconds,
    );
    this.catalogReadOnly = logGauge(
      "newsrec_catalog_read_only",
      "1 while the catalog log cannot take writes (JetStream unreachable or without quorum): writes are refused, reads go on.",
      (s) => (s.readOnly ? 1 : 0),
    );
    this.modelInfo = new client.Gauge({
      name: "newsrec_model_info",
      help: "The loaded model bundle (value 1).",
      labelNames: ["name", "version", "fingerprint", "provider", "architecture"],
      registers: r,
    });
  }

  /** Reads of items in the snapshot's item file so far (the catalog's count: newsrec_item_file_reads_total). */
  itemFileReads: () => { readonly file: number; readonly cache: number } = () => ({ file: 0, cache: 0 });
  /** Kept retrieve answers found so far, by result (the rank service's count: newsrec_kept_answers_total). */
  keptAnswers: () => { readonly reused: number; readonly stale: number } = () => ({ reused: 0, stale: 0 });
  /** User-cache lookups so far, by result (newsrec_user_cache_lookups_total). */
  readonly lookups = { hit: 0, miss: 0 };

  /** Requests holding an admission slot, by transport (set by the app; newsrec_in_flight_requests). */
  inFlightOf: (transport: "http" | "grpc") => number = () => 0;

  /** Starts a stage timer; call the result to stop it. */
  stage(stage: Stage): () => void {
    const i = STAGE_INDEX[stage];
    const t0 = performance.now();
    return () => this.stageSeconds.observe(i, (performance.now() - t0) / 1000);
  }
}
