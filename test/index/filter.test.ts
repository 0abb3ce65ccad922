import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Catalog, catalogOptions, type CatalogOptions, type NewsMeta, type SearchFilter } from "../../src/catalog/store.ts";
import { buildConfig } from "../../src/config.ts";
import { demoNews } from "../../src/catalog/demo.ts";
import { embedInto } from "../../src/catalog/embed.ts";
import { dot } from "../../src/index/exact.ts";
import { HnswIndex } from "../../src/index/hnsw.ts";
import { indexPhi, loadBundle } from "../../src/model/bundle.ts";
import { Encoders } from "../../src/model/encoders.ts";
import { Random } from "../../src/synth/random.ts";
import { DEFAULT_BUNDLE } from "../helpers.ts";

/** Counts graph walks and the filter callbacks hnswlib makes, without touching the catalog. */
class CountingIndex extends HnswIndex {
  searches = 0;
  callbacks = 0;
  override search(query: Float32Array, k: number, filter?: (slot: number) => boolean): number[] {
    this.searches++;
    return super.search(query, k, filter && ((s) => (this.callbacks++, filter(s))));
  }
}

const HOUR = 3600_000;
const NOW = Date.parse("2026-03-01T00:00:00Z");
const DIM = 16;
const base: CatalogOptions = { m: 8, efConstruction: 64, efSearch: 64, exactMaxItems: 0, maxAgeHours: 0, phi: 8 };

function counting(opts: CatalogOptions, dim = DIM): { catalog: Catalog; index: CountingIndex } {
  const index = new CountingIndex(dim, opts.phi, opts, 1024);
  return { catalog: new Catalog(dim, "fp", opts, 1024, index), index };
}

/** Clustered unit-scale vectors: close enough to news vectors for the graph to find neighbours. */
function vectors(n: number, seed: number, dim = DIM): Float32Array[] {
  const rng = new Random(seed);
  const centres = Array.from({ length: 20 }, () => Float32Array.from({ length: dim }, () => rng.next() * 2 - 1));
  return Array.from({ length: n }, () => {
    const c = rng.pick(centres);
    return Float32Array.from(c, (x) => x + (rng.next() - 0.5) * 0.6);
  });
}

const iso = (t: number) => new Date(t).toISOString();

/** The exact top-k among items that pass the filter, straight from the metadata. */
function reference(c: Catalog, q: Float32Array, k: number, f: SearchFilter, now: number, maxAgeHours: number): { slot: number; score: number }[] {
  const after = Math.max(f.publishedAfter ?? -Infinity, maxAgeHours > 0 ? now - maxAgeHours * HOUR : -Infinity);
  const out: { slot: number; score: number }[] = [];
  for (const { slot, meta } of c.entries()) {
    if (f.exclude?.has(slot)) continue;
    if (f.categories && !f.categories.has(meta.category ?? "")) continue;
    if (meta.publishedAt && Date.parse(meta.publishedAt) < after) continue;
    out.push({ slot, score: dot(q, c.vectorAt(slot)) });
  }
  return out.sort((a, b) => b.score - a.score || a.slot - b.slot).slice(0, k);
}

test("a filter that matches nothing answers [] without a graph walk or any scoring", () => {
  const { catalog, index } = counting(base);
  const vs = vectors(5000, 1);
  vs.forEach((v, i) => catalog.upsert({ id: `n${i}`, title: "t", category: `c${i % 10}`, publishedAt: iso(NOW - i * HOUR) }, v));
  const before = { ...catalog.work };
  for (const f of [{ categories: new Set(["nope"]) }, { publishedAfter: NOW + HOUR }, { categories: new Set(["c1"]), publishedAfter: NOW - 0.5 * HOUR }]) {
    assert.deepEqual(catalog.search(vs[0]!, 10, f, NOW), []);
    assert.deepEqual(catalog.freshestSlots(f, 10, NOW), []);
  }
  assert.equal(index.searches, 0, "no graph walk");
  assert.equal(index.callbacks, 0, "no filter callback");
  assert.deepEqual(catalog.work, before, "nothing scored");
});

test("an old catalog with maxAgeHours answers every query with [] without work; undated items still match", () => {
  const opts = { ...base, maxAgeHours: 168 };
  const { catalog, index } = counting(opts);
  const vs = vectors(4000, 2);
  vs.forEach((v, i) => catalog.upsert({ id: `n${i}`, title: "t", publishedAt: iso(NOW - 30 * 24 * HOUR - i * HOUR) }, v));
  const before = { ...catalog.work };
  for (let q = 0; q < 20; q++) assert.deepEqual(catalog.search(vs[q]!, 10, {}, NOW), []);
  assert.deepEqual(catalog.freshestSlots({}, 10, NOW), []);
  assert.equal(index.searches, 0);
  assert.deepEqual(catalog.work, before);
  catalog.upsert({ id: "undated", title: "t" }, vs[0]!);
  assert.deepEqual(
    catalog.search(vs[0]!, 10, {}, NOW).map((r) => catalog.metaAt(r.slot).id),
    ["undated"],
  );
  assert.equal(index.searches, 0, "one matching item is scored, not walked to");
});

test("a selective filter returns exactly the exact top-k among matching items and scores only those", () => {
  const opts = { ...base, maxAgeHours: 24 };
  const { catalog, index } = counting(opts);
  const vs = vectors(20_000, 3);
  // 50 categories, one of them (rare) 1% of the catalog; items an hour apart over 20,000 hours (24 within maxAgeHours).
  vs.forEach((v, i) => catalog.upsert({ id: `n${i}`, title: "t", category: i % 100 === 7 ? "rare" : `c${i % 49}`, publishedAt: iso(NOW - i * HOUR) }, v));
  const rng = new Random(5);
  const old = NOW - 30_000 * HOUR; // maxAgeHours then filters nothing
  const filters: { f: SearchFilter; now: number }[] = [
    { f: { categories: new Set(["rare"]) }, now: old },
    { f: { categories: new Set(["rare", "nope"]), exclude: new Set([7, 107, 207]) }, now: old },
    { f: {}, now: NOW + 0.5 * HOUR },
    { f: { publishedAfter: NOW - 199.5 * HOUR }, now: old },
    { f: { categories: new Set(["rare", "c3"]), publishedAfter: NOW - 5000 * HOUR }, now: old },
  ];
  for (const { f, now } of filters) {
    const matching = reference(catalog, vs[0]!, vs.length, { ...f, exclude: undefined }, now, opts.maxAgeHours).length;
    assert.ok(matching > 10 && matching <= 200, `${matching} match`);
    assert.equal(catalog.matching(f, now), matching);
    for (let q = 0; q < 10; q++) {
      const query = vs[rng.int(0, vs.length - 1)]!;
      const scored = catalog.work.scored;
      const got = catalog.search(query, 10, f, now);
      assert.ok(catalog.work.scored - scored <= matching, `scored ${catalog.work.scored - scored} of ${matching} matching`);
      assert.deepEqual(got, reference(catalog, query, 10, f, now, opts.maxAgeHours));
    }
  }
  assert.equal(index.searches, 0, "selective filters never walk the graph");
});

test("a broad filter walks the graph, bounded, and finds the exact top-k among matching items with high recall", async () => {
  const bundle = loadBundle(DEFAULT_BUNDLE);
  const enc = await Encoders.open(bundle, { workers: 1, intraOpThreads: 2, providers: ["cpu"], maxBatch: 64, maxWaitMs: 1, maxQueue: 1000, log: () => {} });
  try {
    // efSearch pinned: the scan budget grows with it (sqrt(16 · efSearch · n)), and at the default 1000 it covers all 10,000 items.
    const opts = catalogOptions({ ...buildConfig(), efSearch: 300, exactMaxItems: 0, maxAgeHours: 300 }, indexPhi(bundle.manifest));
    const index = new CountingIndex(bundle.manifest.dimension, opts.phi, opts, 1024);
    const catalog = new Catalog(bundle.manifest.dimension, bundle.manifest.fingerprint, opts, 1024, index);
    // Two weeks of news, 14 categories: the newest 300 hours are 89% of the catalog.
    const items = demoNews(10_000, 11, NOW);
    await embedInto(catalog, enc, items, 512);
    const cats = [...new Set(items.map((n) => n.category!))].sort();
    const filters: SearchFilter[] = [{}, { categories: new Set(cats.slice(0, 12)) }];
    for (const f of filters) assert.ok(catalog.matching(f, NOW) > catalog.scanBudget, "too broad to score exactly");
    let hits = 0;
    let total = 0;
    for (const f of filters) {
      for (let q = 0; q < 50; q++) {
        const hist = Array.from({ length: 5 + (q % 30) }, (_, j) => catalog.vectorAt((q * 97 + j * 131) % 10_000));
        const { vector } = await enc.encodeUser({ kind: "vectors", vectors: hist });
        const walks = index.searches;
        const callbacks = index.callbacks;
        const evaluated = catalog.work.filterCalls;
        const got = new Set(catalog.search(vector, 10, f, NOW).map((r) => r.slot));
        assert.equal(index.searches - walks, 1, "a broad filter walks the graph");
        assert.ok(catalog.work.filterCalls - evaluated <= catalog.walkBudget(f, NOW), "the filter is evaluated within the walk's budget");
        // Past the budget hnswlib still calls back (each call passes at once) until its beam fills.
        assert.ok(index.callbacks - callbacks <= catalog.walkBudget(f, NOW) + 2 * opts.m * opts.efSearch);
        const exact = reference(catalog, vector, 10, f, NOW, 300);
        assert.equal(exact.length, 10);
        for (const r of exact) if (got.has(r.slot)) hits++;
        total += 10;
      }
    }
    assert.ok(hits / total >= 0.9, `recall@10 = ${hits / total}`);
  } finally {
    await enc.close();
  }
});

test("a broad filter whose items lie away from the query: the walk is cut at its budget and the matching items, only they, are scored", () => {
  const { catalog, index } = counting(base);
  const rng = new Random(4);
  // 40% of the items (near) around +e1, 60% (far) around -e1; the query is +e1.
  for (let i = 0; i < 5000; i++) {
    const near = i % 5 < 2;
    const v = Float32Array.from({ length: DIM }, (_, d) => (d === 0 ? (near ? 1 : -1) : 0) + (rng.next() - 0.5) * 0.4);
    catalog.upsert({ id: `n${i}`, title: "t", category: near ? "near" : "far" }, v);
  }
  const f = { categories: new Set(["far"]) };
  const m = catalog.matching(f, NOW);
  assert.equal(m, 3000);
  assert.ok(m > catalog.scanBudget, "broad enough to walk");
  const query = Float32Array.from({ length: DIM }, (_, d) => (d === 0 ? 1 : 0));
  const before = { ...catalog.work };
  const got = catalog.search(query, 10, f, NOW);
  assert.equal(index.searches, 1);
  assert.ok(index.callbacks > catalog.walkBudget(f, NOW), "the walk ran into its budget");
  assert.ok(catalog.work.filterCalls - before.filterCalls <= catalog.walkBudget(f, NOW));
  assert.ok(catalog.work.scored - before.scored <= m, "never more than the matching items scored");
  assert.deepEqual(got, reference(catalog, query, 10, f, NOW, 0));
});

test("the category and publication-time structures stay exact under random upserts, deletes and a restore", async () => {
  const rng = new Random(9);
  // Every search here is exact (small catalog), so results compare one for one.
  const opts = { ...base, exactMaxItems: 1000 };
  const dim = 4;
  const dir = mkdtempSync(join(tmpdir(), "newsrec-filter-"));
  try {
    let catalog = new Catalog(dim, "fp", opts, 16);
    const cats = ["a", "b", "c", "d", undefined];
    // Few distinct times, so ties (broken by slot) are common; some items undated.
    const meta = (id: string): NewsMeta => ({
      id,
      title: "t",
      category: rng.pick(cats),
      ...(rng.chance(0.2) ? {} : { publishedAt: iso(NOW - rng.int(0, 40) * HOUR) }),
    });
    const vec = () => Float32Array.from({ length: dim }, () => rng.next() * 2 - 1);
    const check = (c: Catalog) => {
      const live = [...c.entries()];
      const time = (s: number) => (c.metaAt(s).publishedAt ? Date.parse(c.metaAt(s).publishedAt!) : -Infinity);
      const order = live.map((e) => e.slot).sort((a, b) => time(b) - time(a) || a - b);
      assert.deepEqual(c.freshestSlots({}, live.length + 1, NOW), order, "freshest first, undated last, ties by slot");
      for (let j = 0; j < 6; j++) {
        const f: SearchFilter = {};
        if (rng.chance(0.6)) f.categories = new Set(cats.filter(() => rng.chance(0.4)).map((x) => x ?? ""));
        if (rng.chance(0.6)) f.publishedAfter = NOW - rng.int(-1, 42) * HOUR;
        if (rng.chance(0.5)) f.exclude = new Set(live.filter(() => rng.chance(0.2)).map((e) => e.slot));
        const all = reference(c, new Float32Array(dim), live.length + 1, { ...f, exclude: undefined }, NOW, 0);
        assert.equal(c.matching(f, NOW), all.length);
        const fresh = order.filter((s) => all.some((r) => r.slot === s) && !f.exclude?.has(s)).slice(0, 7);
        assert.deepEqual(c.freshestSlots(f, 7, NOW), fresh);
        const q = vec();
        assert.deepEqual(
          c.search(q, 5, f, NOW).map((r) => r.slot),
          reference(c, q, 5, f, NOW, 0).map((r) => r.slot),
        );
      }
    };
    const ops = async (c: Catalog, n: number) => {
      for (let i = 0; i < n; i++) {
        const id = `n${rng.int(0, 120)}`;
        if (rng.chance(0.25)) c.delete(id);
        else c.upsert(meta(id), vec());
        if (i % 25 === 0) check(c);
      }
      check(c);
    };
    await ops(catalog, 600);
    // Restore into a fresh catalog from its entries and graph, as a snapshot does.
    await (catalog.index as HnswIndex).write(join(dir, "graph.bin"));
    const items = [...catalog.entries()].map(({ slot, meta }) => ({ slot, meta }));
    const flat = new Float32Array(catalog.slots * dim);
    for (const e of catalog.entries()) flat.set(e.vector, e.slot * dim);
    const restored = new Catalog(dim, "fp", opts, 16, HnswIndex.read(join(dir, "graph.bin"), dim, opts.phi, opts));
    restored.restore(items, flat, catalog.slots);
    check(restored);
    catalog = restored;
    await ops(catalog, 600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
