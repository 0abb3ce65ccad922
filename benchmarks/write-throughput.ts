/**
 * Live writes: PUT /news (one item per request) from BENCH_CONNECTIONS (32) connections for
 * BENCH_SECONDS (10), against a server without a data dir (no durability: the baseline) and
 * one with a data dir (every write in the fsynced write-ahead log), in the same run. Reports
 * the cost of durability and how many writes each fsync carried (group commit).
 * Run: node --import tsx benchmarks/write-throughput.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { env, load, metric, startChild, type LoadResult } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 20_000);
const CONNECTIONS = env("BENCH_CONNECTIONS", 32);
let seq = 0;
const body = () => JSON.stringify({ items: [{ id: `W${seq++}`, title: `Storm forecast and travel delays update ${seq}`, category: "weather" }] });

async function run(dataDir: string | null): Promise<{ r: LoadResult; perFsync: number }> {
  const args = ["serve", "--port", "0", "--grpc-port", "0", "--demo-news", String(NEWS), "--log-level", "warn"];
  if (dataDir) args.push("--data-dir", dataDir, "--compact-interval-seconds", "3600");
  const s = await startChild(args);
  const r = await load({
    url: s.url,
    connections: CONNECTIONS,
    requests: [{ method: "PUT", path: "/news", headers: { "content-type": "application/json" }, setupRequest: (q: any) => ({ ...q, body: body() }) }],
  });
  const perFsync = dataDir ? (await metric(s.url, "newsrec_wal_commit_records_sum")) / (await metric(s.url, "newsrec_wal_commit_records_count")) : NaN;
  await s.stop();
  return { r, perFsync };
}

const dir = mkdtempSync(join(tmpdir(), "newsrec-writes-"));
const base = await run(null);
const wal = await run(dir);
rmSync(dir, { recursive: true, force: true });
const line = (name: string, x: LoadResult) =>
  `| ${name} | ${x.rps.toFixed(0)} | ${((100 * x.rps) / base.r.rps).toFixed(0)}% | ${x.p50} | ${x.p99} | ${x.errors + x.non2xx} |`;
console.log(
  [
    `### Live writes: PUT /news, one item each (${NEWS}-news catalog, ${CONNECTIONS} connections, ${env("BENCH_SECONDS", 10)} s each, ${new Date().toISOString().slice(0, 10)})`,
    "",
    "| server | writes/s | vs no log | p50 ms | p99 ms | errors |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    line("no data dir (acknowledged when applied in memory)", base.r),
    line("data dir (acknowledged after the write-ahead log is fsynced)", wal.r),
    "",
    `Writes per fsync with the data dir: ${wal.perFsync.toFixed(1)} on average (group commit).`,
  ].join("\n"),
);
