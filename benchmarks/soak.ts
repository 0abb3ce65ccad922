/**
 * Soak: BENCH_SOAK_SECONDS (600) of mixed traffic at a fixed rate (BENCH_SOAK_RATE, 300/s):
 * cache-hit and cache-miss ranks, upserts and deletes, against a server with a data dir
 * (write-ahead log, compaction every 60 s). Reports errors and resident-memory growth after a
 * one-minute warm-up. Bounded: fixed duration and rate, loopback only.
 *
 * The server is held at a steady state so that memory growth means a leak, not more data:
 * upserts and deletes run at the same rate (the catalog keeps its size), and the user cache
 * (BENCH_SOAK_CACHE entries, 2000) fills with cache misses during the warm-up.
 * Run: node --import tsx benchmarks/soak.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { env, load, metric, prng, rssMiB, startChild } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 20_000);
const SECONDS = env("BENCH_SOAK_SECONDS", 600);
const RATE = env("BENCH_SOAK_RATE", 300);
const CACHE = env("BENCH_SOAK_CACHE", 2000);
const LEAD = 1000;
const WARMUP = Math.min(60, Math.floor(SECONDS / 5));
const rand = prng(9);
const id = () => `N${1 + Math.floor(rand() * NEWS)}`;
const warm = Array.from({ length: 500 }, (_, i) => JSON.stringify({ userId: `w${i}`, history: Array.from({ length: 30 }, id) }));
let seq = 0;
let deleted = 0;
const json = { "content-type": "application/json" };

const hit = () => warm[Math.floor(rand() * warm.length)]!;
const miss = () => JSON.stringify({ userId: `m${Math.floor(rand() * 1e12)}`, history: Array.from({ length: 50 }, id) });
const upsertBody = (n: number) =>
  JSON.stringify({
    items: [{ id: `S${n}`, title: `Storm forecast and travel delays update ${n}`, category: "weather", publishedAt: new Date().toISOString() }],
  });
const upsert = () => upsertBody(seq++);
// LEAD items are upserted before the load starts; deletes then trail upserts by about LEAD.
const victim = () => `/news/S${deleted++}`;

const dir = mkdtempSync(join(tmpdir(), "newsrec-soak-"));
const server = await startChild([
  "serve",
  "--port",
  "0",
  "--grpc-port",
  "0",
  "--demo-news",
  String(NEWS),
  "--data-dir",
  dir,
  "--compact-interval-seconds",
  "60",
  "--cache-max-entries",
  String(CACHE),
  "--log-level",
  "warn",
]);
const pid = server.proc.pid!;
for (const w of warm) await fetch(`${server.url}/rank`, { method: "POST", headers: json, body: w });
while (seq < LEAD) await fetch(`${server.url}/news`, { method: "PUT", headers: json, body: upsert() });
const samples: { t: number; rss: number }[] = [];
const t0 = Date.now();
const sampler = setInterval(() => samples.push({ t: (Date.now() - t0) / 1000, rss: rssMiB(pid) }), 5000);
// One load per request kind, each at its share of the rate: autocannon keeps a connection's
// requests of one shape, and each kind gets its own latency figures.
const kinds = [
  { name: "rank, cache hit", share: 0.55, method: "POST", path: "/rank", body: hit },
  { name: "rank, cache miss", share: 0.2, method: "POST", path: "/rank", body: miss },
  { name: "upsert", share: 0.125, method: "PUT", path: "/news", body: upsert },
  { name: "delete", share: 0.125, method: "DELETE", path: null, body: null },
] as const;
const results = await Promise.all(
  kinds.map((k) =>
    load({
      url: server.url,
      connections: k.method === "POST" ? 8 : 2,
      duration: SECONDS,
      overallRate: Math.max(1, Math.round(RATE * k.share)),
      requests: [
        k.body
          ? { method: k.method, path: k.path!, headers: json, setupRequest: (req: any) => ({ ...req, body: k.body!() }) }
          : { method: "DELETE", path: "/news/S0", setupRequest: (req: any) => ({ ...req, path: victim() }) },
      ],
    }),
  ),
);
clearInterval(sampler);
const items = (await (await fetch(`${server.url}/readyz`)).json()) as { catalogItems: number };
const cached = await metric(server.url, "newsrec_user_cache_entries");
await server.stop();
rmSync(dir, { recursive: true, force: true });

const afterWarm = samples.filter((s) => s.t >= WARMUP);
const base = afterWarm[0]?.rss ?? NaN;
const end = afterWarm[afterWarm.length - 1]?.rss ?? NaN;
const max = Math.max(...afterWarm.map((s) => s.rss));
console.log(
  [
    `### Soak: ${SECONDS} s of mixed traffic at ${RATE}/s (${new Date().toISOString().slice(0, 10)})`,
    "",
    `Mix: 55% cache-hit ranks, 20% cache-miss ranks (history 50), 12.5% upserts and 12.5% deletes, through the write-ahead log with compaction every 60 s. Steady state: the catalog keeps its size and the user cache (${CACHE} entries) is full after the warm-up.`,
    "",
    `| kind | requests | req/s | p50 ms | p99 ms | non-2xx | errors |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...results.map((r, i) => `| ${kinds[i]!.name} | ${r.requests} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.non2xx} | ${r.errors} |`),
    "",
    `Catalog at the end: ${items.catalogItems} items (${NEWS} demo + ${LEAD} before the load + ${results[2]!.requests} upserts − ${results[3]!.requests} deletes); user cache ${cached} entries.`,
    "",
    `Resident memory after the ${WARMUP} s warm-up: ${base.toFixed(0)} MiB; at the end ${end.toFixed(0)} MiB (${((100 * (end - base)) / base).toFixed(1)}% growth); highest ${max.toFixed(0)} MiB.`,
    `Samples (s: MiB): ${samples
      .filter((_, i) => i % 12 === 0)
      .map((s) => `${s.t.toFixed(0)}: ${s.rss.toFixed(0)}`)
      .join(", ")}.`,
  ].join("\n"),
);
