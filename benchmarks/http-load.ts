/**
 * HTTP load on POST /rank with a large catalog, next to a bare fastify route answering a
 * same-sized constant body, all in one run. Mixes: cache-hit retrieve (the answer kept for the user,
 * and, on a second server keeping none, searched), cache-miss retrieve
 * (history of 50), rerank of 100 candidates, 20% misses at saturation and at half of it
 * (event-loop delay, hit and miss p99 apart), and cache misses with micro-batching off.
 *
 * BENCH_NEWS (100000), BENCH_SECONDS (10), BENCH_CONNECTIONS (16).
 * Run: node --import tsx benchmarks/http-load.ts
 */
import { env, load, metric, prng, row, startChild, TABLE_HEAD, type Child, type LoadResult } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 100_000);
const CONNECTIONS = env("BENCH_CONNECTIONS", 16);
const USERS = 500;
const rand = prng(42);
const newsId = () => `N${1 + Math.floor(rand() * NEWS)}`;
const history = (n: number) => Array.from({ length: n }, newsId);
const warmUsers = Array.from({ length: USERS }, (_, i) => ({ userId: `warm${i}`, history: history(50) }));
let missSeq = 0;

const hitBody = () => JSON.stringify(warmUsers[Math.floor(rand() * USERS)]);
const missBody = () => JSON.stringify({ userId: `cold${missSeq++}`, history: history(50) });
// k 10: the top of the impression, as before rerank without k came to return every candidate.
const rerankBody = () => JSON.stringify({ ...warmUsers[Math.floor(rand() * USERS)], candidates: history(100), k: 10 });

function requests(body: () => string) {
  return [{ method: "POST" as const, path: "/rank", headers: { "content-type": "application/json" }, setupRequest: (req: any) => ({ ...req, body: body() }) }];
}

async function run(url: string, body: () => string, extra: Record<string, unknown> = {}): Promise<LoadResult> {
  return load({ url, connections: CONNECTIONS, requests: requests(body), ...extra });
}

async function startRank(extraArgs: string[] = []): Promise<Child> {
  const t0 = performance.now();
  const c = await startChild(["serve", "--port", "0", "--demo-news", String(NEWS), "--log-level", "warn", ...extraArgs]);
  process.stderr.write(`server ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (${NEWS} news)\n`);
  // Warm the cache for the hit mixes.
  for (const u of warmUsers) await fetch(`${c.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(u) });
  return c;
}

const out: string[] = [];
const rank = await startRank();
const sample = await (await fetch(`${rank.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: hitBody() })).text();
const bare = await startChild([String(sample.length)], { script: new URL("./bare-server.ts", import.meta.url).pathname });

const results: Record<string, LoadResult> = {};
results.bare = await run(bare.url, () => "{}");
await bare.stop();
results.hit = await run(rank.url, hitBody);
results.miss = await run(rank.url, missBody);
results.rerank = await run(rank.url, rerankBody);
results.mix20 = await run(rank.url, () => (rand() < 0.2 ? missBody() : hitBody()));

// Half of the 20%-miss saturation throughput, hits and misses as two loads so each has its own latency.
const half = results.mix20.rps / 2;
await metric(rank.url, "newsrec_nodejs_eventloop_lag_p99_seconds"); // the scrape resets the window
const [hHit, hMiss] = await Promise.all([
  run(rank.url, hitBody, { overallRate: Math.round(half * 0.8), connections: 8 }),
  run(rank.url, missBody, { overallRate: Math.max(1, Math.round(half * 0.2)), connections: 8 }),
]);
const loopP99 = (await metric(rank.url, "newsrec_nodejs_eventloop_lag_p99_seconds")) * 1000;
await rank.stop();

// Cache hits are answered above from the answer kept for each user (the catalog is not written
// during the run); with none kept, each one searches the graph, as when the catalog was written since.
const nobatch = await startRank(["--max-batch", "1", "--kept-answers-max-bytes", "0"]);
results.missNoBatch = await run(nobatch.url, missBody);
results.hitSearched = await run(nobatch.url, hitBody);
await nobatch.stop();

out.push(
  `### HTTP /rank load (${NEWS} news, ${CONNECTIONS} connections, ${env("BENCH_SECONDS", 10)} s each, ${new Date().toISOString().slice(0, 10)})`,
  "",
  TABLE_HEAD,
);
out.push(row(`bare fastify route, ${sample.length}-byte constant body`, results.bare!));
out.push(row("cache-hit retrieve (k=10), answer kept", results.hit!, results.bare));
out.push(row("cache-hit retrieve (k=10), searched (keptAnswersMaxBytes 0)", results.hitSearched!, results.bare));
out.push(row("cache-miss retrieve (history 50)", results.miss!, results.bare));
out.push(row("rerank 100 candidates (cache hit)", results.rerank!, results.bare));
out.push(row("20% misses, saturation", results.mix20!, results.bare));
out.push(row(`20% misses at half saturation: hits (${Math.round(half * 0.8)}/s offered)`, hHit, results.bare));
out.push(row(`20% misses at half saturation: misses (${Math.round(half * 0.2)}/s offered)`, hMiss, results.bare));
out.push(row("cache-miss retrieve, micro-batching off (max batch 1)", results.missNoBatch!, results.bare));
out.push("");
out.push(
  `Event-loop lag p99 at half saturation, as the server reports it (newsrec_nodejs_eventloop_lag_p99_seconds, perf_hooks.monitorEventLoopDelay at 1 ms resolution): ${loopP99.toFixed(2)} ms.`,
);
out.push(
  `Micro-batching: cache-miss throughput ${(results.miss!.rps / results.missNoBatch!.rps).toFixed(2)}x that of batch size 1 (p99 ${results.miss!.p99.toFixed(1)} ms vs ${results.missNoBatch!.p99.toFixed(1)} ms).`,
);
console.log(out.join("\n"));
