/**
 * A large catalog end to end: `newsrec embed` wall time and peak resident memory, then the
 * server on that snapshot: start-up time and resident memory, next to a server with an empty
 * catalog, and the catalog's parts as their raw sizes (vectors once, level-0 graph links,
 * metadata bytes as stored). The served layouts: one graph replicated in two index workers
 * (the default) and two graphs sharded over them.
 *
 * BENCH_NEWS (1000000).
 * Run: node --import tsx benchmarks/catalog-memory.ts
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoNews } from "../src/catalog/demo.ts";
import { buildConfig } from "../src/config.ts";
import { env, ROOT, rssMiB, startChild } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 1_000_000);
const dir = mkdtempSync(join(tmpdir(), "newsrec-memory-"));
const say = (l: string) => process.stderr.write(`catalog-memory: ${l}\n`);
const MiB = 1 << 20;

/** Runs a command to its end, sampling its resident memory; returns wall seconds and the peak. */
function measured(args: string[]): Promise<{ seconds: number; peakMiB: number }> {
  const t0 = performance.now();
  const p = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr!.on("data", (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
  let peak = 0;
  const timer = setInterval(() => {
    try {
      const r = rssMiB(p.pid!);
      // A process on its way out has no VmRSS line any more.
      if (Number.isFinite(r)) peak = Math.max(peak, r);
    } catch {}
  }, 200);
  return new Promise((resolve, reject) =>
    p.once("exit", (code) => {
      clearInterval(timer);
      if (code !== 0) reject(new Error(`${args.join(" ")} exited ${code}:\n${err}`));
      else resolve({ seconds: (performance.now() - t0) / 1000, peakMiB: peak });
    }),
  );
}

async function served(args: string[]): Promise<{ startSeconds: number; rssMiB: number }> {
  const t0 = performance.now();
  const c = await startChild(["serve", "--port", "0", "--log-level", "warn", "--recall-sample-rate", "0", ...args]);
  const startSeconds = (performance.now() - t0) / 1000;
  // A few ranks, so that the first searches have touched what they touch.
  for (let i = 0; i < 50; i++)
    await fetch(`${c.url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ history: [`N${i + 1}`] }) });
  const rss = rssMiB(c.proc.pid!);
  await c.stop();
  return { startSeconds, rssMiB: rss };
}

const items = demoNews(NEWS, 1, Date.parse("2026-11-01T00:00:00Z"));
const newsFile = join(dir, "news.jsonl");
writeFileSync(newsFile, items.map((n) => `${JSON.stringify(n)}\n`).join(""));
const snaps: Record<number, { seconds: number; peakMiB: number }> = {};
for (const shards of [1, 2]) {
  snaps[shards] = await measured([join(ROOT, "bin/newsrec.mjs"), "embed", "--news", newsFile, "--out", join(dir, `snap${shards}`), "--shards", String(shards)]);
  say(`embed into ${shards} graph(s): ${snaps[shards]!.seconds.toFixed(1)} s, peak ${snaps[shards]!.peakMiB.toFixed(0)} MiB`);
}
const empty = await served(["--demo-news", "0"]);
const replicated = await served(["--snapshot", join(dir, "snap1")]);
const sharded = await served(["--snapshot", join(dir, "snap2")]);
say(`empty ${empty.rssMiB} MiB; replicated ${replicated.rssMiB} MiB; sharded ${sharded.rssMiB} MiB`);

const m = JSON.parse(readFileSync(join(dir, "snap1", "manifest.json"), "utf8"));
const cfg = buildConfig();
const vectors = (m.slots * m.dimension * 4) / MiB;
const links = (m.items * (2 * m.hnsw.m * 4 + 4)) / MiB;
const metadata = statSync(join(dir, "snap1", "items.jsonl")).size / MiB;
const raw = vectors + links + metadata;
const graphFile = (s: number) =>
  statSync(join(dir, `snap${s}`, s === 1 ? "index.hnsw" : "index-0.hnsw")).size / MiB +
  (s === 1 ? 0 : statSync(join(dir, `snap${s}`, "index-1.hnsw")).size / MiB);
const graphs = { 1: graphFile(1), 2: graphFile(2) };
rmSync(dir, { recursive: true, force: true });

const f = (x: number) => x.toFixed(0);
console.log(
  [
    `### A catalog of ${NEWS.toLocaleString("en")} news (default bundle, dim ${m.dimension}, M ${m.hnsw.m}, efConstruction ${m.hnsw.efConstruction}, ${cfg.indexWorkers} index workers, ${new Date().toISOString().slice(0, 10)})`,
    "",
    "| step | one graph | two graphs (sharded) |",
    "| --- | ---: | ---: |",
    `| \`newsrec embed\` wall time, s | ${snaps[1]!.seconds.toFixed(1)} | ${snaps[2]!.seconds.toFixed(1)} |`,
    `| \`newsrec embed\` peak resident, MiB | ${f(snaps[1]!.peakMiB)} | ${f(snaps[2]!.peakMiB)} |`,
    `| graph files, MiB | ${f(graphs[1])} | ${f(graphs[2])} |`,
    `| server start-up on the snapshot, s | ${replicated.startSeconds.toFixed(1)} | ${sharded.startSeconds.toFixed(1)} |`,
    `| served resident, MiB (layout) | ${f(replicated.rssMiB)} (replicated) | ${f(sharded.rssMiB)} (sharded) |`,
    `| served resident less an empty server's (${f(empty.rssMiB)} MiB), MiB | ${f(replicated.rssMiB - empty.rssMiB)} | ${f(sharded.rssMiB - empty.rssMiB)} |`,
    "",
    `Raw size: vectors ${f(vectors)} MiB + level-0 links ${f(links)} MiB (${2 * m.hnsw.m} links of 4 bytes and a count per item) + metadata ${f(metadata)} MiB (items.jsonl) = ${f(raw)} MiB. Served resident against raw: replicated ${(replicated.rssMiB / raw).toFixed(2)}x, sharded ${(sharded.rssMiB / raw).toFixed(2)}x (the catalog alone, less the empty server: ${((replicated.rssMiB - empty.rssMiB) / raw).toFixed(2)}x and ${((sharded.rssMiB - empty.rssMiB) / raw).toFixed(2)}x).`,
  ].join("\n"),
);
