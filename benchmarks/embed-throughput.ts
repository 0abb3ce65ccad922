/**
 * Batch precompute throughput: `newsrec embed` end to end (read, tokenize, encode, index,
 * write) on BENCH_NEWS (100000) synthetic news, next to the raw onnxruntime-node session on
 * the same model, batch size and threads, pre-tokenized, measured in the same run.
 * Run: node --import tsx benchmarks/embed-throughput.ts
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readNewsFile } from "../src/catalog/newsfile.ts";
import { buildConfig } from "../src/config.ts";
import { loadBundle } from "../src/model/bundle.ts";
import { openSession, runSession, type Feed } from "../src/model/onnx.ts";
import { TextTokenizer } from "../src/model/tokenizer.ts";
import { builtCli, env } from "./lib.ts";

const NEWS = env("BENCH_NEWS", 100_000);
const BATCH = env("BENCH_BATCH", 256);
const THREADS = env("BENCH_THREADS", 1);
const WORKERS = env("BENCH_WORKERS", 1);
const dir = mkdtempSync(join(tmpdir(), "embed-bench-"));
const cli = builtCli();
try {
  execFileSync(process.execPath, [cli, "synth", "--out", dir, "--news", String(NEWS), "--users", "10", "--seed", "3"], { stdio: "ignore" });
  const newsFile = join(dir, "train/news.tsv");

  // Raw: one session on this thread, the same batches, tokenized beforehand and not timed.
  const bundle = loadBundle(buildConfig().model);
  const tok = new TextTokenizer(bundle.tokenizerJson, bundle.manifest);
  const { items } = await readNewsFile(newsFile);
  const rows = items.map((n) => tok.news(n));
  const spec = bundle.manifest.encoders.news;
  const { session } = await openSession(bundle.newsEncoderBytes, bundle.manifest.encoders.news.file, {
    providers: ["cpu"],
    intraOpThreads: THREADS,
    log: () => {},
  });
  const feeds: Record<string, Feed>[] = [];
  for (let i = 0; i < rows.length; i += BATCH) {
    const b = rows.slice(i, i + BATCH);
    const len = Math.max(...b.map((r) => r.length));
    const ids = new BigInt64Array(b.length * len);
    const mask = new BigInt64Array(b.length * len);
    b.forEach((r, k) => r.forEach((t, j) => ((ids[k * len + j] = BigInt(t)), (mask[k * len + j] = 1n))));
    feeds.push({
      [spec.inputs.ids]: { kind: "int64", data: ids, dims: [b.length, len] },
      [spec.inputs.mask]: { kind: "int64", data: mask, dims: [b.length, len] },
    });
  }
  let t0 = performance.now();
  for (const f of feeds) await runSession(session, f, [spec.outputs.vector]);
  const rawS = (performance.now() - t0) / 1000;

  // The whole pipeline, as a user runs it.
  t0 = performance.now();
  const out = execFileSync(
    process.execPath,
    [cli, "embed", "--news", newsFile, "--out", join(dir, "snap"), "--batch", String(BATCH), "--workers", String(WORKERS), "--threads", String(THREADS)],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
  );
  const wallS = (performance.now() - t0) / 1000;
  const r = JSON.parse(out.trim().split("\n").pop()!);
  const snap = JSON.parse(execFileSync("cat", [join(dir, "snap/manifest.json")], { encoding: "utf8" }));
  const t = snap.timings;

  const rawRate = NEWS / rawS;
  const lines = [
    `### Batch precompute (${NEWS} news, batch ${BATCH}, ${WORKERS} worker(s) × ${THREADS} ONNX thread(s), ${new Date().toISOString().slice(0, 10)})`,
    "",
    "| what | seconds | news/s | vs raw |",
    "| --- | ---: | ---: | ---: |",
    `| raw onnxruntime-node session, pre-tokenized batches | ${rawS.toFixed(1)} | ${rawRate.toFixed(0)} | 100% |`,
    `| \`newsrec embed\` end to end (read, tokenize, encode, index, write; process wall time) | ${wallS.toFixed(1)} | ${(NEWS / wallS).toFixed(0)} | ${((100 * NEWS) / wallS / rawRate).toFixed(0)}% |`,
    `| \`newsrec embed\` as it reports itself (from reading the file to the snapshot written) | ${r.seconds.toFixed(1)} | ${r.newsPerSecond} | ${((100 * r.newsPerSecond) / rawRate).toFixed(0)}% |`,
    "",
    `Inside the pipeline: encode and index ${t.encodeAndIndexSeconds.toFixed(1)} s, of which HNSW insertion on the main thread ${t.indexSeconds.toFixed(1)} s.`,
  ];
  console.log(lines.join("\n"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
