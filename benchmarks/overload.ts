/**
 * Overload: measure saturation of a 20%-miss /rank mix, then offer three times that for
 * BENCH_OVERLOAD_SECONDS (30). The server must stay up, refuse the excess at once (503),
 * keep the accepted requests' p99 bounded and its memory bounded, and recover afterwards.
 * Run: node --import tsx benchmarks/overload.ts
 */
import { env, histogramQuantile, load, prng, rssMiB, startChild } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 20_000);
const rand = prng(5);
const id = () => `N${1 + Math.floor(rand() * NEWS)}`;
const warm = Array.from({ length: 300 }, (_, i) => JSON.stringify({ userId: `w${i}`, history: Array.from({ length: 30 }, id) }));
let n = 0;
const body = () => (rand() < 0.2 ? JSON.stringify({ userId: `c${n++}`, history: Array.from({ length: 50 }, id) }) : warm[Math.floor(rand() * warm.length)]!);
const requests = [
  { method: "POST" as const, path: "/rank", headers: { "content-type": "application/json" }, setupRequest: (r: any) => ({ ...r, body: body() }) },
];

const server = await startChild(["serve", "--port", "0", "--grpc-port", "0", "--demo-news", String(NEWS), "--log-level", "warn"]);
const pid = server.proc.pid!;
for (const w of warm) await fetch(`${server.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: w });
const rssStart = rssMiB(pid);

const sat = await load({ url: server.url, connections: 32, requests, duration: 10 });
const offered = Math.round(sat.rps * 3);
let rssMax = rssStart;
const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMiB(pid))), 500);
const before = (await histogramQuantile(server.url, "newsrec_request_duration_seconds", 'method="POST /rank",status="200"', 0.99)).buckets;
const over = await load({ url: server.url, connections: 512, requests, duration: env("BENCH_OVERLOAD_SECONDS", 30), overallRate: offered, timeout: 10 });
const accepted = await histogramQuantile(server.url, "newsrec_request_duration_seconds", 'method="POST /rank",status="200"', 0.99, before);
clearInterval(sampler);
await new Promise((r) => setTimeout(r, 2000));
const after = await load({ url: server.url, connections: 4, requests, duration: 5 });
const alive = (await fetch(`${server.url}/healthz`)).status;
const rssEnd = rssMiB(pid);
await server.stop();

console.log(
  [
    `### Overload: three times saturation (${NEWS} news, 20% cache misses, ${new Date().toISOString().slice(0, 10)})`,
    "",
    "| phase | offered | served req/s | p50 ms | p99 ms (all answers) | non-2xx | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    `| saturation (32 connections) | unbounded | ${sat.rps.toFixed(0)} | ${sat.p50} | ${sat.p99} | ${sat.non2xx} | ${sat.errors} |`,
    `| 3x saturation for ${env("BENCH_OVERLOAD_SECONDS", 30)} s (512 connections) | ${offered}/s | ${over.rps.toFixed(0)} | ${over.p50} | ${over.p99} | ${over.non2xx} | ${over.errors} |`,
    `| recovery, 2 s later (4 connections) | unbounded | ${after.rps.toFixed(0)} | ${after.p50} | ${after.p99} | ${after.non2xx} | ${after.errors} |`,
    "",
    `Accepted (200) ranks during the overload: p99 ${(accepted.q * 1000).toFixed(1)} ms, from the server's own histogram.`,
    `Resident memory: ${rssStart.toFixed(0)} MiB before, at most ${rssMax.toFixed(0)} MiB during the overload, ${rssEnd.toFixed(0)} MiB after. /healthz after: ${alive}.`,
  ].join("\n"),
);
