/**
 * newsrec tune: chooses a snapshot's HNSW settings by measurement (src/index/tune.ts) on user
 * vectors sampled from its own items (src/index/tune-queries.ts), and writes the cheapest
 * setting that meets the recall target into the snapshot (src/catalog/tuned-snapshot.ts), where
 * the server picks it up (src/catalog/hnsw-settings.ts). Progress and the table on stderr; the
 * JSON summary is the last line of stdout.
 */
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { join } from "node:path";
import { buildConfig } from "../config.ts";
import { checkSnapshot, graphFiles, readSnapshot, type SnapshotManifest } from "../catalog/snapshot.ts";
import { catalogOptions } from "../catalog/store.ts";
import { tokenSpecOf } from "../catalog/token-column.ts";
import { writeTunedSnapshot } from "../catalog/tuned-snapshot.ts";
import { loadBundle } from "../model/bundle.ts";
import { Encoders } from "../model/encoders.ts";
import { HISTORIES, HISTORY_MAX, HISTORY_MIN, sampleQueries, type HistoryModel, type UserQuery } from "../index/tune-queries.ts";
import { HnswIndex } from "../index/hnsw.ts";
import { cheapest, graphsSearcher, tuneBeam, tuneGrid, type Grid, type GridPoint, type Searcher, type TuneInput } from "../index/tune.ts";
import { intOption } from "./options.ts";

/** Small enough for 100,000 news in about 20 minutes on 2 cores (benchmarks/RESULTS.md). */
export const DEFAULT_GRID = "m=16,32,48;efc=200,400;ef=100,300,600,1000,1500";
const GRID_KEYS = { m: ["m", 2, 128], efc: ["efConstruction", 8, 4096], ef: ["efSearch", 8, 4096] } as const;

/** "m=16,32;efc=200;ef=100,300": keys left out keep the default grid's values. */
export function parseGrid(text: string): Grid {
  const grid: Record<string, number[]> = {};
  for (const part of `${DEFAULT_GRID};${text}`.split(/[;\s]+/).filter(Boolean)) {
    const [key, list] = part.split("=");
    const spec = GRID_KEYS[key as keyof typeof GRID_KEYS];
    if (!spec || list === undefined) throw new InvalidArgumentError(`"${part}" is not m=LIST, efc=LIST or ef=LIST`);
    const [name, lo, hi] = spec;
    const values = list.split(",").map(Number);
    if (!values.length || values.some((v) => !Number.isInteger(v) || v < lo || v > hi)) throw new InvalidArgumentError(`${key}: integers from ${lo} to ${hi}`);
    grid[name] = [...new Set(values)].sort((a, b) => a - b);
  }
  return grid as unknown as Grid;
}

function historiesOption(v: string): HistoryModel {
  if (v !== "coherent" && v !== "uniform") throw new InvalidArgumentError("must be coherent or uniform");
  return v;
}

function recallOption(v: string): number {
  const r = Number(v);
  if (!(r > 0 && r <= 1)) throw new InvalidArgumentError("must be a number above 0 and at most 1");
  return r;
}

interface TuneOpts {
  snapshot: string;
  model: string;
  targetRecall: number;
  queries: number;
  grid: Grid;
  seed: number;
  histories: HistoryModel;
  dryRun?: boolean;
  keepGraph?: boolean;
}

const f = (x: number, d: number) => Number(x.toFixed(d));
const row = (p: GridPoint) =>
  `| ${p.m} | ${p.efConstruction} | ${p.efSearch} | ${p.recall10.toFixed(4)} | ${p.recall100.toFixed(4)} | ${p.p50Ms.toFixed(3)} | ${p.p99Ms.toFixed(3)} | ${p.buildSeconds.toFixed(1)} |`;

/** The snapshot's own graphs, read here, searched as the server searches them. */
function snapshotSearcher(dir: string, m: SnapshotManifest, t: TuneInput): Searcher {
  const shards = m.hnsw.shards ?? 1;
  const graphs = graphFiles(shards).map((f, i) => {
    const g = HnswIndex.read(join(dir, f), m.dimension, m.hnsw.phi, { m: m.hnsw.m, efConstruction: m.hnsw.efConstruction, efSearch: 16 });
    const free: number[] = [];
    for (let s = i; s < t.slots; s += shards) if (!t.isLive(s)) free.push(s);
    g.adoptDeleted(free);
    return g;
  });
  return graphsSearcher(graphs, t);
}

export function tuneCommand(program: Command): void {
  program
    .command("tune")
    .description(
      "measure HNSW recall and latency on a snapshot over a grid of M, efConstruction and efSearch, and write the cheapest setting that meets the target into it",
    )
    .requiredOption("--snapshot <dir>", "snapshot folder (newsrec embed --out), rewritten in place with the chosen setting")
    .option("--model <dir>", "model bundle whose user encoder makes the queries", buildConfig().model)
    .option("--target-recall <r>", "recall@10 against exact search the setting must reach", recallOption, 0.95)
    .option("--queries <n>", `user vectors sampled from histories of ${HISTORY_MIN}-${HISTORY_MAX} catalog items`, intOption("--queries", 10, 100_000), 300)
    .option("--grid <spec>", `settings to measure (keys left out keep these): "${DEFAULT_GRID}"`, parseGrid, parseGrid(""))
    .option("--histories <model>", "coherent (1-3 interests, the default) or uniform (the pessimistic bound)", historiesOption, "coherent")
    .option("--seed <n>", "seed of the sampled histories", intOption("--seed", 0, 2 ** 32 - 1), 1)
    .option("--dry-run", "measure and report only; leave the snapshot as it is")
    .option(
      "--keep-graph",
      "sweep only the grid's efSearch values on the snapshot's own graph or graphs (sharded ones too), building nothing: minutes for a million news",
    )
    .action(async (o: TuneOpts) => {
      const say = (l: string) => process.stderr.write(`newsrec tune: ${l}\n`);
      const bundle = loadBundle(o.model);
      const m = bundle.manifest;
      const before = checkSnapshot(o.snapshot);
      const cfg = buildConfig({ model: o.model });
      // The snapshot's graph is not read: every measured graph is built here.
      const { catalog } = readSnapshot(
        o.snapshot,
        { fingerprint: m.fingerprint, dimension: m.dimension },
        { ...catalogOptions({ ...cfg, maxAgeHours: 0 }, before.hnsw.phi), tokens: tokenSpecOf(m) },
        { graph: false },
      );
      if (catalog.size < 100) throw new Error(`snapshot ${o.snapshot}: ${catalog.size} news; tuning needs at least 100`);
      const live = [...catalog.entries()].map((e) => e.slot);
      const { vectors } = catalog.matrix;
      const mask = new Uint8Array(catalog.slots);
      for (const s of live) mask[s] = 1;
      const isLive = (s: number) => mask[s] === 1;
      const enc = await Encoders.open(bundle, {
        workers: 1,
        intraOpThreads: 1,
        providers: cfg.providers,
        maxBatch: 64,
        maxWaitMs: 0,
        maxQueue: 1 << 16,
        log: say,
      });
      let queries: UserQuery[];
      try {
        queries = await sampleQueries(
          { vectors, dim: catalog.dim, live, isLive, title: (s) => catalog.metaAt(s).title, tokens: (s) => catalog.tokensAt(s) },
          enc,
          o.queries,
          o.seed,
          o.histories,
        );
      } finally {
        await enc.close();
      }
      say(
        `${catalog.size} news, ${queries.length} user vectors from ${HISTORIES[o.histories]}; grid M ${o.grid.m} × efConstruction ${o.grid.efConstruction} × efSearch ${o.grid.efSearch}`,
      );
      const t0 = performance.now();
      const input = { vectors, dim: catalog.dim, slots: catalog.slots, isLive, phi: before.hnsw.phi, queries };
      const onPoint = (p: GridPoint) =>
        say(
          `M ${p.m} efConstruction ${p.efConstruction} efSearch ${p.efSearch}: recall@10 ${p.recall10.toFixed(4)} @100 ${p.recall100.toFixed(4)}, p50 ${p.p50Ms.toFixed(3)} ms, p99 ${p.p99Ms.toFixed(3)} ms`,
        );
      const r = o.keepGraph
        ? {
            ...tuneBeam(
              input,
              snapshotSearcher(o.snapshot, before, input),
              { m: before.hnsw.m, efConstruction: before.hnsw.efConstruction },
              o.grid.efSearch,
              onPoint,
            ),
            bestGraphs: null,
          }
        : tuneGrid(input, o.grid, o.targetRecall, onPoint, (gm, gc) => say(`building M ${gm} efConstruction ${gc} …`), {
            shards: before.hnsw.shards ?? 1,
            own: { m: before.hnsw.m, efConstruction: before.hnsw.efConstruction, search: () => snapshotSearcher(o.snapshot, before, input) },
          });
      const exactP50 = [...r.exactMs].sort((a, b) => a - b)[Math.floor(r.exactMs.length / 2)]!;
      process.stderr.write(
        `\n| M | efConstruction | efSearch | recall@10 | recall@100 | p50 ms | p99 ms | build s |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n${r.points.map(row).join("\n")}\n\n`,
      );
      const best = cheapest(r.points, o.targetRecall);
      const summary: Record<string, unknown> = {
        snapshot: o.snapshot,
        news: catalog.size,
        target: o.targetRecall,
        queries: queries.length,
        histories: HISTORIES[o.histories],
        exactJsP50Ms: f(exactP50, 3),
        // With its own graphs: a sharded snapshot's latency is its graphs searched one after another (the server searches them at once).
        ...(o.keepGraph ? { graph: { kept: true, graphs: before.hnsw.shards ?? 1 } } : {}),
        seconds: f((performance.now() - t0) / 1000, 1),
        chosen: best,
        points: r.points,
      };
      if (!best) {
        const top = r.points.reduce((a, b) => (b.recall10 > a.recall10 ? b : a));
        process.stdout.write(`${JSON.stringify({ ...summary, written: false })}\n`);
        throw new Error(
          `no setting in the grid reaches recall@10 ${o.targetRecall} (best ${top.recall10.toFixed(4)} at M ${top.m}, efConstruction ${top.efConstruction}, efSearch ${top.efSearch}); widen --grid`,
        );
      }
      const rebuilt = r.bestGraphs !== null;
      if (!o.dryRun) {
        const { m: bm, efConstruction, efSearch, recall10, recall100, p50Ms, p99Ms, buildSeconds } = best;
        await writeTunedSnapshot(
          o.snapshot,
          before,
          { m: bm, efConstruction, efSearch },
          {
            target: o.targetRecall,
            recall10,
            recall100,
            p50Ms,
            p99Ms,
            buildSeconds,
            queries: queries.length,
            histories: HISTORIES[o.histories],
            at: new Date().toISOString(),
          },
          r.bestGraphs,
        );
      }
      say(
        `chose M ${best.m}, efConstruction ${best.efConstruction}, efSearch ${best.efSearch} (recall@10 ${best.recall10.toFixed(4)}, p50 ${best.p50Ms.toFixed(3)} ms)${o.dryRun ? "; --dry-run: snapshot left as it was" : rebuilt ? "; graph rebuilt" : ""}`,
      );
      process.stdout.write(`${JSON.stringify({ ...summary, rebuilt: rebuilt && !o.dryRun, written: !o.dryRun })}\n`);
    });
}
