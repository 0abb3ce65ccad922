import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { loadBundle } from "../../src/model/bundle.ts";
import { Encoders } from "../../src/model/encoders.ts";
import { DEFAULT_BUNDLE, dot, json, post, startServer, type Running } from "../helpers.ts";

describe("POST /rank on the default bundle (real server, port 0)", () => {
  let s: Running;
  let byCategory: Map<string, string[]>;
  before(async () => {
    s = await startServer();
    byCategory = new Map();
    for (const { meta } of s.app.catalog.entries()) {
      const list = byCategory.get(meta.category!) ?? [];
      list.push(meta.id);
      byCategory.set(meta.category!, list);
    }
  });
  after(() => s.close());

  test("a history of one category retrieves mostly that category", async () => {
    let total = 0;
    for (const category of ["sports", "finance", "weather", "music"]) {
      const history = byCategory.get(category)!.slice(0, 20);
      const r = await post(`${s.url}/rank`, { history, k: 10 });
      assert.equal(r.status, 200);
      assert.equal(r.body.mode, "retrieve");
      assert.equal(r.body.items.length, 10);
      const same = r.body.items.filter((it: { category: string }) => it.category === category).length;
      assert.ok(same >= 6, `${category}: ${same}/10 of the same category`);
      total += same;
      for (const it of r.body.items) assert.ok(!history.includes(it.newsId), "history is excluded");
    }
    assert.ok(total >= 30, `${total}/40 on-category`);
  });

  test("rerank returns exactly the known candidates, in score order, and lists the unknown", async () => {
    const candidates = [...byCategory.get("tv")!.slice(0, 5), ...byCategory.get("health")!.slice(0, 5), "N-unknown-1"];
    const r = await post(`${s.url}/rank`, { history: byCategory.get("health")!.slice(10, 20), candidates, k: 1000 });
    assert.equal(r.status, 200);
    assert.equal(r.body.mode, "rerank");
    assert.deepEqual(r.body.unknownCandidates, ["N-unknown-1"]);
    assert.deepEqual(new Set(r.body.items.map((i: { newsId: string }) => i.newsId)), new Set(candidates.slice(0, 10)));
    const scores = r.body.items.map((i: { score: number }) => i.score);
    assert.deepEqual(
      scores,
      [...scores].sort((a, b) => b - a),
    );
  });

  test("scores equal the dot product of encoder outputs computed separately", async () => {
    const history = byCategory.get("autos")!.slice(0, 7);
    const candidates = byCategory.get("travel")!.slice(0, 4).concat(byCategory.get("autos")!.slice(30, 34));
    const r = await post(`${s.url}/rank`, { history, candidates, k: 100 });
    const enc = await Encoders.open(loadBundle(DEFAULT_BUNDLE), {
      workers: 1,
      intraOpThreads: 1,
      providers: ["cpu"],
      maxBatch: 64,
      maxWaitMs: 1,
      maxQueue: 100,
      log: () => {},
    });
    try {
      const meta = (id: string) => s.app.catalog.get(id)!;
      const hv = await enc.encodeNewsBatch(history.map((id) => enc.tokenizer.news(meta(id))));
      const cv = await enc.encodeNewsBatch(candidates.map((id) => enc.tokenizer.news(meta(id))));
      const user = await enc.encodeUser({ kind: "vectors", vectors: hv });
      for (const it of r.body.items) {
        const expected = dot(user.vector, cv[candidates.indexOf(it.newsId)]!);
        assert.ok(Math.abs(it.score - expected) < 1e-4, `${it.newsId}: ${it.score} vs ${expected}`);
      }
    } finally {
      await enc.close();
    }
  });

  test("the second identical request is a user-cache hit; a new click is a miss", async () => {
    const history = byCategory.get("politics")!.slice(0, 5);
    const a = await post(`${s.url}/rank`, { userId: "cache-user", history });
    const b = await post(`${s.url}/rank`, { userId: "cache-user", history });
    const c = await post(`${s.url}/rank`, { userId: "cache-user", history: [...history, byCategory.get("politics")![6]] });
    assert.equal(a.body.userCache, "miss");
    assert.equal(b.body.userCache, "hit");
    assert.equal(c.body.userCache, "miss");
    assert.deepEqual(a.body.items, b.body.items);
  });

  test("explain returns one attention weight per known history item, summing to 1", async () => {
    const history = byCategory.get("sports")!.slice(0, 6);
    const r = await post(`${s.url}/rank`, { history: [...history, "N-nope"], explain: true });
    assert.deepEqual(r.body.unknownHistory, ["N-nope"]);
    assert.deepEqual(
      r.body.explanation.map((e: { newsId: string }) => e.newsId),
      history,
    );
    const sum = r.body.explanation.reduce((a: number, e: { weight: number }) => a + e.weight, 0);
    assert.ok(Math.abs(sum - 1) < 1e-4);
  });

  test("cold start: an empty or all-unknown history gets the freshest items, flagged", async () => {
    for (const history of [[], ["N-missing"]]) {
      const r = await post(`${s.url}/rank`, { history, k: 5 });
      assert.equal(r.status, 200);
      assert.equal(r.body.coldStart, true);
      assert.equal(r.body.userCache, "none");
      const dates = r.body.items.map((i: { publishedAt: string }) => Date.parse(i.publishedAt));
      assert.deepEqual(
        dates,
        [...dates].sort((a, b) => b - a),
      );
      assert.equal(r.body.items.length, 5);
    }
  });

  test("filters: categories and maxAgeHours", async () => {
    const history = byCategory.get("sports")!.slice(0, 10);
    const r = await post(`${s.url}/rank`, { history, k: 20, filter: { categories: ["weather", "travel"] } });
    assert.equal(r.body.items.length, 20);
    assert.ok(r.body.items.every((i: { category: string }) => ["weather", "travel"].includes(i.category)));
    const recent = await post(`${s.url}/rank`, { history, k: 20, filter: { maxAgeHours: 24 } });
    const cutoff = Date.now() - 24 * 3600_000 - 60_000;
    assert.ok(recent.body.items.length > 0);
    assert.ok(recent.body.items.every((i: { publishedAt: string }) => Date.parse(i.publishedAt) >= cutoff));
  });

  test("PUT /news, GET /news/:id and DELETE /news/:id change results at once", async () => {
    const put = await fetch(`${s.url}/news`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        items: [
          {
            id: "X1",
            title: "Quarterback touchdown playoff season win",
            category: "sports",
            subcategory: "football_nfl",
            publishedAt: new Date().toISOString(),
          },
        ],
      }),
    });
    assert.equal(put.status, 200);
    assert.deepEqual(await put.json(), { upserted: 1 });
    const got = await fetch(`${s.url}/news/X1`);
    assert.equal((await json(got)).title, "Quarterback touchdown playoff season win");
    const history = byCategory.get("sports")!.slice(0, 10);
    const r1 = await post(`${s.url}/rank`, { history, candidates: ["X1", ...byCategory.get("weather")!.slice(0, 3)] });
    assert.equal(r1.body.items[0].newsId, "X1");
    const del = await fetch(`${s.url}/news/X1`, { method: "DELETE" });
    assert.equal(del.status, 200);
    const r2 = await post(`${s.url}/rank`, { history, candidates: ["X1"] });
    assert.deepEqual(r2.body.unknownCandidates, ["X1"]);
    assert.equal((await fetch(`${s.url}/news/X1`)).status, 404);
  });

  test("GET /metrics is Prometheus text with the newsrec_ metrics", async () => {
    const res = await fetch(`${s.url}/metrics`);
    assert.match(res.headers.get("content-type")!, /text\/plain/);
    const text = await res.text();
    for (const m of [
      "newsrec_request_duration_seconds_bucket",
      "newsrec_rank_stage_duration_seconds_bucket",
      "newsrec_user_cache_lookups_total",
      "newsrec_encoder_batch_size_bucket",
      "newsrec_model_info",
      "newsrec_catalog_items",
    ]) {
      assert.ok(text.includes(m), m);
    }
    assert.match(text, /newsrec_user_cache_lookups_total\{result="hit"\} [1-9]/);
  });
});
