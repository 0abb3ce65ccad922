/**
 * How long a snapshot (the server's compaction) holds the event loop: BENCH_NEWS (100000)
 * items of random 64-dimensional vectors in a catalog, a snapshot written BENCH_ROUNDS (3)
 * times while a 1 ms timer measures the longest gap between its ticks. The whole snapshot's
 * duration is the baseline: a snapshot written synchronously blocks for all of it.
 * Run: node --import tsx benchmarks/compaction-stall.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Catalog, catalogOptions } from "../src/catalog/store.ts";
import { writeSnapshot } from "../src/catalog/snapshot.ts";
import { env, prng } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 100_000);
const ROUNDS = env("BENCH_ROUNDS", 3);
const DIM = 64;
const rand = prng(5);
const catalog = new Catalog(DIM, "f".repeat(64), catalogOptions({ hnswM: 16, efConstruction: 40, efSearch: 100, exactMaxItems: 0, maxAgeHours: 0 }, 20));
for (let i = 0; i < NEWS; i++) {
  const v = Float32Array.from({ length: DIM }, () => rand() - 0.5);
  catalog.upsert(
    {
      id: `N${i}`,
      title: `Headline number ${i} about the week's events`,
      abstract: "An abstract of moderate length describing the story in a sentence or two.",
      category: "news",
      subcategory: "newsus",
      publishedAt: new Date().toISOString(),
    },
    v,
  );
}
const dir = mkdtempSync(join(tmpdir(), "newsrec-stall-"));
const rows: string[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  let gap = 0;
  let last = performance.now();
  const tick = setInterval(() => {
    const t = performance.now();
    gap = Math.max(gap, t - last);
    last = t;
  }, 1);
  const t0 = performance.now();
  await writeSnapshot(catalog, join(dir, "snapshot"), { model: { name: "bench", version: "1" }, lastSeq: 0, hnsw: { m: 16, efConstruction: 40 } });
  const total = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 20));
  clearInterval(tick);
  rows.push(`| ${round} | ${total.toFixed(0)} | ${gap.toFixed(0)} | ${((100 * gap) / total).toFixed(0)}% |`);
}
rmSync(dir, { recursive: true, force: true });
console.log(
  [
    `### Compaction: longest event-loop block while a snapshot is written (${NEWS} items, dim ${DIM}, ${new Date().toISOString().slice(0, 10)})`,
    "",
    "| round | snapshot ms | longest block ms | block / snapshot |",
    "| ---: | ---: | ---: | ---: |",
    ...rows,
  ].join("\n"),
);
