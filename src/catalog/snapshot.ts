/**
 * Catalog snapshots: a folder with manifest.json, items.jsonl (one item per slot in use),
 * vectors.f32 (slots × dimension, little-endian float32), index.hnsw (the graph, labels
 * being slots) and, for a model whose user encoder reads the clicked news' token ids (FUM),
 * tokens.bin (slots rows of the token column, token-column.ts). The manifest is written last
 * and records every file's size, so a folder is complete exactly when its manifest parses and
 * the sizes agree. It also records the model fingerprint: vectors of two encoders never mix.
 */
import { isUtf8 } from "node:buffer";
import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import { mkdir, open, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { crc32 } from "node:zlib";
import { Catalog, type CatalogOptions, type GraphIndex, type NewsMeta, type RestoredItem } from "./store.ts";
import { storedText, type ItemPlaces } from "./meta-store.ts";
import { recoverFolder, swapFolder, tempSibling } from "./folder-swap.ts";
import { HnswIndex } from "../index/hnsw.ts";
import { ShardedIndex } from "../index/sharded.ts";
import { fsyncPath, writeDurable } from "./disk.ts";
import { fileLineBytes, readInto } from "./sync-read.ts";
import { sameTokenSpec, TokenColumn, type TokenSpec } from "./token-column.ts";

const SNAPSHOT_FORMAT = 1;

export interface SnapshotManifest {
  format: number;
  fingerprint: string;
  model: { name: string; version: string };
  dimension: number;
  items: number;
  slots: number;
  /** The write-ahead-log sequence number this snapshot includes (0 for batch snapshots). */
  lastSeq: number;
  hnsw: SnapshotHnsw & { phi: number };
  createdAt: string;
  /** Each file's size in bytes (absent in snapshots written before it was recorded). */
  files?: Record<string, number>;
  /** Present when lastSeq is a sequence of a replicated catalog log (src/catalog/replication/). */
  log?: SnapshotLog;
  /** Present when the snapshot keeps each item's token ids (tokens.bin). */
  tokens?: TokenSpec;
  timings?: Record<string, number>;
}

export class SnapshotError extends Error {
  constructor(dir: string, message: string) {
    super(`snapshot ${dir}: ${message}`);
    this.name = "SnapshotError";
  }
}

/** Items per write of items.jsonl while a snapshot is written. */
const CAPTURE_CHUNK = 1000;
/** The graph files of a snapshot of `shards` graphs: index.hnsw for one, index-<i>.hnsw for more. */
export function graphFiles(shards = 1): string[] {
  return shards === 1 ? ["index.hnsw"] : Array.from({ length: shards }, (_, i) => `index-${i}.hnsw`);
}

/** The token column's file, in snapshots of models whose user encoder reads token ids. */
export const TOKENS = "tokens.bin";
const snapshotFiles = (shards = 1, tokens = false) => ["items.jsonl", "vectors.f32", ...graphFiles(shards), ...(tokens ? [TOKENS] : [])];

/** What `newsrec tune` measured for the setting it chose (src/index/tune.ts). */
export interface TunedRecord {
  target: number;
  recall10: number;
  recall100: number;
  p50Ms: number;
  p99Ms: number;
  buildSeconds: number;
  queries: number;
  /** How the query histories were drawn (src/index/tune-queries.ts). */
  histories: string;
  at: string;
}

/**
 * The graph's settings. M and efConstruction are the graph's own (hnswlib keeps them in the
 * graph file too, for later inserts); efSearch and tuned appear once `newsrec tune` has chosen
 * them, and the server searches with that efSearch unless its operator set one (README).
 */
export interface SnapshotHnsw {
  m: number;
  efConstruction: number;
  /** Graphs the slots are split into by slot % shards (absent: 1). */
  shards?: number;
  efSearch?: number;
  tuned?: TunedRecord;
}

/** The catalog log a snapshot's lastSeq counts in: a stream created again restarts its sequence. */
export interface SnapshotLog {
  stream: string;
  /** The stream's creation time, as JetStream reports it. */
  created: string;
}

export type SnapshotInfo = {
  model: { name: string; version: string };
  lastSeq: number;
  hnsw: SnapshotHnsw;
  timings?: Record<string, number>;
  log?: SnapshotLog;
};

/** A snapshot written: its manifest, and where each slot's item text is in its items.jsonl. */
export interface WrittenSnapshot {
  manifest: SnapshotManifest;
  items: ItemPlaces;
}

/**
 * Writes the catalog's files into the empty folder `dir`, manifest last, every file and the
 * folder fsynced: a folder with a manifest is complete. The work is asynchronous (file I/O
 * and the graph's serialisation run off the main thread, and the items are written a
 * thousand at a time), so a server keeps answering while it compacts; the caller keeps the
 * catalog unchanged until the promise settles (the server's writes wait in the writer's
 * queue). `onStep` is called before each step (crash tests).
 */
export async function writeSnapshotFiles(
  catalog: Catalog,
  dir: string,
  info: SnapshotInfo,
  onStep: (step: string) => void = () => {},
): Promise<WrittenSnapshot> {
  const slots = catalog.slots;
  const shards = catalog.index instanceof ShardedIndex ? catalog.index.shards : 1;
  const paths = graphFiles(shards).map((f) => join(dir, f));
  onStep("write graph and items");
  const idx = catalog.index;
  const graph = (idx instanceof HnswIndex ? idx.write(paths[0]!) : idx.write(paths)).then(() => Promise.all(paths.map(fsyncPath)));
  // Awaited below; should the items fail first (a full disk), its failure must not go unhandled.
  graph.catch(() => {});
  // Items go out a chunk at a time, so no one step holds the event loop for long.
  const vectors = new Float32Array(slots * catalog.dim);
  const itemAt = new Float64Array(slots).fill(-1);
  const sums = new Uint32Array(slots);
  const items = await open(join(dir, "items.jsonl"), "w");
  try {
    let lines: string[] = [];
    const flush = async () => {
      if (lines.length) await items.writeFile(lines.join(""));
      lines = [];
    };
    const text = new TextDecoder();
    let at = 0;
    for (let slot = 0; slot < slots; slot++) {
      // Each item's JSON as the catalog holds it ({"id":...}), with its slot put first: no parse.
      const raw = catalog.rawMetaToCopy(slot);
      if (!raw) continue;
      vectors.set(catalog.vectorAt(slot), slot * catalog.dim);
      const head = `{"slot":${slot},`;
      itemAt[slot] = at + head.length;
      // The bytes as written: the stored ones are UTF-8 (encoded here, or checked when restored), so they decode and encode to themselves.
      sums[slot] = crc32(raw.subarray(1));
      at += head.length + raw.length;
      lines.push(`${head}${text.decode(raw.subarray(1))}\n`);
      if (lines.length === CAPTURE_CHUNK) await flush();
    }
    await flush();
    await items.sync();
  } finally {
    await items.close();
  }
  onStep("write vectors");
  const tokens = catalog.tokenBytes();
  await Promise.all([
    writeDurable(join(dir, "vectors.f32"), new Uint8Array(vectors.buffer)),
    ...(tokens ? [writeDurable(join(dir, TOKENS), tokens)] : []),
    graph,
  ]);
  const files: Record<string, number> = {};
  for (const f of snapshotFiles(shards, tokens !== null)) files[f] = (await stat(join(dir, f))).size;
  const manifest: SnapshotManifest = {
    format: SNAPSHOT_FORMAT,
    fingerprint: catalog.fingerprint,
    model: info.model,
    dimension: catalog.dim,
    items: catalog.size,
    slots,
    lastSeq: info.lastSeq,
    // The graphs' count is the catalog's own, whatever the record it carries says.
    hnsw: { ...info.hnsw, shards: undefined, ...(shards > 1 ? { shards } : {}), phi: catalog.index.phi },
    createdAt: new Date().toISOString(),
    files,
    ...(info.timings ? { timings: info.timings } : {}),
    ...(info.log ? { log: info.log } : {}),
    ...(catalog.tokenSpec ? { tokens: catalog.tokenSpec } : {}),
  };
  onStep("write manifest");
  await writeDurable(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  onStep("fsync snapshot folder");
  await fsyncPath(dir);
  return { manifest, items: { at: itemAt, sums } };
}

/**
 * Writes a plain snapshot folder at `dir` (newsrec embed --out): a sibling temporary folder,
 * then swapped into place (folder-swap.ts: a crash leaves the old folder or the new, found
 * when the folder is next read). A server's data dir uses versioned folders and a pointer
 * instead (datadir.ts). `onStep` is called before each step (crash tests).
 */
export async function writeSnapshot(catalog: Catalog, dir: string, info: SnapshotInfo, onStep: (step: string) => void = () => {}): Promise<SnapshotManifest> {
  // A sibling of the folder itself, whatever the path names it by ("." included).
  dir = resolve(dir);
  await mkdir(dirname(dir), { recursive: true });
  // A rewrite of this folder that a crash interrupted is finished first, so the folder is whole to replace.
  recoverFolder(dir);
  const tmp = tempSibling(dir, "tmp");
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  const { manifest } = await writeSnapshotFiles(catalog, tmp, info, onStep);
  await swapFolder(tmp, dir, onStep);
  return manifest;
}

/**
 * The manifest of a complete snapshot folder: it parses and every file has the size it
 * claims (folders written before sizes were recorded: the vectors' size is checked). Throws a
 * SnapshotError naming what is missing.
 */
export function checkSnapshot(dir: string): SnapshotManifest {
  const m = readSnapshotManifest(dir);
  const expected: Record<string, number | undefined> = m.files ?? {
    "vectors.f32": m.slots * m.dimension * 4,
    "items.jsonl": undefined,
    "index.hnsw": undefined,
  };
  for (const f of snapshotFiles(m.hnsw.shards, m.tokens !== undefined)) {
    let size: number;
    try {
      size = statSync(join(dir, f)).size;
    } catch {
      throw new SnapshotError(dir, `${f} is missing`);
    }
    const want = expected[f];
    if (want !== undefined && size !== want) throw new SnapshotError(dir, `${f} holds ${size} bytes, the manifest says ${want} (truncated or corrupt)`);
  }
  return m;
}

/** The manifest of a snapshot folder, a rewrite of it interrupted by a crash finished first (folder-swap.ts). */
export function readSnapshotManifest(dir: string): SnapshotManifest {
  recoverFolder(dir);
  let m: SnapshotManifest;
  try {
    m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  } catch (err) {
    throw new SnapshotError(dir, `cannot read manifest.json: ${(err as Error).message}`);
  }
  if (m.format !== SNAPSHOT_FORMAT) throw new SnapshotError(dir, `unsupported format ${m.format}`);
  return m;
}

/**
 * Loads a snapshot into a new catalog; refuses one made by another encoder. With index workers
 * (opts.indexWorkers), or a snapshot of several graphs, the graphs are read in the workers, in
 * parallel: `loaded` settles when they are (a SnapshotError if one cannot be read). `graph:
 * false` leaves the graph out (tools that only read the items and vectors).
 */
export function readSnapshot(
  dir: string,
  expect: { fingerprint: string; dimension: number },
  opts: CatalogOptions,
  o: { graph?: boolean } = {},
): { catalog: Catalog; manifest: SnapshotManifest; loaded: Promise<void> } {
  const m = readSnapshotManifest(dir);
  if (m.fingerprint !== expect.fingerprint) {
    throw new SnapshotError(
      dir,
      `was made by model fingerprint ${m.fingerprint.slice(0, 16)}…, but the loaded model is ${expect.fingerprint.slice(0, 16)}…; re-embed the news with this model (newsrec embed)`,
    );
  }
  if (m.dimension !== expect.dimension) throw new SnapshotError(dir, `dimension ${m.dimension} differs from the model's ${expect.dimension}`);
  const tokens = readTokens(dir, m, opts.tokens);
  // The vectors go straight from the file into the catalog's shared matrix (restoreItems): sized first.
  let vectorBytes: number;
  try {
    vectorBytes = statSync(join(dir, "vectors.f32")).size;
  } catch (err) {
    throw new SnapshotError(dir, `cannot read vectors.f32: ${(err as Error).message}`);
  }
  if (vectorBytes !== m.slots * m.dimension * 4)
    throw new SnapshotError(dir, `vectors.f32 holds ${vectorBytes} bytes, expected ${m.slots * m.dimension * 4} (truncated or corrupt)`);
  const shards = m.hnsw.shards ?? 1;
  const paths = graphFiles(shards).map((f) => join(dir, f));
  const w = opts.indexWorkers;
  // The graphs' own M and efConstruction, not the configured ones: a graph rebuilt in an index worker (one replaced)
  // or made for growth is built as the ones read.
  const params = { ...opts, m: m.hnsw.m, efConstruction: m.hnsw.efConstruction, phi: m.hnsw.phi };
  let index: GraphIndex;
  let loaded = Promise.resolve();
  if (o.graph === false) index = new HnswIndex(m.dimension, m.hnsw.phi, params, 16);
  else if (w || shards > 1) {
    const layout = shards === 1 && w ? w.layout : "sharded";
    const sharded = new ShardedIndex(m.dimension, m.hnsw.phi, params, m.slots, { ...w, workers: w?.workers ?? shards, shards, layout });
    index = sharded;
    loaded = Promise.all([sharded.ready, sharded.read(paths, m.slots)]).then(
      () => {},
      (err: Error) => {
        throw new SnapshotError(dir, `cannot read its graph: ${err.message}`);
      },
    );
    loaded.catch(() => {});
  } else {
    try {
      index = HnswIndex.read(paths[0]!, m.dimension, m.hnsw.phi, opts);
    } catch (err) {
      throw new SnapshotError(dir, `cannot read index.hnsw: ${(err as Error).message}`);
    }
  }
  const catalog = new Catalog(m.dimension, m.fingerprint, { ...opts, phi: m.hnsw.phi }, Math.max(m.slots, 16), index);
  try {
    restoreItems(dir, m, catalog, tokens);
  } catch (err) {
    void catalog.close();
    throw err;
  }
  return { catalog, manifest: m, loaded };
}

/**
 * tokens.bin when the model's user encoder reads token ids (null otherwise). A snapshot without
 * them cannot serve such a model: it is refused rather than tokenized at start, which would hold a
 * large catalog's start for minutes.
 */
function readTokens(dir: string, m: SnapshotManifest, want: TokenSpec | undefined): Uint8Array | null {
  if (!want) return null;
  if (!m.tokens)
    throw new SnapshotError(
      dir,
      "holds no token ids, and the loaded model's user encoder reads the clicked news' token ids (news_tokens_and_vectors); re-embed the news with this model (newsrec embed)",
    );
  if (!sameTokenSpec(m.tokens, want))
    throw new SnapshotError(
      dir,
      `keeps ${m.tokens.width} token ids of ${m.tokens.bytesPerId} bytes per item, the model needs ${want.width} of ${want.bytesPerId}; re-embed the news with this model (newsrec embed)`,
    );
  let raw: Buffer;
  try {
    raw = readFileSync(join(dir, TOKENS));
  } catch (err) {
    throw new SnapshotError(dir, `cannot read ${TOKENS}: ${(err as Error).message}`);
  }
  const size = TokenColumn.fileBytes(want, m.slots);
  if (raw.byteLength !== size) throw new SnapshotError(dir, `${TOKENS} holds ${raw.byteLength} bytes, expected ${size} (truncated or corrupt)`);
  return raw;
}

function restoreItems(dir: string, m: SnapshotManifest, catalog: Catalog, tokens: Uint8Array | null): void {
  let n: number;
  const path = join(dir, "items.jsonl");
  try {
    const bytes = statSync(path).size;
    // Past the limit, the items stay in the file and are read on demand (meta-store.ts).
    const inFile = bytes > (catalog.itemsInMemoryMaxBytes ?? Infinity);
    n = catalog.restore(itemLines(dir, m, inFile), (rows) => readInto(join(dir, "vectors.f32"), rows), m.slots, tokens, inFile ? { file: path } : { bytes });
  } catch (err) {
    if (err instanceof SnapshotError) throw err;
    throw new SnapshotError(dir, (err as Error).message);
  }
  if (n !== m.items) throw new SnapshotError(dir, `items.jsonl holds ${n} items, the manifest says ${m.items}`);
}

/**
 * items.jsonl one line at a time, read a chunk at a time (sync-read.ts): a million items are never all parsed objects,
 * nor one string or buffer, at once (each item is kept as its JSON bytes: meta-store.ts). With `inFile`, an item
 * whose line is {"slot":N, then its text exactly as the catalog would store it (how snapshots are written) comes
 * with that text's byte range in the file, to be read from there.
 */
function* itemLines(dir: string, m: SnapshotManifest, inFile: boolean): Generator<RestoredItem> {
  const fd = openSync(join(dir, "items.jsonl"), "r");
  try {
    let line = 0;
    for (const { at, line: bytes } of fileLineBytes(fd)) {
      line++;
      if (!bytes.length) continue;
      const text = bytes.toString("utf8");
      let o: { slot: number } & NewsMeta;
      try {
        o = JSON.parse(text);
      } catch {
        throw new SnapshotError(dir, `items.jsonl line ${line} is not valid JSON (truncated or corrupt)`);
      }
      const { slot, ...meta } = o;
      if (!Number.isInteger(slot) || slot < 0 || slot >= m.slots) throw new SnapshotError(dir, `items.jsonl line ${line}: slot ${slot} out of range`);
      const head = `{"slot":${slot},`;
      // The same text, and so the same bytes, provided the line is UTF-8: bytes that are not decode to U+FFFD, and
      // the catalog would store U+FFFD's own bytes rather than them.
      if (inFile && text.startsWith(head) && text.slice(head.length) === storedText(meta).slice(1) && isUtf8(bytes)) {
        const own = bytes.subarray(head.length);
        yield { slot, meta, inFile: { at: at + head.length, length: own.length, sum: crc32(own) } };
      } else yield { slot, meta };
    }
  } finally {
    closeSync(fd);
  }
}
