/**
 * Startup restore of the catalog: a base, then the write-ahead log replayed on top. With a
 * data dir the base is the data dir's own snapshot, and nothing else unless the data dir is
 * completely empty: only then is it seeded (from --snapshot or the demo news) and the seed
 * saved as its first snapshot, before the log exists. A data dir that has lost its snapshot
 * refuses to start rather than serve a catalog without the writes it acknowledged.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Encoders } from "../model/encoders.ts";
import { Catalog, type CatalogOptions } from "./store.ts";
import { demoNews } from "./demo.ts";
import { embedInto } from "./embed.ts";
import { prepareDataDir, swapSnapshot } from "./datadir.ts";
import { readSnapshot, type SnapshotHnsw } from "./snapshot.ts";
import { adoptSnapshotHnsw, configHnsw } from "./hnsw-settings.ts";
import { decodeVector, readWal, WriteAheadLog, type WalRecord } from "./wal.ts";
import type { Durability } from "./writer.ts";

export interface Restored {
  catalog: Catalog;
  durable: Durability | null;
  /** The data dir already holds the snapshot this catalog started from. */
  ownSnapshot: boolean;
}

type Expect = { fingerprint: string; dimension: number };

/** --snapshot, the demo news, or nothing. */
async function seedBase(
  config: Config,
  encoders: Encoders,
  expect: Expect,
  opts: CatalogOptions,
  log: (l: string) => void,
): Promise<{ catalog: Catalog; lastSeq: number; hnsw: SnapshotHnsw }> {
  const t0 = performance.now();
  const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
  if (config.snapshot) {
    const r = readSnapshot(config.snapshot, expect, opts);
    await r.loaded.catch(async (err) => {
      await r.catalog.close();
      throw err;
    });
    log(`snapshot ${config.snapshot}: ${r.catalog.size} news loaded in ${secs()} s`);
    return { catalog: r.catalog, lastSeq: r.manifest.lastSeq, hnsw: adoptSnapshotHnsw(r.catalog, r.manifest, config, log) };
  }
  const catalog = new Catalog(expect.dimension, expect.fingerprint, opts);
  if (config.demoNews > 0) {
    await embedInto(catalog, encoders, demoNews(config.demoNews));
    log(`demo catalog: ${catalog.size} synthetic news embedded in ${secs()} s`);
  }
  return { catalog, lastSeq: 0, hnsw: configHnsw(config) };
}

class DataDirError extends Error {
  constructor(dataDir: string, what: string) {
    super(
      `data dir ${dataDir}: ${what}; the server will not start without the writes it acknowledged. Restore ${join(dataDir, "snapshots")} and ${join(dataDir, "CURRENT")} from a backup, or move the data dir aside and start on an empty one`,
    );
    this.name = "DataDirError";
  }
}

export async function restoreCatalog(config: Config, encoders: Encoders, expect: Expect, opts: CatalogOptions, log: (l: string) => void): Promise<Restored> {
  if (!config.dataDir) return { ...(await seedBase(config, encoders, expect, opts, log)), durable: null, ownSnapshot: false };
  const dataDir = config.dataDir;
  let hnsw = configHnsw(config);
  mkdirSync(dataDir, { recursive: true });
  const state = prepareDataDir(dataDir, log);
  const walPath = join(dataDir, "wal.log");
  const wal = readWal(walPath);
  if (wal.converted) log(`write-ahead log ${walPath}: rewritten in the current framing (${wal.records.length} records)`);
  if (wal.droppedBytes) log(`write-ahead log ${walPath}: dropped a torn last record (${wal.droppedBytes} bytes, never acknowledged)`);
  const firstSeq = wal.records[0]?.seq;
  const problems = state.problems.length ? ` (${state.problems.join("; ")})` : "";
  const m = encoders.bundle.manifest;

  let catalog: Catalog | undefined;
  let lastSeq: number;
  let ownSnapshot = true;
  // A start that fails once a catalog exists ends its index workers, so the process can exit.
  try {
    if (state.snapshot) {
      const t0 = performance.now();
      const r = readSnapshot(state.snapshot.dir, expect, opts);
      catalog = r.catalog;
      await r.loaded;
      lastSeq = r.manifest.lastSeq;
      log(`snapshot ${state.snapshot.dir}: ${catalog.size} news loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      hnsw = adoptSnapshotHnsw(catalog, r.manifest, config, log);
      // Fell back past a newer snapshot: only safe when the log still holds what it added.
      if (lastSeq < state.claimedSeq && !(firstSeq !== undefined && firstSeq <= lastSeq + 1))
        throw new DataDirError(
          dataDir,
          `the only whole snapshot ${state.snapshot.dir} ends at seq ${lastSeq}, but a snapshot up to seq ${state.claimedSeq} was written and the write-ahead log does not cover the difference${problems}`,
        );
    } else if (state.empty) {
      // A new data dir: seeded, and the seed saved as its first snapshot before the log exists,
      // so a crash now leaves an empty data dir again, never a log without its base.
      ({ catalog, lastSeq, hnsw } = await seedBase(config, encoders, expect, opts, log));
      await swapSnapshot(catalog, dataDir, { model: { name: m.name, version: m.version }, lastSeq, hnsw });
      log(`data dir ${dataDir}: new; its first snapshot holds ${catalog.size} news`);
    } else if (firstSeq === 1 && !state.problems.length) {
      // A log from the very first write and never a snapshot: the log is the whole history.
      if (config.snapshot) ({ catalog, hnsw } = await seedBase(config, encoders, expect, opts, log));
      else catalog = new Catalog(expect.dimension, expect.fingerprint, opts);
      lastSeq = 0;
      ownSnapshot = false;
      log(`data dir ${dataDir}: no snapshot; the write-ahead log from seq 1 is replayed onto ${config.snapshot ? config.snapshot : "an empty catalog"}`);
    } else {
      const walSays =
        firstSeq === undefined
          ? "the write-ahead log is empty or missing"
          : `the write-ahead log starts at seq ${firstSeq} (earlier writes were compacted into a snapshot)`;
      throw new DataDirError(dataDir, `no whole snapshot${problems}, and ${walSays}`);
    }
    lastSeq = replay(catalog, wal.records, lastSeq, log);
    return { catalog, durable: { wal: await WriteAheadLog.open(walPath), dataDir, lastSeq, hnsw, log }, ownSnapshot };
  } catch (err) {
    await catalog?.close();
    throw err;
  }
}

function replay(catalog: Catalog, records: WalRecord[], lastSeq: number, log: (l: string) => void): number {
  let replayed = 0;
  for (const r of records) {
    if (r.seq <= lastSeq) continue;
    try {
      if (r.op === "upsert") for (const it of r.items) catalog.upsert(it.meta, decodeVector(it.vector), true, it.tokens ?? null);
      else catalog.delete(r.id);
    } catch (err) {
      throw new Error(`write-ahead log record ${r.seq}: ${(err as Error).message}`);
    }
    lastSeq = r.seq;
    replayed++;
  }
  if (replayed) log(`write-ahead log: replayed ${replayed} writes`);
  return lastSeq;
}
