/**
 * Startup restore of the catalog: the base (own snapshot, --snapshot, the demo news, or
 * nothing), then the write-ahead log replayed on top.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Encoders } from "../model/encoders.ts";
import { Catalog, type CatalogOptions } from "./store.ts";
import { demoNews } from "./demo.ts";
import { embedInto } from "./embed.ts";
import { readSnapshot } from "./snapshot.ts";
import { decodeVector, readWal, WriteAheadLog } from "./wal.ts";
import type { Durability } from "./writer.ts";

export interface Restored {
  catalog: Catalog;
  durable: Durability | null;
  /** The data dir already holds the snapshot this catalog started from. */
  ownSnapshot: boolean;
}

/** The base (own snapshot, --snapshot, the demo news, or nothing), then the write-ahead log on top. */
export async function restoreCatalog(config: Config, encoders: Encoders, expect: { fingerprint: string; dimension: number }, opts: CatalogOptions, log: (l: string) => void): Promise<Restored> {
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
