/**
 * Filtered retrieval latency: what one rank call costs when its category or age filter matches
 * nothing, a small share, or most of the catalog, on BENCH_NEWS (120000) demo news of the default
 * bundle dated over two weeks, with the shipped maxAgeHours (168), queries being real user vectors.
 * Recall is against the exact top-k among matching items.
 * Run: node --import tsx benchmarks/filters.ts
 * BENCH_CACHE=FILE keeps the news and query vectors between runs (the graph is rebuilt each run).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Catalog, catalogOptions, type SearchFilter } from "../src/catalog/store.ts";
import { demoNews } from "../src/catalog/demo.ts";
import { buildConfig, fromEnv } from "../src/config.ts";
import { indexPhi, loadBundle } from "../src/model/bundle.ts";
import { Encoders } from "../src/model/encoders.ts";
import { env, prng } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 120_000);
const QUERIES = env("BENCH_QUERIES", 100);
const K = env("BENCH_K", 10);
const cfg = buildConfig(fromEnv(process.env));
const bundle = loadBundle(cfg.model);
const dim = bundle.manifest.dimension;
const T0 = Date.parse("2026-01-15T00:00:00Z");
const items = demoNews(NEWS, 3, T0);

let news: Float32Array;
let queries: Float32Array[];
const cache = process.env.BENCH_CACHE;
if (cache && existsSync(cache)) {
  const all = new Float32Array(readFileSync(cache).buffer.slice(0));
  news = all.subarray(0, NEWS * dim);
  queries = Array.from({ length: QUERIES }, (_, q) => all.subarray((NEWS + q) * dim, (NEWS + q + 1) * dim));
} else {
  const enc = await Encoders.open(bundle, { workers: 1, intraOpThreads: 2, providers: ["cpu"], maxBatch: 64, maxWaitMs: 1, maxQueue: 10_000, log: () => {} });
  news = new Float32Array(NEWS * dim);
  for (let i = 0; i < NEWS; i += 512) {
    const chunk = items.slice(i, i + 512);
    const vecs = await enc.encodeNewsBatch(chunk.map((n) => enc.tokenizer.news(n)));
    vecs.forEach((v, j) => news.set(v, (i + j) * dim));
  }
  const rand = prng(7);
  queries = [];
  for (let q = 0; q < QUERIES; q++) {
    const hist = Array.from({ length: 5 + Math.floor(rand() * 46) }, () => {
      const i = Math.floor(rand() * NEWS);
      return news.subarray(i * dim, (i + 1) * dim);
    });
    queries.push((await enc.encodeUser({ kind: "vectors", vectors: hist })).vector);
  }
  await enc.close();
  if (cache) {
    const all = new Float32Array((NEWS + QUERIES) * dim);
    all.set(news);
    queries.forEach((q, i) => all.set(q, (NEWS + i) * dim));
    writeFileSync(cache, new Uint8Array(all.buffer));
  }
}

const catalog = new Catalog(dim, bundle.manifest.fingerprint, catalogOptions({ ...cfg, maxAgeHours: 168 }, indexPhi(bundle.manifest)));
let t = performance.now();
items.forEach((n, i) => catalog.upsert(n, news.subarray(i * dim, (i + 1) * dim)));
const buildS = (performance.now() - t) / 1000;

const perCat = new Map<string, number>();
for (const n of items) perCat.set(n.category!, (perCat.get(n.category!) ?? 0) + 1);
const cats = [...perCat].sort((a, b) => a[1] - b[1]);
const newest = Date.parse(items.at(-1)!.publishedAt!);
const oldest = Date.parse(items[0]!.publishedAt!);
const span = newest - oldest;
// `now` moves the shipped 168-hour window over the catalog.
const nowAll = oldest + 1; // the clock set back: every item is within 168 hours
const nowHalf = newest;
const nowOld = newest + 30 * 86400_000;
const nowOnePct = newest + 168 * 3600_000 - 0.01 * span;

const scenarios: { name: string; f: SearchFilter; now: number }[] = [
  { name: "category matching nothing", f: { categories: new Set(["no-such-category"]) }, now: nowHalf },
  { name: "old catalog (every item past maxAgeHours)", f: {}, now: nowOld },
  { name: "maxAgeHours window over the newest 1%", f: {}, now: nowOnePct },
  { name: "request maxAge over the newest 1%", f: { publishedAfter: newest - 0.01 * span }, now: nowAll },
  {
    name: `smallest category (${cats[0]![0]}, ${((100 * cats[0]![1]) / NEWS).toFixed(1)}%) within 168 h`,
    f: { categories: new Set([cats[0]![0]]) },
    now: nowHalf,
  },
  {
    name: `largest category (${cats.at(-1)![0]}, ${((100 * cats.at(-1)![1]) / NEWS).toFixed(1)}%) within 168 h`,
    f: { categories: new Set([cats.at(-1)![0]]) },
    now: nowHalf,
  },
  { name: `5 of ${cats.length} categories, all ages`, f: { categories: new Set(cats.slice(0, 5).map((c) => c[0])) }, now: nowAll },
  { name: `10 of ${cats.length} categories, all ages`, f: { categories: new Set(cats.slice(0, 10).map((c) => c[0])) }, now: nowAll },
  { name: "maxAgeHours window over half the catalog", f: {}, now: nowHalf },
  { name: "maxAgeHours window over the whole catalog", f: {}, now: nowAll },
];

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const lines = [
  `### Filtered retrieval (${NEWS} news, dim ${dim}, M ${cfg.hnswM}, efSearch ${cfg.efSearch}, maxAgeHours 168, k ${K}, ${QUERIES} user queries)`,
  "",
  `Catalog build: ${buildS.toFixed(1)} s.`,
  "",
];
lines.push("| filter | matching | p50 ms | p99 ms | max ms | recall@k | short answers |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const s of scenarios) {
  const times: number[] = [];
  let hits = 0;
  let want = 0;
  let short = 0;
  const matching = catalog.exactSearch(queries[0]!, NEWS, s.f, s.now).length;
  for (const q of queries) {
    t = performance.now();
    const got = catalog.search(q, K, s.f, s.now);
    times.push(performance.now() - t);
    const exact = catalog.exactSearch(q, K, s.f, s.now);
    const slots = new Set(got.map((r) => r.slot));
    for (const r of exact) if (slots.has(r.slot)) hits++;
    want += exact.length;
    if (got.length < exact.length) short++;
  }
  lines.push(
    `| ${s.name} | ${matching} | ${pct(times, 0.5).toFixed(3)} | ${pct(times, 0.99).toFixed(3)} | ${Math.max(...times).toFixed(3)} | ${want ? (hits / want).toFixed(4) : "-"} | ${short} |`,
  );
}
// Cold start after a write: the freshest-first list.
const cold: number[] = [];
for (let i = 0; i < 20; i++) {
  catalog.upsert({ ...items[i]!, title: `${items[i]!.title} (updated)` }, news.subarray(i * dim, (i + 1) * dim));
  t = performance.now();
  catalog.freshestSlots({}, K, nowHalf);
  cold.push(performance.now() - t);
}
lines.push(
  `| cold start (freshest first) after a write | - | ${pct(cold, 0.5).toFixed(3)} | ${pct(cold, 0.99).toFixed(3)} | ${Math.max(...cold).toFixed(3)} | - | - |`,
);
console.log(lines.join("\n"));
