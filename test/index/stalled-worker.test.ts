/**
 * An index worker that is alive but stuck (no exit event: a native call that never returns)
 * must not hold searches, or the requests waiting on them, for ever. The fault comes from
 * fixtures/stalling-shard-worker.mjs: the real worker, whose thread blocks for good on a search
 * for STALL_K items. Timeouts here only stop a hang from stalling the suite; nothing is timed.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Catalog, type CatalogOptions } from "../../src/catalog/store.ts";
import { NewsrecError } from "../../src/errors.ts";
import type { ShardedIndex } from "../../src/index/sharded.ts";
import { loadBundle } from "../../src/model/bundle.ts";
import { Encoders } from "../../src/model/encoders.ts";
import { Metrics } from "../../src/metrics.ts";
import { UserCache } from "../../src/rank/cache.ts";
import { RankService } from "../../src/rank/service.ts";
import { Random } from "../../src/synth/random.ts";
import { DEFAULT_BUNDLE } from "../helpers.ts";

const STALLING = new URL("./fixtures/stalling-shard-worker.mjs", import.meta.url);
const STALL_K = 977;
const GUARD = { timeout: 120_000 };
const open: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(open.map((c) => c.close()));
});

function catalog(dim: number, runTimeoutMs: number, efConstruction = 64): Catalog {
  const o: CatalogOptions = {
    m: 12,
    efConstruction,
    efSearch: 100,
    exactMaxItems: 0,
    maxAgeHours: 0,
    phi: 8,
    indexWorkers: { workers: 2, shards: 2, layout: "sharded", entry: STALLING, runTimeoutMs },
  };
  const c = new Catalog(dim, "fp", o, 64);
  open.push(c);
  return c;
}

function vectors(n: number, dim: number, seed: number): Float32Array[] {
  const rng = new Random(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => (rng.next() - 0.5) / 2));
}

function fill(c: Catalog, n: number, seed: number): void {
  vectors(n, c.dim, seed).forEach((v, i) => c.upsert({ id: `n${i}`, title: `t${i}` }, v));
}

/** How a promise settles, or "still pending" after `ms` (the failure a hang shows). */
function settled<T>(p: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | "still pending"> {
  return Promise.race([
    p.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    new Promise<"still pending">((r) => setTimeout(() => r("still pending"), ms).unref()),
  ]);
}

function failedWith(code: string, pattern: RegExp, outcome: Awaited<ReturnType<typeof settled>>): void {
  assert.notEqual(outcome, "still pending", "the search was still waiting on the stuck worker");
  assert.ok(typeof outcome === "object" && "error" in outcome, `a failure, got ${JSON.stringify(outcome)}`);
  const err = outcome.error;
  assert.ok(err instanceof NewsrecError, `a NewsrecError, got ${String(err)}`);
  assert.equal(err.code, code);
  assert.match(err.message, pattern);
}

test("a search unanswered by a live index worker for runTimeoutMs fails with UNAVAILABLE; the worker is replaced and rebuilds its graph", GUARD, async () => {
  const c = catalog(16, 300);
  fill(c, 3000, 1);
  const index = c.index as ShardedIndex;
  const [q] = vectors(1, 16, 2);
  assert.equal((await c.searchAsync(q!, 10)).length, 10);

  failedWith("UNAVAILABLE", /index worker \d did not answer within 300 ms/, await settled(c.searchAsync(q!, STALL_K), 20_000));
  const health = c.indexHealth();
  assert.ok(!health.ok, "readiness says so while the graphs are rebuilt");
  assert.match(health.reason, /did not answer within 300 ms; rebuilding its graphs/);

  // A write made while the workers are replaced is in their rebuilt graphs.
  // The query's direction at norm 6 (within the norm bound phi, 8): above every other item's score.
  const hot = Float32Array.from(q!, (x) => (6 * x) / Math.hypot(...q!));
  c.upsert({ id: "hot", title: "hot" }, hot);
  const deadline = Date.now() + 60_000;
  while (!c.indexHealth().ok && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(c.indexHealth().ok, "the index recovers");
  // Both workers held a shard of the search, so both were stuck, and both replaced.
  assert.equal(index.restarts, 2);
  const top = await c.searchAsync(q!, 10);
  assert.equal(top.length, 10);
  assert.equal(c.metaAt(top[0]!.slot).id, "hot");
});

test("a worker busy with writes for longer than runTimeoutMs is not taken for a stuck one", GUARD, async () => {
  const c = catalog(16, 200, 400);
  fill(c, 1000, 3);
  const index = c.index as ShardedIndex;
  const [q] = vectors(1, 16, 4);
  await c.searchAsync(q!, 10);
  // One turn's writes reach each worker as one batch; the search asked after them waits behind them.
  const t0 = performance.now();
  fill(c, 40_000, 5);
  const top = await c.searchAsync(q!, 10);
  const waited = performance.now() - t0;
  assert.equal(top.length, 10);
  assert.equal(index.restarts, 0, `no worker replaced (the search waited ${waited.toFixed(0)} ms behind the writes)`);
  assert.ok(waited > 200, `the writes took longer than runTimeoutMs (${waited.toFixed(0)} ms), so the test shows something`);
});

test("a worker still starting (loading its modules answers nothing) is not taken for a stuck one", GUARD, async () => {
  const c = catalog(16, 100);
  const index = c.index as ShardedIndex;
  // Asked at once: the workers are still loading, and take longer than runTimeoutMs to.
  const t0 = performance.now();
  fill(c, 200, 7);
  const [q] = vectors(1, 16, 8);
  const top = await c.searchAsync(q!, 10);
  const waited = performance.now() - t0;
  assert.equal(top.length, 10);
  assert.equal(index.restarts, 0, `no worker replaced (the search waited ${waited.toFixed(0)} ms for them to start)`);
  assert.ok(waited > 100, `the start took longer than runTimeoutMs (${waited.toFixed(0)} ms), so the test shows something`);
});

test("this thread held past runTimeoutMs (a long synchronous job) does not make the workers whose answers wait behind it look stuck", GUARD, async () => {
  const c = catalog(16, 200);
  fill(c, 500, 9);
  const index = c.index as ShardedIndex;
  const [q] = vectors(1, 16, 10);
  await c.searchAsync(q!, 10);
  const asked = c.searchAsync(q!, 10);
  // Past the turn that posts the search, then held: the workers answer meanwhile, unheard.
  await new Promise((r) => setImmediate(r));
  const until = performance.now() + 800;
  while (performance.now() < until);
  assert.equal((await asked).length, 10);
  assert.equal(index.restarts, 0);
  assert.ok(c.indexHealth().ok);
});

test("a retrieve whose index search does not come back fails with DEADLINE_EXCEEDED at the request's deadline", GUARD, async () => {
  const bundle = loadBundle(DEFAULT_BUNDLE);
  const dim = bundle.manifest.dimension;
  const encoders = await Encoders.open(bundle, { workers: 1, intraOpThreads: 1, providers: ["cpu"], maxBatch: 8, maxWaitMs: 0, maxQueue: 100, log: () => {} });
  open.push(encoders);
  // The stall watchdog is far off: only the request's own deadline can end this wait.
  const c = catalog(dim, 600_000);
  fill(c, 3000, 6);
  const rank = new RankService(c, encoders, new UserCache("fp", { maxEntries: 10, ttlSeconds: 0 }), new Metrics({ defaultMetrics: false }));
  const history = ["n1", "n2", "n3"];
  assert.equal((await rank.answer({ userId: "u", history, k: 10 }, performance.now() + 10_000)).hits.length, 10);
  failedWith("DEADLINE_EXCEEDED", /deadline passed/, await settled(rank.answer({ userId: "u", history, k: STALL_K }, performance.now() + 300), 20_000));
});
