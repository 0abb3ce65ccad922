/**
 * Retrieval quality and latency: HNSW (the server's default M, efConstruction and efSearch)
 * against exact search, recall@10 and recall@100 on the default bundle's vectors of
 * BENCH_NEWS (100000) synthetic news, queries being real user vectors.
 * Run: node --import tsx benchmarks/recall.ts
 */
import { Catalog, catalogOptions } from "../src/catalog/store.ts";
import { demoNews } from "../src/catalog/demo.ts";
import { embedInto } from "../src/catalog/embed.ts";
import { buildConfig, fromEnv } from "../src/config.ts";
import { indexPhi, loadBundle } from "../src/model/bundle.ts";
import { Encoders } from "../src/model/encoders.ts";
import { env, prng } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 100_000);
const QUERIES = env("BENCH_QUERIES", 300);
// NEWSREC_HNSW_M, NEWSREC_EF_CONSTRUCTION, NEWSREC_EF_SEARCH override the server defaults, as for the server.
const cfg = buildConfig(fromEnv(process.env));
const bundle = loadBundle(cfg.model);
const enc = await Encoders.open(bundle, { workers: 1, intraOpThreads: 2, providers: ["cpu"], maxBatch: 64, maxWaitMs: 1, maxQueue: 10_000, log: () => {} });
const catalog = new Catalog(bundle.manifest.dimension, bundle.manifest.fingerprint, catalogOptions({ ...cfg, exactMaxItems: 0 }, indexPhi(bundle.manifest)));
let t0 = performance.now();
await embedInto(catalog, enc, demoNews(NEWS, 3), 512);
const buildS = (performance.now() - t0) / 1000;

const rand = prng(7);
// Each user's own clicks are left out of both answers, as /rank does by default.
const queries: { vector: Float32Array; filter: { exclude: Set<number> } }[] = [];
for (let q = 0; q < QUERIES; q++) {
  const slots = Array.from({ length: 5 + Math.floor(rand() * 46) }, () => Math.floor(rand() * NEWS));
  const vector = (await enc.encodeUser({ kind: "vectors", vectors: slots.map((s) => catalog.vectorAt(s)) })).vector;
  queries.push({ vector, filter: { exclude: new Set(slots) } });
}
await enc.close();

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const efs = (process.env.BENCH_EF ?? `64,${cfg.efSearch},1000`).split(",").map(Number);
const lines: string[] = [];
lines.push(
  `### Retrieval: HNSW vs exact (${NEWS} news, dim ${bundle.manifest.dimension}, M ${cfg.hnswM}, efConstruction ${cfg.efConstruction}, ${QUERIES} user queries; server default efSearch ${cfg.efSearch})`,
  "",
);
lines.push(
  `Catalog build (embed + index): ${buildS.toFixed(1)} s. "score ratio" is the sum of the top-k dot products HNSW found over the exact top-k sum.`,
  "",
);
lines.push(
  "| k | efSearch | recall@k | score ratio | HNSW p50 ms | HNSW p99 ms | exact p50 ms | exact p99 ms |",
  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
);
const exactCache = new Map<number, { res: { slot: number; score: number }[][]; times: number[] }>();
for (const k of [10, 100]) {
  const res: { slot: number; score: number }[][] = [];
  const times: number[] = [];
  for (const q of queries) {
    t0 = performance.now();
    res.push(catalog.exactSearch(q.vector, k, q.filter));
    times.push(performance.now() - t0);
  }
  exactCache.set(k, { res, times });
}
for (const k of [10, 100]) {
  const exact = exactCache.get(k)!;
  for (const ef of efs) {
    catalog.index.efSearch = ef;
    let hits = 0;
    let got = 0;
    let best = 0;
    const th: number[] = [];
    queries.forEach((q, i) => {
      t0 = performance.now();
      const approx = catalog.search(q.vector, k, q.filter);
      th.push(performance.now() - t0);
      const slots = new Set(approx.map((r) => r.slot));
      for (const r of exact.res[i]!) if (slots.has(r.slot)) hits++;
      got += approx.reduce((a, r) => a + r.score, 0);
      best += exact.res[i]!.reduce((a, r) => a + r.score, 0);
    });
    lines.push(
      `| ${k} | ${ef} | ${(hits / (k * QUERIES)).toFixed(4)} | ${(got / best).toFixed(4)} | ${pct(th, 0.5).toFixed(3)} | ${pct(th, 0.99).toFixed(3)} | ${pct(exact.times, 0.5).toFixed(2)} | ${pct(exact.times, 0.99).toFixed(2)} |`,
    );
  }
}
console.log(lines.join("\n"));
