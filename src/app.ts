/**
 * Composition root: the bundle, its encoders, the catalog, the cache and the services that
 * both transports share. Startup order is the readiness contract: ready only once the model
 * is loaded and the catalog restored.
 */
import type { Config } from "./config.ts";
import { Catalog } from "./catalog/store.ts";
import { demoNews, embedInto } from "./catalog/demo.ts";
import { NewsWriter } from "./catalog/writer.ts";
import { loadBundle } from "./model/bundle.ts";
import { Encoders } from "./model/encoders.ts";
import { Metrics } from "./metrics.ts";
import { UserCache } from "./rank/cache.ts";
import { RankService } from "./rank/service.ts";

export interface App {
  config: Config;
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

  const catalog = new Catalog(m.dimension, m.fingerprint, {
    m: config.hnswM,
    efConstruction: config.efConstruction,
    efSearch: config.efSearch,
    exactMaxItems: config.exactMaxItems,
    maxAgeHours: config.maxAgeHours,
  });
  const writer = new NewsWriter(catalog, encoders, metrics);
  const cache = new UserCache(bundle.shortFingerprint, { maxEntries: config.cacheMaxEntries, ttlSeconds: config.cacheTtlSeconds });
  const rank = new RankService(catalog, encoders, cache, metrics);
  const app: App = {
    config,
    metrics,
    encoders,
    catalog,
    writer,
    rank,
    ready: false,
    close: async () => {
      app.ready = false;
      await encoders.close();
    },
  };
  try {
    if (config.demoNews > 0) {
      const t0 = performance.now();
      await embedInto(catalog, encoders, demoNews(config.demoNews));
      log(`demo catalog: ${catalog.size} synthetic news embedded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } catch (err) {
    await app.close();
    throw err;
  }
  writer.refreshGauges();
  app.ready = true;
  return app;
}
