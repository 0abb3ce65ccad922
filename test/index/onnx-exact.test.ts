/**
 * The ONNX exact scorer (MatMul + TopK in an encoder worker) against the JavaScript exact
 * scorer, on demo news embedded by the default bundle, with deleted slots and exclusions.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Catalog, catalogOptions } from "../../src/catalog/store.ts";
import { buildConfig } from "../../src/config.ts";
import { demoNews } from "../../src/catalog/demo.ts";
import { embedInto } from "../../src/catalog/embed.ts";
import { indexPhi, loadBundle } from "../../src/model/bundle.ts";
import { Encoders } from "../../src/model/encoders.ts";
import { ExactBatcher, onnxExactTopK, type Scored } from "../../src/index/onnx-exact.ts";
import { DEFAULT_BUNDLE } from "../helpers.ts";

const TOL = 1e-5;
let enc: Encoders;
/** Streams every matrix (none is mirrored) through chunks of 400 rows. */
let streaming: Encoders;
let catalog: Catalog;
let queries: Float32Array[];
const run = (q: Float32Array, b: number, k: number, m: Catalog["matrix"]) => enc.scoreTopK(q, b, k, m);
const streamedRun = (q: Float32Array, b: number, k: number, m: Catalog["matrix"]) => streaming.scoreTopK(q, b, k, m);

before(async () => {
  const bundle = loadBundle(DEFAULT_BUNDLE);
  const o = { workers: 1, intraOpThreads: 1, providers: ["cpu" as const], maxBatch: 64, maxWaitMs: 1, maxQueue: 1000, log: () => {} };
  enc = await Encoders.open(bundle, o);
  streaming = await Encoders.open(bundle, { ...o, exactMirrorMaxBytes: 0, exactChunkBytes: 400 * bundle.manifest.dimension * 4 });
  catalog = new Catalog(
    bundle.manifest.dimension,
    bundle.manifest.fingerprint,
    catalogOptions({ ...buildConfig(), exactMaxItems: 0 }, indexPhi(bundle.manifest)),
    256,
  );
  await embedInto(catalog, enc, demoNews(3000, 5), 256);
  // Real user vectors: histories of 3 to 30 items.
  queries = [];
  for (let q = 0; q < 24; q++) {
    const hist = Array.from({ length: 3 + (q % 28) }, (_, j) => catalog.vectorAt((q * 53 + j * 101) % 3000));
    queries.push((await enc.encodeUser({ kind: "vectors", vectors: hist })).vector);
  }
});

after(() => Promise.all([enc.close(), streaming.close()]));

/** Same slots in the same order and scores within TOL, except that items tied within TOL may swap (or change places at the k-th). */
function sameTopK(onnx: Scored[], js: Scored[], what: string): void {
  assert.equal(onnx.length, js.length, `${what}: length`);
  for (let i = 0; i < js.length; i++) assert.ok(Math.abs(onnx[i]!.score - js[i]!.score) <= TOL, `${what}: score ${i}: ${onnx[i]!.score} vs ${js[i]!.score}`);
  const kth = js.at(-1)?.score ?? 0;
  const jsSlots = new Set(js.map((r) => r.slot));
  for (const r of onnx)
    if (!jsSlots.has(r.slot))
      assert.ok(Math.abs(r.score - kth) <= TOL, `${what}: slot ${r.slot} (score ${r.score}) is not in the exact top-k and not tied with its last`);
  for (let i = 0; i < js.length; i++) if (onnx[i]!.slot !== js[i]!.slot) assert.ok(Math.abs(js[i]!.score - onnx[i]!.score) <= TOL, `${what}: position ${i}`);
}

test("the graph's top-k equals the JavaScript exact scorer's on 3,000 embedded demo news (batch of 24, k 1, 10, 100)", async () => {
  for (const k of [1, 10, 100]) {
    const onnx = await onnxExactTopK(catalog, run, queries, k);
    queries.forEach((q, i) => sameTopK(onnx[i]!, catalog.exactSearch(q, k), `k ${k}, query ${i}`));
  }
});

test("deleted slots are never returned (k + deleted asked, tombstones dropped); exclusions likewise; a reused slot scores its new vector", async () => {
  // Delete the exact top 5 of every query, and 200 more spread out: the tombstones hold vectors that would win.
  const doomed = new Set<number>();
  for (const q of queries) for (const r of catalog.exactSearch(q, 5)) doomed.add(r.slot);
  for (let s = 7; s < 3000; s += 15) doomed.add(s);
  for (const s of doomed) catalog.delete(catalog.metaAt(s).id);
  assert.equal(catalog.size, 3000 - doomed.size);
  const exclude = new Set(catalog.exactSearch(queries[0]!, 3).map((r) => r.slot));
  const onnx = await onnxExactTopK(catalog, run, queries, 10, exclude);
  queries.forEach((q, i) => {
    assert.ok(
      onnx[i]!.every((r) => !doomed.has(r.slot) && !exclude.has(r.slot)),
      `query ${i}: a deleted or excluded slot came back`,
    );
    sameTopK(onnx[i]!, catalog.exactSearch(q, 10, { exclude }), `query ${i} after deletes`);
  });
  // A new item takes a free slot with a vector made to win query 0: the worker's mirror copies that row.
  const winner = queries[0]!.map((x) => x * 10);
  const slot = catalog.upsert({ id: "winner", title: "winner" }, winner);
  assert.ok(doomed.has(slot), "the upsert reused a free slot");
  const [top] = await onnxExactTopK(catalog, run, [queries[0]!], 10);
  assert.equal(top![0]!.slot, slot);
  sameTopK(top!, catalog.exactSearch(queries[0]!, 10), "after the upsert");
});

test("streamed through chunks of 400 rows (a matrix past exactMirrorMaxBytes), the answers are the mirrored run's: k 1 to 900, with deleted slots, exclusions and a reused slot", async () => {
  assert.ok(catalog.size < 3000, "runs after the deletes above");
  const exclude = new Set(catalog.exactSearch(queries[1]!, 4).map((r) => r.slot));
  for (const k of [1, 10, 100, 900]) {
    const [streamed, mirrored] = await Promise.all([
      onnxExactTopK(catalog, streamedRun, queries, k, exclude),
      onnxExactTopK(catalog, run, queries, k, exclude),
    ]);
    queries.forEach((q, i) => {
      sameTopK(streamed[i]!, catalog.exactSearch(q, k, { exclude }), `streamed, k ${k}, query ${i}`);
      sameTopK(streamed[i]!, mirrored[i]!, `streamed against mirrored, k ${k}, query ${i}`);
    });
  }
  // Runs overlapping in one worker share its chunk buffer one at a time.
  const many = await Promise.all(queries.map((q) => onnxExactTopK(catalog, streamedRun, [q], 10)));
  many.forEach(([r], i) => sameTopK(r!, catalog.exactSearch(queries[i]!, 10), `overlapping run ${i}`));
});

test("a catalog with fewer live items than k returns them all; an empty one returns nothing", async () => {
  const small = new Catalog(catalog.dim, "fp", catalogOptions({ ...buildConfig(), exactMaxItems: 0 }, 10), 16);
  assert.deepEqual(await onnxExactTopK(small, run, [queries[0]!], 10), [[]]);
  for (let i = 0; i < 6; i++) small.upsert({ id: `n${i}`, title: "t" }, catalog.vectorAt(100 + i));
  small.delete("n2");
  const [r] = await onnxExactTopK(small, run, [queries[0]!], 10);
  assert.equal(r!.length, 5);
  sameTopK(r!, small.exactSearch(queries[0]!, 10), "small catalog");
});

test("asks made together are run as one batch, each with its own k and exclusions, and answered as if alone", async () => {
  let runs = 0;
  const counted = (q: Float32Array, b: number, k: number, m: Catalog["matrix"]) => {
    runs++;
    return run(q, b, k, m);
  };
  const batcher = new ExactBatcher(catalog, counted);
  const asks = queries.map((q, i) => ({ q, k: [1, 10, 37][i % 3]!, exclude: i % 2 ? new Set([i, i * 7, i * 31]) : undefined }));
  const got = await Promise.all(asks.map((a) => batcher.topK(a.q, a.k, a.exclude)));
  assert.equal(runs, 1, "one run for asks made in the same turn");
  asks.forEach((a, i) => sameTopK(got[i]!, catalog.exactSearch(a.q, a.k, a.exclude ? { exclude: a.exclude } : {}), `ask ${i}`));
  // Asks in later turns are later runs.
  await batcher.topK(queries[0]!, 5);
  await batcher.topK(queries[1]!, 5);
  assert.equal(runs, 3);
});

test("asks made while every run slot is taken wait for a run to come back, then go as one batch", async () => {
  const batches: number[] = [];
  const gates: (() => void)[] = [];
  // Each run is held until the test lets it go, as a busy worker would hold it.
  const gated = (q: Float32Array, b: number, k: number, m: Catalog["matrix"]) => {
    batches.push(b);
    return new Promise<Awaited<ReturnType<typeof run>>>((resolve) => gates.push(() => resolve(run(q, b, k, m))));
  };
  const turn = () => new Promise((r) => setImmediate(r));
  for (const slots of [1, 2]) {
    batches.length = 0;
    gates.length = 0;
    const batcher = new ExactBatcher(catalog, gated, () => slots);
    const answers: Promise<Awaited<ReturnType<ExactBatcher["topK"]>>>[] = [];
    for (let i = 0; i < 2 + slots; i++) {
      answers.push(batcher.topK(queries[i]!, 10));
      await turn();
    }
    assert.deepEqual(batches, Array(slots).fill(1), `${slots} slot(s): one run per slot while they are taken`);
    gates.shift()!();
    await answers[0];
    await turn();
    assert.deepEqual(batches, [...Array(slots).fill(1), 2], `${slots} slot(s): the two asks that waited went together`);
    while (gates.length) gates.shift()!();
    const got = await Promise.all(answers);
    got.forEach((r, i) => sameTopK(r, catalog.exactSearch(queries[i]!, 10), `${slots} slot(s), ask ${i}`));
  }
});

test("run ids past int32's end wrap, and every exact answer still finds its run", async () => {
  // A long-lived server's run counter reaches 2^31 - 1; an exact run carries its id as int32 (model/topk-wire.ts).
  (enc as unknown as { pool: { nextId: number } }).pool.nextId = 2 ** 31 - 2;
  for (let i = 0; i < 4; i++) {
    const [got] = await onnxExactTopK(catalog, run, [queries[i]!], 10);
    sameTopK(got!, catalog.exactSearch(queries[i]!, 10), `run ${i}`);
  }
});

test("through the batcher (the rank service's exact path), the top-k is the JavaScript scorer's exactly: slots, order and scores, near-ties included", async () => {
  const dim = catalog.dim;
  const twins = new Catalog(dim, "fp", catalogOptions({ ...buildConfig(), exactMaxItems: 0 }, indexPhi(loadBundle(DEFAULT_BUNDLE).manifest)), 256);
  // Each vector and a twin 2e-7 larger: float32 sums order such pairs by rounding, float64 ones by value.
  for (let i = 0; i < 1500; i++) {
    const v = catalog.vectorAt(i);
    twins.upsert({ id: `A${i}`, title: "a" }, v);
    twins.upsert(
      { id: `B${i}`, title: "b" },
      v.map((x) => x * (1 + 2e-7)),
    );
  }
  const batcher = new ExactBatcher(twins, (q, b, k, m) => enc.scoreTopK(q, b, k, m));
  for (const [i, q] of queries.entries()) for (const k of [1, 9, 10]) assert.deepEqual(await batcher.topK(q, k), twins.exactSearch(q, k), `query ${i}, k ${k}`);
  await twins.close();
});

test("through the batcher with a filter every item passed when asked, an item written out of it meanwhile is not answered", async () => {
  const c = new Catalog(catalog.dim, "fp", catalogOptions({ ...buildConfig(), exactMaxItems: 0 }, indexPhi(loadBundle(DEFAULT_BUNDLE).manifest)), 256);
  for (let i = 0; i < 500; i++) c.upsert({ id: `n${i}`, title: "t", category: "news" }, catalog.vectorAt(i));
  const batcher = new ExactBatcher(c, (q, b, k, m) => enc.scoreTopK(q, b, k, m));
  const filter = { categories: new Set(["news"]) };
  const q = queries[0]!;
  const best = (await batcher.topK(q, 1, undefined, c.passes(filter)))[0]!.slot;
  const asked = batcher.topK(q, 10, undefined, c.passes(filter));
  c.upsert({ ...c.metaAt(best), category: "sports" }, c.vectorAt(best));
  const got = await asked;
  assert.ok(!got.some((r) => r.slot === best), "the item now outside the filter is left out");
  assert.deepEqual(got, c.exactSearch(q, 10, filter), "and the rest is the exact answer");
  await c.close();
});
