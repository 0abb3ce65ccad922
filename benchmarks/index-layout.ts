/**
 * Where the HNSW index lives, measured side by side in one run at BENCH_NEWS (100,000) news of
 * the default bundle: on the main thread (indexWorkers 0, as every version before the index
 * workers), sharded over two index workers (two graphs, a search asks both), and replicated in
 * two workers (one graph each, a search asks the less busy).
 *
 * - Build: `newsrec embed` into one graph, and into two graphs built by two workers while news
 *   encode (wall time of the whole command).
 * - Recall@10 and @100 against exact search, and the latency of one search, for each layout,
 *   on user vectors of the bundle's user encoder from cluster-coherent histories (tune-queries).
 * - HTTP /rank per layout: cache-hit retrieve at saturation, 20% misses at saturation, and 20%
 *   misses at half of that (hits and misses as two loads), with the server's event-loop delay
 *   p99 (newsrec_nodejs_eventloop_lag_p99_seconds, 1 ms resolution), next to a bare fastify route.
 *   The servers keep no answers (keptAnswersMaxBytes 0), so that every retrieve searches the index.
 *
 * BENCH_NEWS (100000), BENCH_SECONDS (10), BENCH_CONNECTIONS (16), BENCH_QUERIES (300).
 * Run: node --import tsx benchmarks/index-layout.ts
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoNews } from "../src/catalog/demo.ts";
import { readSnapshot } from "../src/catalog/snapshot.ts";
import { catalogOptions, type Catalog } from "../src/catalog/store.ts";
import { buildConfig } from "../src/config.ts";
import { indexPhi, loadBundle } from "../src/model/bundle.ts";
import { Encoders } from "../src/model/encoders.ts";
import { sampleQueries } from "../src/index/tune-queries.ts";
import { builtCli, env, load, metric, prng, row, startChild, TABLE_HEAD, type LoadResult } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 100_000);
const CONNECTIONS = env("BENCH_CONNECTIONS", 16);
const QUERIES = env("BENCH_QUERIES", 300);
const USERS = 500;
const dir = mkdtempSync(join(tmpdir(), "newsrec-layout-"));
const say = (l: string) => process.stderr.write(`index-layout: ${l}\n`);

// 1. Build: one graph, and two graphs in two workers.
const newsFile = join(dir, "news.jsonl");
const items = demoNews(NEWS, 1, Date.parse("2026-11-01T00:00:00Z"));
writeFileSync(newsFile, items.map((n) => `${JSON.stringify(n)}\n`).join(""));
const build: Record<string, number> = {};
for (const shards of [1, 2]) {
  const out = join(dir, `snap${shards}`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [builtCli(), "embed", "--news", newsFile, "--out", out, "--shards", String(shards)], {
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`embed --shards ${shards} failed:\n${r.stderr}`);
  build[shards] = (performance.now() - t0) / 1000;
  say(`embed of ${NEWS} news into ${shards} graph(s): ${build[shards]!.toFixed(1)} s`);
}

// 2. Recall and the latency of one search, per layout.
const bundle = loadBundle(buildConfig().model);
const m = bundle.manifest;
const cfg = buildConfig();
const expect = { fingerprint: m.fingerprint, dimension: m.dimension };
const base = catalogOptions({ ...cfg, efSearchAuto: true, exactMaxItems: 0, maxAgeHours: 0 }, indexPhi(m));
const layouts = [
  { name: "main thread", snap: "snap1", args: ["--index-workers", "0"], workers: undefined },
  { name: "sharded, 2 workers", snap: "snap2", args: [], workers: { indexWorkers: 2, indexShards: 2, indexLayout: "sharded" as const } },
  {
    name: "replicated, 2 workers",
    snap: "snap1",
    args: ["--index-layout", "replicated"],
    workers: { indexWorkers: 2, indexShards: 1, indexLayout: "replicated" as const },
  },
];
const reference = readSnapshot(join(dir, "snap1"), expect, base).catalog;
const live = [...reference.entries()].map((e) => e.slot);
const enc = await Encoders.open(bundle, {
  workers: 1,
  intraOpThreads: 1,
  providers: cfg.providers,
  maxBatch: 64,
  maxWaitMs: 0,
  maxQueue: 1 << 16,
  log: () => {},
});
const queries = await sampleQueries(
  { vectors: reference.matrix.vectors, dim: reference.dim, live, isLive: (s) => reference.metaAt(s) !== null, title: (s) => reference.metaAt(s).title },
  enc,
  QUERIES,
  7,
);
await enc.close();
// Each user's own clicks left out of every answer, as /rank does by default.
const asked = queries.map((q) => ({ vector: q.vector, filter: { exclude: new Set(q.history) } }));
const truth10 = asked.map((q) => new Set(reference.exactSearch(q.vector, 10, q.filter).map((x) => x.slot)));
const truth100 = asked.map((q) => new Set(reference.exactSearch(q.vector, 100, q.filter).map((x) => x.slot)));
const recallRows: string[] = [];
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
for (const l of layouts) {
  const r = readSnapshot(join(dir, l.snap), expect, catalogOptions({ ...cfg, efSearchAuto: true, exactMaxItems: 0, maxAgeHours: 0 }, indexPhi(m), l.workers));
  await r.loaded;
  const c: Catalog = r.catalog;
  let h10 = 0;
  let h100 = 0;
  const ms: number[] = [];
  for (const q of asked.slice(0, 20)) await c.searchAsync(q.vector, 10, q.filter);
  for (let i = 0; i < asked.length; i++) {
    const q = asked[i]!;
    const t = performance.now();
    const got = await c.searchAsync(q.vector, 10, q.filter);
    ms.push(performance.now() - t);
    h10 += got.filter((x) => truth10[i]!.has(x.slot)).length;
    h100 += (await c.searchAsync(q.vector, 100, q.filter)).filter((x) => truth100[i]!.has(x.slot)).length;
  }
  recallRows.push(
    `| ${l.name} | ${c.index.efSearch} | ${(h10 / (10 * queries.length)).toFixed(4)} | ${(h100 / (100 * queries.length)).toFixed(4)} | ${pct(ms, 0.5).toFixed(3)} | ${pct(ms, 0.99).toFixed(3)} |`,
  );
  say(recallRows.at(-1)!);
  await c.close();
}

// 3. HTTP load per layout.
const rand = prng(42);
const newsId = () => items[Math.floor(rand() * NEWS)]!.id;
const history = (n: number) => Array.from({ length: n }, newsId);
const warmUsers = Array.from({ length: USERS }, (_, i) => ({ userId: `warm${i}`, history: history(10), k: 10 }));
let missSeq = 0;
const hitBody = () => JSON.stringify(warmUsers[Math.floor(rand() * USERS)]);
const missBody = () => JSON.stringify({ userId: `cold${missSeq++}`, history: history(50), k: 10 });
const requests = (body: () => string) => [
  { method: "POST" as const, path: "/rank", headers: { "content-type": "application/json" }, setupRequest: (req: object) => ({ ...req, body: body() }) },
];
const run = (url: string, body: () => string, extra: Record<string, unknown> = {}) =>
  load({ url, connections: CONNECTIONS, requests: requests(body), ...extra });

const loadRows: string[] = [];
const loopRows: string[] = [];
let bare: LoadResult | undefined;
for (const l of layouts) {
  // No answer kept (keptAnswersMaxBytes 0): every cache-hit retrieve searches, so the layouts are measured by their searches.
  const c = await startChild([
    "serve",
    "--port",
    "0",
    "--snapshot",
    join(dir, l.snap),
    "--log-level",
    "warn",
    "--recall-sample-rate",
    "0",
    "--kept-answers-max-bytes",
    "0",
    ...l.args,
  ]);
  for (const u of warmUsers) await fetch(`${c.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(u) });
  if (!bare) {
    const sample = await (await fetch(`${c.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: hitBody() })).text();
    const b = await startChild([String(sample.length)], { script: new URL("./bare-server.ts", import.meta.url).pathname });
    bare = await run(b.url, () => "{}");
    await b.stop();
    loadRows.push(row(`bare fastify route, ${sample.length}-byte constant body`, bare));
  }
  const hit = await run(c.url, hitBody);
  const mix = await run(c.url, () => (rand() < 0.2 ? missBody() : hitBody()));
  const half = mix.rps / 2;
  await metric(c.url, "newsrec_nodejs_eventloop_lag_p99_seconds"); // the scrape resets the window
  const [hHit, hMiss] = await Promise.all([
    run(c.url, hitBody, { overallRate: Math.round(half * 0.8), connections: 8 }),
    run(c.url, missBody, { overallRate: Math.max(1, Math.round(half * 0.2)), connections: 8 }),
  ]);
  const loopP99 = (await metric(c.url, "newsrec_nodejs_eventloop_lag_p99_seconds")) * 1000;
  await c.stop();
  loadRows.push(row(`${l.name}: cache-hit retrieve (history 10, k 10)`, hit, bare));
  loadRows.push(row(`${l.name}: 20% misses (history 50), saturation`, mix, bare));
  loopRows.push(
    `| ${l.name} | ${Math.round(half)} | ${loopP99.toFixed(2)} | ${hHit.p50.toFixed(1)} | ${hHit.p99.toFixed(1)} | ${hMiss.p50.toFixed(1)} | ${hMiss.p99.toFixed(1)} | ${hHit.errors + hHit.non2xx + hMiss.errors + hMiss.non2xx} |`,
  );
  say(loopRows.at(-1)!);
}
rmSync(dir, { recursive: true, force: true });

console.log(
  [
    `### Index layout (${NEWS} news of the default bundle, ${new Date().toISOString().slice(0, 10)})`,
    "",
    `Build (\`newsrec embed\`, whole command): one graph ${build[1]!.toFixed(1)} s; two graphs built by two index workers ${build[2]!.toFixed(1)} s (${(build[1]! / build[2]!).toFixed(2)}x).`,
    "",
    `Recall against exact search, ${queries.length} user vectors from cluster-coherent histories; latency of one search (k 10) as the catalog sees it, hand-over to the workers included:`,
    "",
    "| layout | efSearch | recall@10 | recall@100 | p50 ms | p99 ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...recallRows,
    "",
    `HTTP /rank, ${CONNECTIONS} connections, ${env("BENCH_SECONDS", 10)} s each:`,
    "",
    TABLE_HEAD,
    ...loadRows,
    "",
    "20% misses at half saturation (hits 80% and misses 20% of the offered rate, as two loads): the server's event-loop delay p99 and each kind's latency:",
    "",
    "| layout | offered req/s | event-loop p99 ms | hit p50 ms | hit p99 ms | miss p50 ms | miss p99 ms | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...loopRows,
  ].join("\n"),
);
