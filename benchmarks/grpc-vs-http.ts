/**
 * gRPC unary Rank next to HTTP POST /rank on one server, same concurrency and payload
 * (cache-hit retrieve, k=10), both driven by closed loops of Node clients in this process:
 * fetch (undici, keep-alive) for HTTP, one @grpc/grpc-js channel for gRPC.
 * BENCH_NEWS (100000), BENCH_SECONDS (10), BENCH_CONCURRENCY (16).
 * Run: node --import tsx benchmarks/grpc-vs-http.ts
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { PROTO_PATH } from "../src/wire/proto.ts";
import { env, prng, startChild } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 100_000);
const SECONDS = env("BENCH_SECONDS", 10);
const CONC = env("BENCH_CONCURRENCY", 16);
const rand = prng(3);
const users = Array.from({ length: 300 }, (_, i) => ({
  userId: `g${i}`,
  history: Array.from({ length: 50 }, () => `N${1 + Math.floor(rand() * NEWS)}`),
  k: 10,
}));

const server = await startChild(["serve", "--port", "0", "--grpc-port", "0", "--demo-news", String(NEWS), "--log-level", "warn"]);
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO_PATH, { keepCase: false })) as any;

async function closedLoop(send: (u: (typeof users)[number]) => Promise<void>): Promise<{ rps: number; p50: number; p99: number; n: number }> {
  const lat: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  let i = 0;
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await send(users[i++ % users.length]!);
        lat.push(performance.now() - t);
      }
    }),
  );
  lat.sort((a, b) => a - b);
  return { rps: lat.length / SECONDS, p50: lat[Math.floor(lat.length * 0.5)]!, p99: lat[Math.floor(lat.length * 0.99)]!, n: lat.length };
}

const http = async (u: (typeof users)[number]) => {
  const r = await fetch(`${server.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(u) });
  if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
  await r.arrayBuffer();
};
if (!server.grpcAddress) throw new Error("the server log named no gRPC address");
const client = new pkg.newsrec.v1.Recommender(server.grpcAddress, grpc.credentials.createInsecure());
const rpc = (u: (typeof users)[number]) => new Promise<void>((res, rej) => client.Rank(u, (e: Error | null) => (e ? rej(e) : res())));

for (const u of users) await http(u); // warm the user cache: both transports then measure cache hits
await closedLoop(http); // and warm the JIT
const h = await closedLoop(http);
const g = await closedLoop(rpc);
client.close();
await server.stop();
console.log(
  [
    `### gRPC against HTTP (${NEWS} news, cache-hit retrieve k=10, ${CONC} in flight, ${SECONDS} s each, ${new Date().toISOString().slice(0, 10)})`,
    "",
    "| transport | req/s | p50 ms | p99 ms |",
    "| --- | ---: | ---: | ---: |",
    `| HTTP POST /rank (JSON, fetch keep-alive) | ${h.rps.toFixed(0)} | ${h.p50.toFixed(2)} | ${h.p99.toFixed(2)} |`,
    `| gRPC Rank (protobuf, one HTTP/2 channel) | ${g.rps.toFixed(0)} | ${g.p50.toFixed(2)} | ${g.p99.toFixed(2)} |`,
    "",
    `gRPC/HTTP throughput ratio: ${(g.rps / h.rps).toFixed(2)}.`,
  ].join("\n"),
);
