/**
 * Composition root: the bundle, its encoders, the catalog, the cache and the services that
 * both transports share. Startup order is the readiness contract: ready only once the model
 * is loaded and the catalog restored (snapshot, then the write-ahead log replayed).
 */
import { isExplicit, type Config } from "./config.ts";
import { catalogOptions, type Catalog } from "./catalog/store.ts";
import { restoreCatalog, type Restored } from "./catalog/restore.ts";
import { NewsWriter } from "./catalog/writer.ts";
import type { CatalogWriter } from "./catalog/catalog-writer.ts";
import { openReplicatedCatalog } from "./catalog/replication/open.ts";
import type { ReplicatedWriter } from "./catalog/replication/replicated-writer.ts";
import { tokenSpecOf } from "./catalog/token-column.ts";
import { ShardedIndex } from "./index/sharded.ts";
import { indexPhi, loadBundle } from "./model/bundle.ts";
import { Encoders } from "./model/encoders.ts";
import { Metrics } from "./metrics.ts";
import { UserCache } from "./rank/cache.ts";
import { RankService } from "./rank/service.ts";
import { RecallMonitor } from "./rank/recall-monitor.ts";
import { Admission } from "./api/admission.ts";
import { adminTokenOf, checkWriteAccess } from "./api/auth.ts";
import { OK, report, type HealthReport } from "./api/health.ts";

export interface App {
  config: Config;
  admission: Admission;
  metrics: Metrics;
  encoders: Encoders;
  catalog: Catalog;
  writer: CatalogWriter;
  rank: RankService;
  /** Samples HNSW retrieves and recomputes them exactly: newsrec_retrieval_recall. */
  recall: RecallMonitor;
  /** The bearer token writes need (undefined: writes are open). */
  adminToken: string | undefined;
  /** Lifecycle: true once started, false again while draining. */
  ready: boolean;
  /** Whether the server can do its job now, and if not why (readiness). */
  health(): HealthReport;
  close(): Promise<void>;
}

export async function createApp(config: Config, log: (line: string) => void, metrics = new Metrics()): Promise<App> {
  const adminToken = adminTokenOf(config);
  const openWrites = checkWriteAccess(config, adminToken);
  if (openWrites) log(openWrites);
  const bundle = loadBundle(config.model);
  const m = bundle.manifest;
  const encoders = await Encoders.open(bundle, {
    workers: config.workers,
    intraOpThreads: config.intraOpThreads,
    providers: config.providers,
    maxBatch: config.maxBatch,
    maxWaitMs: config.maxWaitMs,
    maxQueue: config.maxQueue,
    runTimeoutMs: config.encoderRunTimeoutMs,
    restartDelayMs: config.encoderRestartDelayMs,
    exactMirrorMaxBytes: config.exactMirrorMaxBytes,
    log,
    onWorkerRestart: () => metrics.encoderRestarts.inc(),
    onWorkersAlive: (n) => metrics.encoderWorkersAlive.set(n),
    onBatch: (encoder, size, waits) => {
      metrics.batchSize.observe({ encoder }, size);
      for (const w of waits) metrics.queueWaitSeconds.observe({ encoder }, w);
    },
  });
  log(`model ${m.name} ${m.version} (${m.architecture}, dim ${m.dimension}, fingerprint ${bundle.shortFingerprint}) on ${encoders.provider}`);
  metrics.modelInfo.set({ name: m.name, version: m.version, fingerprint: m.fingerprint, provider: encoders.provider, architecture: m.architecture }, 1);

  let restored: Restored;
  // With a catalog log, writes go through the shared stream and the data dir only caches snapshots.
  let replicated: ReplicatedWriter | null = null;
  try {
    const expect = { fingerprint: m.fingerprint, dimension: m.dimension };
    const opts = { ...catalogOptions({ ...config, efSearchAuto: !isExplicit(config, "efSearch") }, indexPhi(m), config), tokens: tokenSpecOf(m) };
    if (config.catalogLog) {
      const r = await openReplicatedCatalog(config, encoders, metrics, expect, opts, log);
      replicated = r.writer;
      restored = { catalog: r.catalog, durable: null, ownSnapshot: true };
    } else restored = await restoreCatalog(config, encoders, expect, opts, log);
  } catch (err) {
    await encoders.close();
    throw err;
  }
  const { catalog, durable } = restored;
  log(
    catalog.index instanceof ShardedIndex
      ? `index: ${catalog.index.shards} graph${catalog.index.shards > 1 ? "s" : ""} in ${catalog.index.workers} worker thread${catalog.index.workers > 1 ? "s" : ""} (${catalog.index.layout})`
      : "index: on the main thread",
  );
  if (catalog.index instanceof ShardedIndex) catalog.index.onEvent = log;
  const writer: CatalogWriter = replicated ?? new NewsWriter(catalog, encoders, metrics, durable);
  const cache = new UserCache(bundle.shortFingerprint, { maxEntries: config.cacheMaxEntries, ttlSeconds: config.cacheTtlSeconds });
  const rank = new RankService(catalog, encoders, cache, metrics, config.workerExactMaxItems, config.keptAnswersMaxBytes);
  const recall = new RecallMonitor(catalog, encoders.canScoreExactly ? (q, b, k, mx) => encoders.scoreTopK(q, b, k, mx) : null, {
    sampleRate: config.recallSampleRate,
    window: config.recallWindow,
    maxInFlight: config.recallMaxInFlight,
    exactMaxItems: config.exactMaxItems,
    onSample: (result) => metrics.recallSamples.inc({ result }),
    log,
  });
  rank.onRetrieved = (query, k, filter, items) => recall.observe(query, k, filter, items);
  metrics.retrievalRecall = () => recall.recall;
  metrics.itemFileReads = () => catalog.itemFileReads;
  metrics.keptAnswers = () => rank.answers.counts;
  metrics.recallTarget.set(config.recallTarget);
  await recall.warm(config.workers);
  if (durable || (replicated && config.dataDir)) metrics.lastSnapshotAt = () => writer.lastSnapshotAt;
  const admission = new Admission(config.maxInFlight);
  metrics.inFlightOf = (transport) => admission.inFlightOf(transport);
  // Deadlines end every rank within requestTimeoutMs; a full server that frees no slot for
  // many times that is stuck, not busy.
  const wedgeMs = Math.max(1000, 5 * config.requestTimeoutMs);
  metrics.health = () => app.health();
  let timer: NodeJS.Timeout | null = null;
  const app: App = {
    config,
    admission,
    metrics,
    encoders,
    catalog,
    writer,
    rank,
    recall,
    adminToken,
    ready: false,
    health: () =>
      report({
        lifecycle: app.ready ? OK : { ok: false, reason: "starting or draining" },
        encoders: encoders.health(),
        writes: writer.health(),
        index: catalog.indexHealth(),
        items: catalog.itemsHealth(),
        admission: admission.wedged(wedgeMs) ? { ok: false, reason: `all ${admission.limit} request slots held and none freed for ${wedgeMs / 1000} s` } : OK,
      }),
    close: async () => {
      app.ready = false;
      if (timer) clearInterval(timer);
      if (durable) {
        // On a full disk the last compaction fails; the previous snapshot and the log still
        // hold every acknowledged write, so shutdown goes on.
        await writer.compact().catch((err) => log(`final compaction failed (the log keeps every write): ${(err as Error).message}`));
        await writer.close();
      }
      if (replicated) await replicated.close();
      await encoders.close();
      await catalog.close();
    },
  };
  // A base that did not come from the data dir becomes its first snapshot, so that the log
  // always replays on top of what it was written against.
  if (durable && !restored.ownSnapshot) await writer.compact();
  if (durable && config.compactIntervalSeconds > 0) {
    timer = setInterval(() => {
      if (writer.walBytes > 0) writer.compact().catch((err) => log(`compaction failed: ${(err as Error).message}`));
    }, config.compactIntervalSeconds * 1000);
    timer.unref();
  }
  writer.refreshGauges();
  app.ready = true;
  return app;
}
