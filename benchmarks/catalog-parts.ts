/**
 * The resident memory of one part of a snapshot, loaded alone into this fresh process: the
 * catalog without its graph (vectors on shared memory, metadata bytes, the id map, the category
 * and time columns and filters), or one graph file as hnswlib holds it (index/hnsw.ts). Each
 * part in a process of its own, so that no part's load-time garbage is counted as another's.
 * Prints one JSON object: MiB before, and what the part added once loaded (after a full GC).
 *
 * Run: node --expose-gc --import tsx benchmarks/catalog-parts.ts SNAPSHOT_DIR [GRAPH_FILE]
 * (catalog-memory.ts runs it)
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { catalogOptions } from "../src/catalog/store.ts";
import { readSnapshot, readSnapshotManifest } from "../src/catalog/snapshot.ts";
import { buildConfig } from "../src/config.ts";
import { HnswIndex } from "../src/index/hnsw.ts";

const [dir, graph] = process.argv.slice(2) as [string, string | undefined];
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]) / 1024;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const m = readSnapshotManifest(dir);
const phi = m.hnsw.phi!;
gc();
const before = rss();
let held: unknown;
if (graph) held = HnswIndex.read(join(dir, graph), m.dimension, phi, { m: m.hnsw.m, efConstruction: m.hnsw.efConstruction, efSearch: 100 });
else {
  const r = readSnapshot(dir, { fingerprint: m.fingerprint, dimension: m.dimension }, catalogOptions(buildConfig(), phi), { graph: false });
  await r.loaded;
  held = r.catalog;
}
const peak = rss() - before;
gc();
console.log(JSON.stringify({ part: graph ?? "catalog", beforeMiB: before, addedMiB: rss() - before, addedBeforeGcMiB: peak, held: held !== undefined }));
