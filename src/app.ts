/**
 * Composition root: the bundle, its encoders, the catalog, the cache and the services that
 * both transports share. Startup order is the readiness contract: ready only once the model
 * is loaded and the catalog restored (snapshot, then the write-ahead log replayed).
 */
import type { Config } from "./config.ts";
import { catalogOptions, type Catalog } from "./catalog/store.ts";
import { restoreCatalog, type Restored } from "./catalog/restore.ts";
import { NewsWriter } from "./catalog/writer.ts";
import { indexPhi, loadBundle } from "./model/bundle.ts";
import { Encoders } from "./model/encoders.ts";
import { Metrics } from "./metrics.ts";
import { UserCache } from "./rank/cache.ts";
import { RankService } from "./rank/service.ts";

/** Counts requests in progress across transports; refuses past the limit. */
export class Admission {
  inFlight = 0;
  constructor(public limit: number) {}
  tryEnter(): boolean {
    if (this.inFlight >= this.limit) return false;
    this.inFlight++;
    return true;
  }
  leave(): void {
    this.inFlight--;
  }
}

export interface App {
  config: Config;
  admission: Admission;
  metrics: Metrics;
  encoders: Encoders;
  catalog: Catalog;
  writer: NewsWriter;
  rank: RankService;
  ready: boolean;
  close(): Promise<void>;
}

export async function createApp(config: Config, log: (line: string) => void, metrics = new Metrics()): Promise<App> {
  const bundle = loadBundle(config.model);
  const m = bundle.manifest;
  const encoders = await Encoders.open(bundle, {
    workers: config.workers,
    intraOpThreads: config.intraOpThreads,
    providers: config.providers,
    maxBatch: config.maxBatch,
    maxWaitMs: config.maxWaitMs,
    maxQueue: config.maxQueue,
    log,
    onBatch: (encoder, size, waits) => {
      metrics.batchSize.observe({ encoder }, size);
      for (const w of waits) metrics.queueWaitSeconds.observe({ encoder }, w);
    },
  });
  log(`model ${m.name} ${m.version} (${m.architecture}, dim ${m.dimension}, fingerprint ${bundle.shortFingerprint}) on ${encoders.provider}`);
  metrics.modelInfo.set({ name: m.name, version: m.version, fingerprint: m.fingerprint, provider: encoders.provider, architecture: m.architecture }, 1);

  let restored: Restored;
  try {
    restored = await restoreCatalog(
      config,
      encoders,
      { fingerprint: m.fingerprint, dimension: m.dimension },
      catalogOptions(config, indexPhi(m)),
      log,
    );
  } catch (err) {
    await encoders.close();
    throw err;
  }
  const { catalog, durable } = restored;
  const writer = new NewsWriter(catalog, encoders, metrics, durable);
  const cache = new UserCache(bundle.shortFingerprint, { maxEntries: config.cacheMaxEntries, ttlSeconds: config.cacheTtlSeconds });
  const rank = new RankService(catalog, encoders, cache, metrics);
  if (durable) metrics.lastSnapshotAt = () => writer.lastSnapshotAt;
  metrics.isReady = () => app.ready;
  let timer: NodeJS.Timeout | null = null;
  const app: App = {
    config,
    admission: new Admission(config.maxInFlight),
    metrics,
    encoders,
    catalog,
    writer,
    rank,
    ready: false,
    close: async () => {
      app.ready = false;
      if (timer) clearInterval(timer);
      if (durable) {
        await writer.compact();
        await writer.close();
      }
      await encoders.close();
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
