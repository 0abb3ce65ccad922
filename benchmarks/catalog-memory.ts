/**
 * A large catalog end to end: `newsrec embed` wall time and peak resident memory, then the
 * server on that snapshot: start-up time and resident memory, next to a server with an empty
 * catalog, and the catalog's parts as their raw sizes (vectors once, level-0 graph links,
 * metadata bytes as stored). The served layouts: one graph replicated in two index workers
 * (the default) and two graphs sharded over them.
 *
 * Each snapshot is served twice: with the defaults, and with the items' JSON held in memory whatever
 * its size (--items-in-memory-max-bytes 2^40, as before items were read from the snapshot's file):
 * resident memory, the time a sampled retrieve takes with its exact recomputation, and the time a
 * GET /news/:id of a random item takes (one item read from the file, or from memory), side by side.
 *
 * Each served layout also answers BENCH_QUERIES retrieves of users with histories of 10 to 50
 * random items (uniform: the pessimistic user model of benchmarks/recall.ts), each recomputed
 * exactly by the server's own recall monitor (newsrec_retrieval_recall): the served defaults'
 * recall@10 at this size. And each snapshot's parts are loaded one by one in a process of their
 * own (catalog-parts.ts), for their resident memory.
 *
 * Resident memory is read twice per server: just after start-up (and 50 ranks), and after BENCH_SETTLE (30)
 * idle seconds, once V8 has given back start-up's garbage: the second is what a server keeps, and the goal's figure.
 *
 * BENCH_NEWS (1000000), BENCH_QUERIES (300), BENCH_GRAPHS ("default": the snapshots to build, each
 * "default" for newsrec embed's own choice or a number for --shards N, e.g. "default,1,2").
 * Run: node --import tsx benchmarks/catalog-memory.ts
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoNews } from "../src/catalog/demo.ts";
import { graphFiles } from "../src/catalog/snapshot.ts";
import { buildConfig } from "../src/config.ts";
import { builtCli, env, metric, prng, ROOT, rssMiB, startChild } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 1_000_000);
const QUERIES = env("BENCH_QUERIES", 300);
const SETTLE = env("BENCH_SETTLE", 30);
const GRAPHS = (process.env.BENCH_GRAPHS ?? "default").split(",");
const rand = prng(11);
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

const post = (url: string, body: unknown) =>
  fetch(`${url}/rank`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

async function served(
  args: string[],
  queries = 0,
): Promise<{
  startSeconds: number;
  rssAtStartMiB: number;
  rssMiB: number;
  rssAfterWorkMiB: number;
  recall: number;
  samples: number;
  sampledRetrieveMs: number;
  getNewsMs: number;
}> {
  const t0 = performance.now();
  const c = await startChild([
    "serve",
    "--port",
    "0",
    "--grpc-port",
    "0",
    "--log-level",
    "warn",
    "--recall-sample-rate",
    queries ? "1" : "0",
    "--recall-window",
    String(Math.max(1, queries)),
    // Every retrieve goes to the graph, whatever the catalog's size.
    "--worker-exact-max-items",
    "0",
    ...args,
  ]);
  const startSeconds = (performance.now() - t0) / 1000;
  // A few ranks, so that the first searches have touched what they touch.
  for (let i = 0; i < 50; i++) await post(c.url, { history: [`N${i + 1}`] });
  const rssAtStart = rssMiB(c.proc.pid!);
  // Start-up leaves garbage that V8 returns once the process is idle a while (its memory reducer):
  // the resident memory a server keeps is read after SETTLE seconds without requests.
  await new Promise((r) => setTimeout(r, SETTLE * 1000));
  const rss = rssMiB(c.proc.pid!);
  // Each retrieve waits for its exact recomputation, so that none is dropped as busy.
  const measured = () => metric(c.url, "newsrec_retrieval_recall_samples_total", 'result="measured"').then((x) => (Number.isNaN(x) ? 0 : x));
  const before = await measured();
  let done = before;
  const t1 = performance.now();
  for (let q = 0; q < queries; q++) {
    const history = Array.from({ length: 10 + Math.floor(rand() * 41) }, () => `N${1 + Math.floor(rand() * NEWS)}`);
    if (!(await post(c.url, { userId: `recall${q}`, history })).ok) throw new Error("a retrieve failed");
    const until = Date.now() + 30_000;
    while ((await measured()) <= done) {
      if (Date.now() > until) throw new Error(`retrieve ${q} was not sampled for recall in 30 s`);
      await new Promise((r) => setTimeout(r, 20));
    }
    done = await measured();
  }
  const sampledRetrieveMs = queries ? (performance.now() - t1) / queries : NaN;
  // Random items one at a time: each read from wherever the catalog keeps it (rarely one read before).
  const t2 = performance.now();
  const gets = queries ? 2000 : 0;
  for (let i = 0; i < gets; i++) {
    const r = await fetch(`${c.url}/news/N${1 + Math.floor(rand() * NEWS)}`);
    if (!r.ok) throw new Error(`GET /news answered ${r.status}`);
    await r.arrayBuffer();
  }
  const getNewsMs = gets ? (performance.now() - t2) / gets : NaN;
  const rssAfterWork = rssMiB(c.proc.pid!);
  const recall = queries ? await metric(c.url, "newsrec_retrieval_recall") : NaN;
  await c.stop();
  return { startSeconds, rssAtStartMiB: rssAtStart, rssMiB: rss, rssAfterWorkMiB: rssAfterWork, recall, samples: done - before, sampledRetrieveMs, getNewsMs };
}

/** Resident MiB of a snapshot's parts, each loaded alone in a process of its own (catalog-parts.ts). */
function parts(snapshot: string, graphs: string[]): { catalogWithoutGraphMiB: number; graphMiB: number[] } {
  const one = (...args: string[]) => {
    const r = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", join(ROOT, "benchmarks/catalog-parts.ts"), snapshot, ...args], {
      cwd: ROOT,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`catalog-parts failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").pop()!).addedMiB as number;
  };
  return { catalogWithoutGraphMiB: one(), graphMiB: graphs.map((g) => one(g)) };
}

const items = demoNews(NEWS, 1, Date.parse("2026-11-01T00:00:00Z"));
const newsFile = join(dir, "news.jsonl");
writeFileSync(newsFile, items.map((n) => `${JSON.stringify(n)}\n`).join(""));
items.length = 0;
const MiB_ = (p: string) => statSync(p).size / MiB;
const empty = await served(["--demo-news", "0"]);
say(`empty server ${empty.rssAtStartMiB.toFixed(0)} MiB at start, ${empty.rssMiB.toFixed(0)} MiB settled`);
interface Column {
  asked: string;
  shards: number;
  layout: string;
  embed: { seconds: number; peakMiB: number };
  graphFilesMiB: number;
  serve: Awaited<ReturnType<typeof served>>;
  held: Awaited<ReturnType<typeof served>>;
  parts: ReturnType<typeof parts>;
}
const columns: Column[] = [];
for (const asked of GRAPHS) {
  const snap = join(dir, `snap-${asked}`);
  const embed = await measured([builtCli(), "embed", "--news", newsFile, "--out", snap, ...(asked === "default" ? [] : ["--shards", asked])]);
  const shards: number = JSON.parse(readFileSync(join(snap, "manifest.json"), "utf8")).hnsw.shards ?? 1;
  say(`embed (${asked}) into ${shards} graph(s): ${embed.seconds.toFixed(1)} s, peak ${embed.peakMiB.toFixed(0)} MiB`);
  const layout = shards === 1 ? "replicated" : "sharded";
  const serve = await served(["--snapshot", snap], QUERIES);
  say(
    `${layout}: start-up ${serve.startSeconds.toFixed(1)} s, ${serve.rssAtStartMiB.toFixed(0)} MiB at start, ${serve.rssMiB.toFixed(0)} MiB settled, recall@10 ${serve.recall} over ${serve.samples} samples, ${serve.sampledRetrieveMs.toFixed(0)} ms per sampled retrieve, ${serve.getNewsMs.toFixed(3)} ms per GET /news`,
  );
  const held = await served(["--snapshot", snap, "--items-in-memory-max-bytes", String(2 ** 40)], Math.min(QUERIES, 100));
  say(
    `${layout}, items held: ${held.rssMiB.toFixed(0)} MiB, ${held.sampledRetrieveMs.toFixed(0)} ms per sampled retrieve, ${held.getNewsMs.toFixed(3)} ms per GET /news`,
  );
  const files = graphFiles(shards);
  const graphFilesMiB = files.reduce((a, f) => a + MiB_(join(snap, f)), 0);
  const p = parts(snap, files);
  say(`${layout} parts: ${JSON.stringify(p)}`);
  columns.push({ asked, shards, layout, embed, graphFilesMiB, serve, held, parts: p });
}

const m = JSON.parse(readFileSync(join(dir, `snap-${GRAPHS[0]}`, "manifest.json"), "utf8"));
const cfg = buildConfig();
const vectors = (m.slots * m.dimension * 4) / MiB;
const links = (m.items * (2 * m.hnsw.m * 4 + 4)) / MiB;
const metadata = MiB_(join(dir, `snap-${GRAPHS[0]}`, "items.jsonl"));
const raw = vectors + links + metadata;
rmSync(dir, { recursive: true, force: true });

const f = (x: number) => x.toFixed(0);
const row = (name: string, cell: (c: Column) => string) => `| ${name} | ${columns.map(cell).join(" | ")} |`;
console.log(
  [
    `### A catalog of ${NEWS.toLocaleString("en")} news (default bundle, dim ${m.dimension}, M ${m.hnsw.m}, efConstruction ${m.hnsw.efConstruction}, ${cfg.indexWorkers} index workers, ${new Date().toISOString().slice(0, 10)})`,
    "",
    `| step | ${columns.map((c) => `${c.shards === 1 ? "one graph (replicated)" : `${c.shards} graphs (sharded)`}${c.asked === "default" ? ", embed's default" : ""}`).join(" | ")} |`,
    `| --- | ${columns.map(() => "---:").join(" | ")} |`,
    row("`newsrec embed` wall time, s", (c) => c.embed.seconds.toFixed(1)),
    row("`newsrec embed` peak resident, MiB", (c) => f(c.embed.peakMiB)),
    row("graph files, MiB", (c) => f(c.graphFilesMiB)),
    row("server start-up on the snapshot, s", (c) => c.serve.startSeconds.toFixed(1)),
    row(`recall@10 of ${QUERIES} retrieves (server's recall monitor, exact recomputation)`, (c) => `${c.serve.recall.toFixed(3)} (${c.serve.samples} samples)`),
    row("served resident just after start-up, MiB", (c) => f(c.serve.rssAtStartMiB)),
    row(`served resident after ${SETTLE} s idle, MiB`, (c) => f(c.serve.rssMiB)),
    row(`served resident after the work below (${QUERIES} sampled retrieves, 2,000 GET /news), MiB`, (c) => f(c.serve.rssAfterWorkMiB)),
    row(`served resident less an empty server's (${f(empty.rssMiB)} MiB), MiB`, (c) => f(c.serve.rssMiB - empty.rssMiB)),
    row("a sampled retrieve with its exact recomputation (vectors streamed through the encoder worker), ms", (c) => c.serve.sampledRetrieveMs.toFixed(0)),
    row("GET /news/:id of a random item (read from the snapshot's file), ms", (c) => c.serve.getNewsMs.toFixed(3)),
    row(`served resident with the items' JSON held in memory (--items-in-memory-max-bytes 2^40), after ${SETTLE} s idle, MiB`, (c) => f(c.held.rssMiB)),
    row("a sampled retrieve, items held, ms", (c) => c.held.sampledRetrieveMs.toFixed(0)),
    row("GET /news/:id of a random item, items held, ms", (c) => c.held.getNewsMs.toFixed(3)),
    row("parts loaded alone: catalog without its graph (vectors, metadata bytes, ids, columns), MiB", (c) => f(c.parts.catalogWithoutGraphMiB)),
    row(
      "parts loaded alone: the graphs as hnswlib holds them, MiB",
      (c) => `${f(c.parts.graphMiB.reduce((a, b) => a + b, 0))} (${c.parts.graphMiB.map(f).join(" + ")})`,
    ),
    "",
    `Raw size: vectors ${f(vectors)} MiB + level-0 links ${f(links)} MiB (${2 * m.hnsw.m} links of 4 bytes and a count per item) + metadata ${f(metadata)} MiB (items.jsonl) = ${f(raw)} MiB. Served resident against raw: ${columns.map((c) => `${c.layout} ${(c.serve.rssMiB / raw).toFixed(2)}x (less the empty server ${((c.serve.rssMiB - empty.rssMiB) / raw).toFixed(2)}x)`).join(", ")}.`,
  ].join("\n"),
);
