/**
 * Replicated catalog writes: one replica with its local write-ahead log (--data-dir) against
 * three replicas sharing a catalog log on a three-node NATS JetStream cluster of Debian's
 * nats-server (--catalog-log), in one run, all on this machine's loopback.
 *
 * - write throughput: PUT /news (one item each) from BENCH_CONNECTIONS (16) connections for
 *   BENCH_SECONDS (10) through one replica;
 * - time until every replica serves a write: BENCH_PROBES (200) writes, one at a time, each
 *   sent to the next replica in turn, then GET /news/:id on every replica until all answer
 *   200; p50 and p99 from the moment the PUT was sent. With one replica that is the PUT's
 *   own latency (it is acknowledged once applied).
 *
 * Every server starts from the same snapshot of BENCH_NEWS (2000) news.
 * Run: node --import tsx benchmarks/replication.ts
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNatsCluster } from "../test/nats-cluster.ts";
import { builtCli, env, load, startChild, type Child, type LoadResult } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 2000);
const CONNECTIONS = env("BENCH_CONNECTIONS", 16);
const PROBES = env("BENCH_PROBES", 200);
let seq = 0;
const item = (prefix: string) => ({ id: `${prefix}${seq++}`, title: `Storm forecast and travel delays update ${seq}`, category: "weather" });

const work = mkdtempSync(join(tmpdir(), "nats-issue15-bench-"));
const snapshot = join(work, "snapshot");
writeFileSync(
  join(work, "news.jsonl"),
  `${Array.from({ length: NEWS }, (_, i) => JSON.stringify({ id: `B${i}`, title: `Harbour news ${i}`, category: "news" })).join("\n")}\n`,
);
const embed = spawnSync(process.execPath, [builtCli(), "embed", "--news", join(work, "news.jsonl"), "--out", snapshot], {
  encoding: "utf8",
});
if (embed.status !== 0) throw new Error(embed.stderr);

async function throughput(url: string, prefix: string): Promise<LoadResult> {
  return load({
    url,
    connections: CONNECTIONS,
    requests: [
      {
        method: "PUT",
        path: "/news",
        headers: { "content-type": "application/json" },
        setupRequest: (q: any) => ({ ...q, body: JSON.stringify({ items: [item(prefix)] }) }),
      },
    ],
  });
}

/** Milliseconds from sending each write until every replica serves it. */
async function visibility(urls: string[], prefix: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < PROBES; i++) {
    const it = item(prefix);
    const t0 = performance.now();
    const res = await fetch(`${urls[i % urls.length]}/news`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ items: [it] }),
    });
    if (res.status !== 200) throw new Error(`write ${it.id}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
    await Promise.all(
      urls.map(async (u) => {
        for (;;) {
          const r = await fetch(`${u}/news/${it.id}`);
          await r.arrayBuffer();
          if (r.status === 200) return;
        }
      }),
    );
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

const q = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const common = ["serve", "--port", "0", "--grpc-port", "0", "--snapshot", snapshot, "--log-level", "warn", "--compact-interval-seconds", "3600"];

const rows: string[] = [];
const report = (name: string, r: LoadResult, vis: number[]) =>
  rows.push(`| ${name} | ${r.rps.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.errors + r.non2xx} | ${q(vis, 0.5).toFixed(1)} | ${q(vis, 0.99).toFixed(1)} |`);

try {
  {
    const s = await startChild([...common, "--data-dir", join(work, "single")]);
    const r = await throughput(s.url, "A");
    report("1 replica, local write-ahead log (fsync)", r, await visibility([s.url], "AV"));
    await s.stop();
  }
  {
    const nats = await startNatsCluster(3);
    const servers: Child[] = [];
    try {
      for (let i = 0; i < 3; i++) servers.push(await startChild([...common, "--data-dir", join(work, `r${i}`), "--catalog-log", nats.urls]));
      const r = await throughput(servers[0]!.url, "J");
      report(
        "3 replicas, NATS JetStream catalog log (3-node cluster, stream R3)",
        r,
        await visibility(
          servers.map((s) => s.url),
          "JV",
        ),
      );
    } finally {
      for (const s of servers) await s.stop();
      await nats.stop();
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.log(
  [
    `### Replicated writes: PUT /news, one item each (${NEWS}-news snapshot, ${CONNECTIONS} connections for ${env("BENCH_SECONDS", 10)} s; ${PROBES} writes one at a time for visibility; ${new Date().toISOString().slice(0, 10)})`,
    "",
    "| setup | writes/s | write p50 ms | write p99 ms | errors | all replicas serve it: p50 ms | p99 ms |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n"),
);
