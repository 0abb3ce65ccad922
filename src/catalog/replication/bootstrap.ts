/**
 * Where a replica of the catalog log starts: a snapshot and the stream sequence it includes,
 * after which the replica replays the stream. Candidates, the newest usable one winning:
 *
 * - the data dir's own snapshot (written by this replica's compactions);
 * - the shared snapshot (--snapshot: the folder the embed job publishes, with the sequence
 *   it corresponds to), which is how a replica with an empty data dir joins;
 * - an empty catalog before the stream's first message, while the stream was never trimmed.
 *
 * A snapshot is usable when it belongs to this stream (name and creation time: a stream
 * created again restarts its sequence) and the stream still holds every message after it.
 */
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../config.ts";
import { prepareDataDir } from "../datadir.ts";
import { adoptSnapshotHnsw, configHnsw } from "../hnsw-settings.ts";
import { checkSnapshot, readSnapshot, type SnapshotHnsw, type SnapshotManifest } from "../snapshot.ts";
import { Catalog, type CatalogOptions } from "../store.ts";
import type { StreamState } from "./nats-log.ts";

export interface Base {
  catalog: Catalog;
  /** The last stream sequence the base includes. */
  seq: number;
  hnsw: SnapshotHnsw;
  /** The data dir already holds this base as its snapshot. */
  ownSnapshot: boolean;
}

type Expect = { fingerprint: string; dimension: number };
type Candidate = { what: string; dir: string | null; seq: number; own: boolean; manifest: SnapshotManifest | null };

export class CatalogLogStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CatalogLogStartError";
  }
}

/** Why a snapshot cannot be the base for this stream, or null when it can. */
function unusable(m: SnapshotManifest, stream: StreamState & { name: string }): string | null {
  if (!m.log) {
    if (stream.firstSeq > 1)
      return `it records no catalog-log sequence, and the stream no longer starts at its first message (it starts at ${stream.firstSeq})`;
    return null;
  }
  if (m.log.stream !== stream.name) return `it belongs to stream ${m.log.stream}, not ${stream.name}`;
  if (m.log.created !== stream.created) return `it belongs to an earlier stream of that name (created ${m.log.created}; this one ${stream.created})`;
  if (m.lastSeq > stream.lastSeq) return `it includes sequence ${m.lastSeq}, beyond the stream's last (${stream.lastSeq})`;
  if (m.lastSeq + 1 < stream.firstSeq) return `the stream was trimmed past it (it ends at ${m.lastSeq}; the stream starts at ${stream.firstSeq})`;
  return null;
}

function dataDirCandidate(dataDir: string, stream: StreamState & { name: string }, log: (l: string) => void): Candidate | null {
  mkdirSync(dataDir, { recursive: true });
  const wal = join(dataDir, "wal.log");
  if (existsSync(wal) && statSync(wal).size > 0)
    throw new CatalogLogStartError(
      `data dir ${dataDir} holds a single-node write-ahead log (wal.log); a replica of a catalog log keeps only snapshots there. Start it on another data dir, or without --catalog-log`,
    );
  const state = prepareDataDir(dataDir, log);
  if (!state.snapshot) return null;
  const why = unusable(state.snapshot.manifest, stream);
  if (why) {
    log(`data dir snapshot ${state.snapshot.dir} is not used: ${why}`);
    return null;
  }
  const m = state.snapshot.manifest;
  return { what: `data dir snapshot ${state.snapshot.dir}`, dir: state.snapshot.dir, seq: m.log ? m.lastSeq : 0, own: true, manifest: m };
}

function sharedCandidate(dir: string, stream: StreamState & { name: string }, log: (l: string) => void): Candidate | null {
  let m: SnapshotManifest;
  try {
    m = checkSnapshot(dir);
  } catch (err) {
    log(`shared snapshot ${dir} is not used: ${(err as Error).message}`);
    return null;
  }
  const why = unusable(m, stream);
  if (why) {
    log(`shared snapshot ${dir} is not used: ${why}`);
    return null;
  }
  if (!m.log) log(`shared snapshot ${dir} records no catalog-log sequence: taken as the catalog before the stream's first message`);
  return { what: `shared snapshot ${dir}`, dir, seq: m.log ? m.lastSeq : 0, own: false, manifest: m };
}

/** Loads the newest usable base; throws CatalogLogStartError naming every candidate's problem when none is. */
export async function loadBase(
  config: Config,
  expect: Expect,
  opts: CatalogOptions,
  stream: StreamState & { name: string },
  log: (l: string) => void,
): Promise<Base> {
  const candidates: Candidate[] = [];
  const own = config.dataDir ? dataDirCandidate(config.dataDir, stream, log) : null;
  if (own) candidates.push(own);
  const shared = config.snapshot ? sharedCandidate(config.snapshot, stream, log) : null;
  if (shared) candidates.push(shared);
  if (stream.firstSeq <= 1) candidates.push({ what: "an empty catalog", dir: null, seq: 0, own: false, manifest: null });
  // The newest wins (least to replay); the data dir's own on a tie (nothing to copy).
  const best = candidates.sort((a, b) => b.seq - a.seq || Number(b.own) - Number(a.own))[0];
  if (!best)
    throw new CatalogLogStartError(
      `stream ${stream.name} starts at sequence ${stream.firstSeq} (earlier messages were trimmed into snapshots), and no snapshot of it is at hand: give --snapshot the newest published one (the embed job's), whose messages the stream still holds`,
    );
  if (config.demoNews > 0 && !best.dir && !config.snapshot)
    log("demo news are not seeded with a catalog log (each replica would embed its own); the catalog starts empty");
  log(`catalog log: starting from ${best.what} at sequence ${best.seq}; the stream holds ${stream.firstSeq}..${stream.lastSeq}`);
  if (!best.dir || !best.manifest)
    return { catalog: new Catalog(expect.dimension, expect.fingerprint, opts), seq: 0, hnsw: configHnsw(config), ownSnapshot: false };
  const t0 = performance.now();
  const r = readSnapshot(best.dir, expect, opts);
  // Snapshots whose graphs load in the background settle `loaded` once they are in; one that fails ends its workers and item file.
  await r.loaded.catch(async (err) => {
    await r.catalog.close();
    throw err;
  });
  log(`snapshot ${best.dir}: ${r.catalog.size} news loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { catalog: r.catalog, seq: best.seq, hnsw: adoptSnapshotHnsw(r.catalog, r.manifest, config, log), ownSnapshot: best.own };
}
