/**
 * Exact top-k over a whole catalog: the JavaScript loop on the main thread (index/exact.ts,
 * what Catalog.exactSearch runs) against the MatMul + TopK graph in an encoder worker
 * (index/onnx-exact.ts), at BENCH_SIZES items (10000,100000), the bundle's dimension (64),
 * batches of 1 and 32 queries, k = BENCH_K (10). The ONNX times are end to end as the server
 * sees them: posting to the worker, the worker's mirror check, the run, the answer back.
 * "after a write" upserts one item before each run, so the mirror copies that row.
 * Vectors are random (Gaussian): the cost of exact scoring does not depend on their values,
 * and 100,000 random rows take a second to make where embedding takes half a minute.
 * Run: node --import tsx benchmarks/exact-scorer.ts   (NEWSREC_INTRA_OP_THREADS as for the server)
 */
import { Catalog, catalogOptions } from "../src/catalog/store.ts";
import { buildConfig, fromEnv } from "../src/config.ts";
import { indexPhi, loadBundle } from "../src/model/bundle.ts";
import { Encoders } from "../src/model/encoders.ts";
import { onnxExactTopK } from "../src/index/onnx-exact.ts";
import { env, prng } from "./lib.ts";

const SIZES = (process.env.BENCH_SIZES ?? "10000,100000").split(",").map(Number);
const K = env("BENCH_K", 10);
const cfg = buildConfig(fromEnv(process.env));
const bundle = loadBundle(cfg.model);
const dim = bundle.manifest.dimension;
const enc = await Encoders.open(bundle, {
  workers: 1,
  intraOpThreads: cfg.intraOpThreads,
  providers: cfg.providers,
  maxBatch: 64,
  maxWaitMs: 1,
  maxQueue: 10_000,
  log: () => {},
});
const run = (q: Float32Array, b: number, k: number, m: Catalog["matrix"]) => enc.scoreTopK(q, b, k, m);

const rand = prng(11);
const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
const vector = () => Float32Array.from({ length: dim }, () => gauss() / 4);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function time(iterations: number, f: () => unknown): Promise<number[]> {
  const ts: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await f();
    ts.push(performance.now() - t0);
  }
  return ts;
}

const lines: string[] = [];
lines.push(
  `### Exact top-${K}: JavaScript loop vs ONNX MatMul + TopK in a worker (dim ${dim}, ${cfg.providers[0]}, ${cfg.intraOpThreads} ONNX thread(s), ${new Date().toISOString().slice(0, 10)})`,
  "",
);
lines.push(
  "| items | batch | JS p50 ms | JS mean ms | ONNX p50 ms | ONNX mean ms | ONNX after a write p50 ms | speed-up (p50) |",
  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
);
const firstSync: string[] = [];
for (const n of SIZES) {
  const catalog = new Catalog(dim, bundle.manifest.fingerprint, catalogOptions({ ...cfg, exactMaxItems: 0 }, indexPhi(bundle.manifest)), n);
  // Not indexed: neither scorer reads the graph.
  for (let i = 0; i < n; i++) catalog.upsert({ id: `n${i}`, title: "t" }, vector(), false);
  const queries = Array.from({ length: 32 }, vector);
  const t0 = performance.now();
  await onnxExactTopK(catalog, run, [queries[0]!], K);
  firstSync.push(`${n} items: ${(performance.now() - t0).toFixed(1)} ms`);
  for (const batch of [1, 32]) {
    const qs = queries.slice(0, batch);
    const jsIters = Math.max(3, Math.round(2e6 / (n * batch)));
    const js = await time(jsIters, () => qs.forEach((q) => catalog.exactSearch(q, K)));
    const onnx = await time(50, () => onnxExactTopK(catalog, run, qs, K));
    let w = 0;
    const written = await time(50, () => {
      catalog.upsert({ id: `n${w++ % n}`, title: "t" }, vector(), false);
      return onnxExactTopK(catalog, run, qs, K);
    });
    lines.push(
      `| ${n} | ${batch} | ${pct(js, 0.5).toFixed(2)} | ${mean(js).toFixed(2)} | ${pct(onnx, 0.5).toFixed(2)} | ${mean(onnx).toFixed(2)} | ${pct(written, 0.5).toFixed(2)} | ${(pct(js, 0.5) / pct(onnx, 0.5)).toFixed(1)}x |`,
    );
  }
}
await enc.close();
lines.push("", `First run on a catalog (the worker's mirror copies every row once): ${firstSync.join("; ")}.`);
console.log(lines.join("\n"));
