/**
 * Composition root: the bundle, its encoders, the catalog, the cache and the services that
 * both transports share. Startup order is the readiness contract: ready only once the model
 * is loaded and the catalog restored (snapshot, then the write-ahead log replayed).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./config.ts";
import { Catalog, catalogOptions, type CatalogOptions } from "./catalog/store.ts";
import { demoNews } from "./catalog/demo.ts";
import { embedInto } from "./catalog/embed.ts";
import { readSnapshot } from "./catalog/snapshot.ts";
import { decodeVector, readWal, WriteAheadLog } from "./catalog/wal.ts";
import { NewsWriter, type Durability } from "./catalog/writer.ts";
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

interface Restored {
  catalog: Catalog;
  durable: Durability | null;
  /** The data dir already holds the snapshot this catalog started from. */
  ownSnapshot: boolean;
}

/** The base (own snapshot, --snapshot, the demo news, or nothing), then the write-ahead log on top. */
async function restoreCatalog(config: Config, encoders: Encoders, expect: { fingerprint: string; dimension: number }, opts: CatalogOptions, log: (l: string) => void): Promise<Restored> {
  const hnsw = { m: config.hnswM, efConstruction: config.efConstruction };
  const own = config.dataDir ? join(config.dataDir, "snapshot") : null;
  const source = own && existsSync(join(own, "manifest.json")) ? own : config.snapshot;
  let catalog: Catalog;
  let lastSeq = 0;
  if (source) {
    const t0 = performance.now();
    const r = readSnapshot(source, expect, opts);
    catalog = r.catalog;
    lastSeq = r.manifest.lastSeq;
    log(`snapshot ${source}: ${catalog.size} news loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } else {
    catalog = new Catalog(expect.dimension, expect.fingerprint, opts);
    if (config.demoNews > 0) {
      const t0 = performance.now();
      await embedInto(catalog, encoders, demoNews(config.demoNews));
      log(`demo catalog: ${catalog.size} synthetic news embedded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
  if (!config.dataDir) return { catalog, durable: null, ownSnapshot: false };
  mkdirSync(config.dataDir, { recursive: true });
  const walPath = join(config.dataDir, "wal.log");
  const { records, droppedBytes } = readWal(walPath);
  if (droppedBytes) log(`write-ahead log ${walPath}: dropped a torn last record (${droppedBytes} bytes, never acknowledged)`);
  let replayed = 0;
  for (const r of records) {
    if (r.seq <= lastSeq) continue;
    if (r.op === "upsert") for (const it of r.items) catalog.upsert(it.meta, decodeVector(it.vector));
    else catalog.delete(r.id);
    lastSeq = r.seq;
    replayed++;
  }
  if (replayed) log(`write-ahead log: replayed ${replayed} writes`);
  return { catalog, durable: { wal: await WriteAheadLog.open(walPath), dataDir: config.dataDir, lastSeq, hnsw }, ownSnapshot: source === own };
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
