/**
 * Which HNSW settings a server uses for a catalog loaded from a snapshot. Precedence:
 *
 * - efSearch: the operator's (flag, NEWSREC_EF_SEARCH, config file), else the snapshot's
 *   (written by `newsrec tune`), else the config default;
 * - M and efConstruction: the loaded graph's own, always. hnswlib keeps them in the graph file
 *   and inserts later items with them; a graph cannot change its degree without a rebuild
 *   (`newsrec tune` or `newsrec embed`), so an operator's differing value is only logged.
 *
 * The snapshot's record is carried into the data dir's compacted snapshots unchanged, so a
 * tuned efSearch outlives compactions even while an operator overrides it for a run.
 */
import { isExplicit, type Config } from "../config.ts";
import type { SnapshotHnsw, SnapshotManifest } from "./snapshot.ts";
import type { Catalog } from "./store.ts";

export function adoptSnapshotHnsw(catalog: Catalog, manifest: SnapshotManifest, config: Config, log: (l: string) => void): SnapshotHnsw {
  const { phi: _phi, ...record } = manifest.hnsw;
  if (record.efSearch !== undefined) {
    if (isExplicit(config, "efSearch")) log(`HNSW efSearch ${config.efSearch} as configured (the snapshot's tuned value ${record.efSearch} is overridden)`);
    else {
      catalog.index.efSearch = record.efSearch;
      const t = record.tuned;
      log(
        `HNSW efSearch ${record.efSearch} from the snapshot${t ? ` (tuned ${t.at.slice(0, 10)}: recall@10 ${t.recall10.toFixed(3)}, p50 ${t.p50Ms.toFixed(2)} ms)` : ""}`,
      );
    }
  }
  for (const [key, own] of [
    ["hnswM", record.m],
    ["efConstruction", record.efConstruction],
  ] as const) {
    if (isExplicit(config, key) && config[key] !== own) log(`HNSW ${key} ${config[key]} is ignored: the snapshot's graph was built with ${own} and keeps it`);
  }
  return record;
}

/** The record for a catalog the server built itself (demo news, an empty catalog). */
export const configHnsw = (config: Config): SnapshotHnsw => ({ m: config.hnswM, efConstruction: config.efConstruction });

/**
 * The most news one graph of a catalog `newsrec embed` builds should hold: the size at which the
 * HNSW defaults were chosen by measurement. Recall at a fixed beam falls as a graph grows
 * (benchmarks/RESULTS.md): at efSearch 1000, one graph of 100,000 news of the default bundle
 * finds 0.98 of the exact top-10 (coherent users) and 0.97 (uniform ones); a million news in two
 * graphs 0.87 (coherent), in eight 0.96 and 0.95. Smaller graphs also build faster, in parallel.
 */
export const GRAPH_ITEMS = 100_000;

/** How many graphs `newsrec embed` splits n news into unless told (--shards). */
export const graphsFor = (n: number): number => Math.max(1, Math.ceil(n / GRAPH_ITEMS));
