// The graph index in worker threads (index/sharded.ts): real workers, real hnswlib graphs.
import { spawnSync } from "node:child_process";
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Catalog, type CatalogOptions, type NewsMeta, type SearchFilter } from "../../src/catalog/store.ts";
import { readSnapshot, writeSnapshot } from "../../src/catalog/snapshot.ts";
import { dot } from "../../src/index/exact.ts";
import { ShardedIndex, type IndexLayout } from "../../src/index/sharded.ts";
import { openRow, sharedStamps, stampRows, writesOf } from "../../src/index/shared-matrix.ts";
import { Random } from "../../src/synth/random.ts";

const DIM = 16;
const NOW = Date.parse("2026-03-01T00:00:00Z");
const HOUR = 3600_000;
const CATEGORIES = ["news", "sports", "finance", "travel", "food"];
const open: Catalog[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(open.map((c) => c.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function options(layout: IndexLayout, workers = 2, shards = 2): CatalogOptions {
  return { m: 12, efConstruction: 100, efSearch: 400, exactMaxItems: 0, maxAgeHours: 0, phi: 8, indexWorkers: { workers, shards, layout } };
}

function catalog(o: CatalogOptions): Catalog {
  const c = new Catalog(DIM, "fp", o, 64);
  open.push(c);
  return c;
}

function vectors(n: number, seed: number): Float32Array[] {
  const rng = new Random(seed);
  const centres = Array.from({ length: 12 }, () => Float32Array.from({ length: DIM }, () => rng.next() * 2 - 1));
  return Array.from({ length: n }, () => Float32Array.from(rng.pick(centres), (x) => x + (rng.next() - 0.5) * 0.6));
}

function fill(c: Catalog, n: number, seed: number): void {
  const rng = new Random(seed + 1);
  vectors(n, seed).forEach((v, i) => {
    const meta: NewsMeta = { id: `n${i}`, title: `t${i}`, category: rng.pick(CATEGORIES), publishedAt: new Date(NOW - rng.int(0, 200) * HOUR).toISOString() };
    c.upsert(meta, v);
  });
}

/** The exact top-k among items that pass the filter, straight from the metadata. */
function exact(c: Catalog, q: Float32Array, k: number, f: SearchFilter = {}): number[] {
  const out: { slot: number; score: number }[] = [];
  for (const { slot, meta, vector } of c.entries()) {
    if (f.exclude?.has(slot)) continue;
    if (f.categories && !f.categories.has(meta.category ?? "")) continue;
    if (f.publishedAfter !== undefined && Date.parse(meta.publishedAt!) < f.publishedAfter) continue;
    out.push({ slot, score: dot(q, vector) });
  }
  return out
    .sort((a, b) => b.score - a.score || a.slot - b.slot)
    .slice(0, k)
    .map((r) => r.slot);
}

const recall = (got: number[], truth: number[]) => (truth.length ? truth.filter((s) => got.includes(s)).length / truth.length : got.length ? 0 : 1);

/** The query's direction at norm 6: above every item's dot product, within the norm bound phi (8). */
const towards = (q: Float32Array) => {
  const n = Math.hypot(...q);
  return Float32Array.from(q, (x) => (6 * x) / n);
};

for (const layout of ["sharded", "replicated"] as const) {
  test(`${layout}: searches in the workers find the exact top-10 of a small catalog, filtered or not`, async () => {
    const c = catalog(options(layout));
    fill(c, 3000, 7);
    const queries = vectors(40, 99);
    const filters: SearchFilter[] = [
      {},
      { exclude: new Set([0, 1, 2, 3]) },
      { categories: new Set(["sports"]) },
      { categories: new Set(["news", "sports", "finance", "travel"]) },
      { publishedAfter: NOW - 20 * HOUR },
      { categories: new Set(["food"]), publishedAfter: NOW - 100 * HOUR },
      { categories: new Set(["no such category"]) },
    ];
    for (const f of filters) {
      let sum = 0;
      for (const q of queries) {
        const got = await c.searchAsync(q, 10, f, NOW);
        const truth = exact(c, q, 10, f);
        assert.equal(got.length, truth.length, `filter ${JSON.stringify(f, (_, v) => (v instanceof Set ? [...v] : v))}`);
        for (let i = 1; i < got.length; i++) assert.ok(got[i - 1]!.score >= got[i]!.score, "best first");
        for (const r of got) assert.ok(Math.abs(r.score - dot(q, c.vectorAt(r.slot))) < 1e-9, "scores are the catalog's dot products");
        sum += recall(
          got.map((r) => r.slot),
          truth,
        );
      }
      // A beam of 400 on at most 3,000 items: the graph answers exactly, up to the odd near-tie.
      assert.ok(sum / queries.length >= 0.97, `recall@10 ${sum / queries.length} for ${JSON.stringify(f, (_, v) => (v instanceof Set ? [...v] : v))}`);
    }
  });

  test(`${layout}: a write is visible to the next search at once; a delete leaves at once`, async () => {
    const c = catalog(options(layout));
    fill(c, 500, 3);
    const q = vectors(1, 5)[0]!;
    for (let i = 0; i < 20; i++) {
      c.upsert({ id: `hot${i}`, title: "hot" }, towards(q));
      // No await between the write and the search: the search is asked after the write, so it sees it.
      const top = await c.searchAsync(q, 1);
      assert.equal(c.metaAt(top[0]!.slot).id, `hot${i}`);
      c.delete(`hot${i}`);
      const next = await c.searchAsync(q, 1);
      assert.notEqual(c.metaAt(next[0]!.slot).id, `hot${i}`);
    }
  });
}

test("four graphs on two workers: each worker merges its own graphs' answers, every item once", async () => {
  const c = catalog(options("sharded", 2, 4));
  fill(c, 3000, 11);
  let sum = 0;
  const queries = vectors(30, 17);
  for (const q of queries) {
    const got = (await c.searchAsync(q, 10)).map((r) => r.slot);
    assert.equal(new Set(got).size, got.length, `an item answered twice: ${got.join(", ")}`);
    sum += recall(got, exact(c, q, 10));
  }
  assert.ok(sum / queries.length >= 0.97, `recall@10 ${sum / queries.length}`);
});

test("a search never sees half of a write: two items written together appear together or not at all", async () => {
  const dim = 4;
  const index = new ShardedIndex(dim, 400, { m: 8, efConstruction: 64, efSearch: 64 }, 64, { workers: 2, shards: 2, layout: "sharded" });
  try {
    await index.ready;
    const rows = 4096;
    const columns = {
      vectors: new Float32Array(new SharedArrayBuffer(rows * dim * 4)),
      categories: new Int32Array(new SharedArrayBuffer(rows * 4)).fill(-1),
      published: new Float64Array(new SharedArrayBuffer(rows * 8)).fill(Number.NaN),
      stamps: sharedStamps(rows),
    };
    index.setColumns(columns);
    // As the catalog writes a row (catalog/store.ts).
    const put = (slot: number, v: number[]) => {
      openRow(columns.stamps, slot);
      columns.vectors.set(v, slot * dim);
      columns.categories[slot] = 0;
      stampRows(columns.stamps, slot);
      index.upsert(slot, Float32Array.from(v));
    };
    const rng = new Random(5);
    for (let s = 0; s < 200; s++) put(s, [rng.next() - 0.5, rng.next() - 0.5, rng.next() - 0.5, rng.next() - 0.5]);
    const q = Float32Array.from([1, 0, 0, 0]);
    const asked: { pair: [number, number]; answer: Promise<{ slots: Int32Array }> }[] = [];
    // Pairs of slots on different shards (an even and an odd slot): each pair is one write.
    for (let i = 0; i < 300; i++) {
      const a = 200 + 2 * i;
      const b = a + 1;
      put(a, [5 + i, 0, 0, 0]);
      put(b, [5 + i, 0.01, 0, 0]);
      asked.push({
        pair: [a, b],
        answer: index.search({
          query: q,
          k: 2,
          mode: "graph",
          categories: null,
          after: -Infinity,
          exclude: new Int32Array(0),
          budget: 0,
          rows,
          seen: writesOf(columns.stamps),
        }),
      });
      if (i % 3 === 0) await new Promise((r) => setImmediate(r));
    }
    const answers = await Promise.all(asked.map((a) => a.answer));
    asked.forEach(({ pair }, i) => {
      const got = [...answers[i]!.slots].sort((x, y) => x - y);
      assert.deepEqual(got, pair, `search ${i}: the newest pair, whole`);
    });
  } finally {
    await index.close();
  }
});

test("a dead index worker is replaced and rebuilds its graph: searches fail at once meanwhile, then find writes made while it was down", async () => {
  const c = catalog(options("sharded"));
  fill(c, 3000, 21);
  const index = c.index as ShardedIndex;
  const q = vectors(1, 77)[0]!;
  await c.searchAsync(q, 10);
  await index.terminateWorker(0);
  await assert.rejects(c.searchAsync(q, 10), (err: Error & { code?: string }) => err.code === "UNAVAILABLE" && /index worker 0 exited/.test(err.message));
  const health = c.indexHealth();
  assert.equal(health.ok, false);
  // Writes while the worker is down: an item to find, and items to lose.
  c.upsert({ id: "hot", title: "hot" }, towards(q));
  for (let i = 0; i < 3000; i += 3) c.delete(`n${i}`);
  const deadline = Date.now() + 60_000;
  while (!c.indexHealth().ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(c.indexHealth().ok, "the index recovers");
  assert.equal(index.restarts, 1);
  const top = await c.searchAsync(q, 10);
  assert.equal(c.metaAt(top[0]!.slot).id, "hot");
  let sum = 0;
  for (const v of vectors(30, 5)) {
    const got = (await c.searchAsync(v, 10)).map((r) => r.slot);
    for (const s of got) assert.ok(c.isLive(s), "no deleted item comes back");
    sum += recall(got, exact(c, v, 10));
  }
  assert.ok(sum / 30 >= 0.97, `recall@10 after the rebuild ${sum / 30}`);
});

test("replicated: while one index worker is replaced the other answers every search", async () => {
  const c = catalog(options("replicated"));
  fill(c, 2000, 31);
  const index = c.index as ShardedIndex;
  const q = vectors(1, 8)[0]!;
  const before = (await c.searchAsync(q, 10)).map((r) => r.slot);
  await index.terminateWorker(1);
  // Searches during the replacement: none fails, and each is the whole graph's answer.
  for (let i = 0; i < 50 || !c.indexHealth().ok || index.restarts < 1; i++) {
    assert.deepEqual(
      (await c.searchAsync(q, 10)).map((r) => r.slot),
      before,
    );
    assert.ok(c.indexHealth().ok, "one whole graph is still served");
    if (i > 10_000) assert.fail("the worker was not replaced");
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(index.restarts, 1);
});

test("a catalog of two graphs in workers is written as a snapshot and read back, in workers or not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "newsrec-sharded-"));
  dirs.push(dir);
  const o = options("sharded");
  const c = catalog(o);
  fill(c, 2000, 11);
  for (let i = 0; i < 2000; i += 7) c.delete(`n${i}`);
  const m = await writeSnapshot(c, join(dir, "snap"), { model: { name: "m", version: "1" }, lastSeq: 0, hnsw: { m: o.m, efConstruction: o.efConstruction } });
  assert.equal(m.hnsw.shards, 2);
  assert.ok(m.files!["index-0.hnsw"]! > 0 && m.files!["index-1.hnsw"]! > 0);
  const queries = vectors(20, 123);
  for (const opts of [o, { ...o, indexWorkers: { workers: 1, shards: 1, layout: "sharded" as const } }]) {
    const r = readSnapshot(join(dir, "snap"), { fingerprint: "fp", dimension: DIM }, opts);
    open.push(r.catalog);
    await r.loaded;
    assert.equal(r.catalog.size, c.size);
    assert.equal(r.catalog.index.deletedCount, c.index.deletedCount);
    for (const q of queries) {
      const a = (await c.searchAsync(q, 10)).map((x) => x.slot);
      const b = (await r.catalog.searchAsync(q, 10)).map((x) => x.slot);
      assert.deepEqual(b, a, "the same graphs answer the same");
    }
    // Writes after the restore go on: a freed slot is reused and found.
    r.catalog.upsert({ id: "hot", title: "hot" }, towards(queries[0]!));
    assert.equal(r.catalog.metaAt((await r.catalog.searchAsync(queries[0]!, 1))[0]!.slot).id, "hot");
  }
});

test("an empty catalog's snapshot is read back and takes writes, on this thread and in workers", async () => {
  const dir = mkdtempSync(join(tmpdir(), "newsrec-empty-"));
  dirs.push(dir);
  const local: CatalogOptions = { ...options("sharded"), indexWorkers: undefined };
  for (const [name, o] of [
    ["this thread", local],
    ["replicated workers", options("replicated")],
    ["one worker", options("sharded", 1, 1)],
  ] as const) {
    const empty = catalog(o);
    const snap = join(dir, name.replace(/ /g, "-"));
    await writeSnapshot(empty, snap, { model: { name: "m", version: "1" }, lastSeq: 0, hnsw: { m: o.m, efConstruction: o.efConstruction } });
    const r = readSnapshot(snap, { fingerprint: "fp", dimension: DIM }, o);
    open.push(r.catalog);
    await r.loaded;
    fill(r.catalog, 300, 41);
    const q = vectors(1, 9)[0]!;
    const got = (await r.catalog.searchAsync(q, 10)).map((x) => x.slot);
    assert.deepEqual(got, exact(r.catalog, q, 10), name);
  }
});

test("closing a catalog while its index workers apply a burst of writes ends them cleanly: the process exits 0", () => {
  // The fault is a process abort (SIGABRT in hnswlib's addPoint when a worker thread is
  // terminated inside it), so it runs in a child process, round after round.
  const r = spawnSync(process.execPath, ["--import", "tsx", fileURLToPath(new URL("fixtures/close-under-writes.ts", import.meta.url)), "40"], {
    encoding: "utf8",
    timeout: 120_000,
  });
  assert.equal(r.signal, null, `the process was killed by ${r.signal}: ${r.stderr.slice(0, 300)}`);
  assert.equal(r.status, 0, r.stderr.slice(0, 300));
  assert.match(r.stdout, /closed 40 catalogs/);
});

test("a graph rebuilt after its worker died, written to a snapshot and read back, takes new items into the free slots", async () => {
  for (const layout of ["sharded", "replicated"] as const) {
    const o = options(layout);
    const c = catalog(o);
    fill(c, 600, 51);
    for (let i = 0; i < 600; i += 4) c.delete(`n${i}`);
    const index = c.index as ShardedIndex;
    await index.terminateWorker(0);
    const deadline = Date.now() + 60_000;
    while ((!c.indexHealth().ok || index.restarts < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(c.indexHealth().ok, `${layout}: rebuilt`);
    const dir = mkdtempSync(join(tmpdir(), "rebuilt-snap-"));
    dirs.push(dir);
    await writeSnapshot(c, join(dir, "snap"), { model: { name: "m", version: "1" }, lastSeq: 0, hnsw: { m: o.m, efConstruction: o.efConstruction } });
    const r = readSnapshot(join(dir, "snap"), { fingerprint: "fp", dimension: DIM }, o);
    open.push(r.catalog);
    await r.loaded;
    const fresh = vectors(150, 52);
    fresh.forEach((v, i) => r.catalog.upsert({ id: `new${i}`, title: "new" }, v));
    assert.equal(r.catalog.slots, 600, `${layout}: the new items took the free slots`);
    for (const q of vectors(10, 53))
      assert.deepEqual(
        (await r.catalog.searchAsync(q, 10)).map((x) => x.slot),
        exact(r.catalog, q, 10),
        layout,
      );
    assert.deepEqual(r.catalog.indexHealth(), { ok: true }, layout);
  }
});

test("a filter every item passes, searched as a plain graph walk, still holds for a write that lands while the search is in the worker, and the answer is still k items", async () => {
  for (const layout of ["sharded", "replicated"] as const) {
    const c = catalog(options(layout));
    const vs = vectors(400, 61);
    vs.forEach((v, i) => c.upsert({ id: `n${i}`, title: "t", category: "news", publishedAt: new Date(NOW - HOUR).toISOString() }, v));
    const q = vs[7]!;
    for (const [filter, write] of [
      [{ categories: new Set(["news"]) }, { category: "sports", publishedAt: new Date(NOW - HOUR).toISOString() }],
      [{ publishedAfter: NOW - 2 * HOUR }, { category: "news", publishedAt: new Date(NOW - 100 * HOUR).toISOString() }],
    ] as const) {
      const best = (await c.searchAsync(q, 1, filter, NOW))[0]!.slot;
      const id = c.metaAt(best).id;
      const asked = c.searchAsync(q, 10, filter, NOW);
      // The best item leaves the filter before the answer is back.
      c.upsert({ id, title: "t", ...write }, vs[Number(id.slice(1))]!);
      const got = (await asked).map((x) => x.slot);
      assert.ok(!got.includes(best), `${layout} ${JSON.stringify(write)}: ${id} is outside the filter now`);
      assert.equal(got.length, 10, `${layout}: short by that item, so asked again as of the write`);
      c.upsert({ id, title: "t", category: "news", publishedAt: new Date(NOW - HOUR).toISOString() }, vs[Number(id.slice(1))]!);
    }
  }
});

/** M and efConstruction as a graph file records them (hnswlib's header: M at byte 72, efConstruction at 88). */
function graphParams(path: string): { m: number; efConstruction: number } {
  const b = readFileSync(path);
  return { m: Number(b.readBigUInt64LE(72)), efConstruction: Number(b.readBigUInt64LE(88)) };
}

test("a graph rebuilt after its worker died keeps the M and efConstruction of the graph it replaces, not the configured ones", async () => {
  const o = options("sharded");
  const c = catalog(o);
  fill(c, 400, 71);
  const dir = mkdtempSync(join(tmpdir(), "rebuilt-params-"));
  dirs.push(dir);
  const info = { model: { name: "m", version: "1" }, lastSeq: 0, hnsw: { m: o.m, efConstruction: o.efConstruction } };
  await writeSnapshot(c, join(dir, "a"), info);
  assert.deepEqual(graphParams(join(dir, "a", "index-0.hnsw")), { m: o.m, efConstruction: o.efConstruction });
  // Served by a server configured otherwise: the graphs are the snapshot's.
  const r = readSnapshot(join(dir, "a"), { fingerprint: "fp", dimension: DIM }, { ...o, m: 24, efConstruction: 50 });
  open.push(r.catalog);
  await r.loaded;
  const index = r.catalog.index as ShardedIndex;
  await index.terminateWorker(0);
  const deadline = Date.now() + 60_000;
  while ((!r.catalog.indexHealth().ok || index.restarts < 1) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  await writeSnapshot(r.catalog, join(dir, "b"), info);
  for (const f of ["index-0.hnsw", "index-1.hnsw"]) assert.deepEqual(graphParams(join(dir, "b", f)), { m: o.m, efConstruction: o.efConstruction }, f);
});

test("a search that a two-item write overlaps, in a worker scanning the shared columns, sees neither item or both, never one", async () => {
  const dim = 4;
  const index = new ShardedIndex(dim, 400, { m: 8, efConstruction: 64, efSearch: 64 }, 64, { workers: 1, shards: 1, layout: "sharded" });
  await index.ready;
  try {
    // Large enough that a scan takes milliseconds, so the write lands while it runs.
    const rows = 2_000_000;
    const columns = {
      vectors: new Float32Array(new SharedArrayBuffer(rows * dim * 4)),
      categories: new Int32Array(new SharedArrayBuffer(rows * 4)).fill(0),
      published: new Float64Array(new SharedArrayBuffer(rows * 8)).fill(Number.NaN),
      stamps: sharedStamps(rows),
    };
    const rng = new Random(9);
    for (let s = 0; s < rows; s++) columns.vectors[s * dim] = rng.next();
    index.setColumns(columns);
    // One write of two items, the first slot and the last, as the catalog makes it: row by row.
    const [a, b] = [0, rows - 1];
    const write = (v: number) => {
      for (const s of [a, b]) {
        openRow(columns.stamps, s);
        columns.vectors.set([v, 0, 0, 0], s * dim);
        stampRows(columns.stamps, s);
      }
    };
    const seen = { none: 0, both: 0, one: 0 };
    for (let i = 0; i < 20; i++) {
      write(-1);
      const answer = index.search({
        query: Float32Array.from([1, 0, 0, 0]),
        k: 2,
        mode: "scan",
        categories: Int32Array.from([0]),
        after: -Infinity,
        exclude: new Int32Array(0),
        budget: 0,
        rows,
        seen: writesOf(columns.stamps),
      });
      await new Promise((r) => setImmediate(r));
      // The worker is scanning now: past the first slot, not yet at the last.
      const t = performance.now();
      while (performance.now() - t < 3) {}
      write(100 + i);
      const got = [...(await answer).slots];
      const n = [a, b].filter((s) => got.includes(s)).length;
      if (n === 1) seen.one++;
      else if (n === 2) seen.both++;
      else seen.none++;
    }
    assert.equal(seen.one, 0, JSON.stringify(seen));
  } finally {
    await index.close();
  }
});
