import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { json, post, startServer, type Running } from "../helpers.ts";

describe("every error of the catalogue over HTTP", () => {
  let s: Running;
  before(async () => {
    s = await startServer({ demoNews: 500, maxHistory: 50, maxCandidates: 20, bodyLimitBytes: 4096, adminToken: "sekret" });
  });
  after(() => s.close());

  const cases: [string, unknown, string][] = [
    ["wrong type", { history: "N1" }, "history"],
    ["wrong item type", { history: ["N1", 3] }, "history/1"],
    ["missing field", { k: 3 }, "history"],
    ["unknown field", { history: [], colour: "red" }, "colour"],
    ["unknown nested field", { history: [], filter: { colour: "red" } }, "filter/colour"],
    ["k too large", { history: [], k: 1001 }, "k"],
    ["k zero", { history: [], k: 0 }, "k"],
    ["k fractional", { history: [], k: 2.5 }, "k"],
    ["history too long", { history: Array.from({ length: 51 }, (_, i) => `N${i}`) }, "history"],
    ["too many candidates", { history: [], candidates: Array.from({ length: 21 }, (_, i) => `N${i}`) }, "candidates"],
    ["empty candidates", { history: [], candidates: [] }, "candidates"],
    ["empty id", { history: [""] }, "history/0"],
    ["bad maxAgeHours", { history: [], filter: { maxAgeHours: -1 } }, "filter/maxAgeHours"],
    ["not an object", [1, 2], "body"],
  ];
  for (const [name, body, field] of cases) {
    test(`400 INVALID_ARGUMENT naming the field: ${name}`, async () => {
      const r = await post(`${s.url}/rank`, body);
      assert.equal(r.status, 400);
      assert.equal(r.body.error.code, "INVALID_ARGUMENT");
      assert.equal(r.body.error.field, field);
      assert.match(r.body.error.message, new RegExp(`^${field}`));
    });
  }

  test("malformed JSON and prototype-pollution keys are 400", async () => {
    for (const raw of ['{"history": [', '{"history": [], "__proto__": {"x": 1}}', '{"history": [], "constructor": {"prototype": {"x": 1}}}', ""]) {
      const r = await post(`${s.url}/rank`, raw);
      assert.equal(r.status, 400, raw);
      assert.equal(r.body.error.code, "INVALID_ARGUMENT");
    }
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  test("413 for an oversized body, 415 for another media type", async () => {
    const big = await post(`${s.url}/rank`, { history: ["x".repeat(5000)] });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, "PAYLOAD_TOO_LARGE");
    const res = await fetch(`${s.url}/rank`, { method: "POST", headers: { "content-type": "text/plain" }, body: "history" });
    assert.equal(res.status, 415);
    assert.equal((await json(res)).error.code, "UNSUPPORTED_MEDIA_TYPE");
  });

  test("404 NOT_FOUND for unknown news and routes", async () => {
    for (const [method, path] of [["GET", "/news/nope"], ["DELETE", "/news/nope"], ["GET", "/nowhere"]] as const) {
      const res = await fetch(`${s.url}${path}`, { method, headers: { authorization: "Bearer sekret" } });
      assert.equal(res.status, 404, path);
      assert.equal((await json(res)).error.code, "NOT_FOUND");
    }
  });

  test("401 UNAUTHENTICATED for writes without the admin token; reads stay open", async () => {
    const body = JSON.stringify({ items: [{ id: "A1", title: "Storm forecast" }] });
    for (const auth of [undefined, "Bearer wrong"]) {
      const res = await fetch(`${s.url}/news`, { method: "PUT", headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) }, body });
      assert.equal(res.status, 401);
      assert.equal((await json(res)).error.code, "UNAUTHENTICATED");
    }
    const del = await fetch(`${s.url}/news/N1`, { method: "DELETE" });
    assert.equal(del.status, 401);
    const ok = await fetch(`${s.url}/news`, { method: "PUT", headers: { "content-type": "application/json", authorization: "Bearer sekret" }, body });
    assert.equal(ok.status, 200);
    assert.equal((await fetch(`${s.url}/news/N1`)).status, 200);
  });

  test("PUT /news: an empty title, a bad date or a duplicate id in one batch is 400 naming the item", async () => {
    const h = { "content-type": "application/json", authorization: "Bearer sekret" };
    const send = (items: unknown) => fetch(`${s.url}/news`, { method: "PUT", headers: h, body: JSON.stringify({ items }) }).then(async (r) => ({ status: r.status, body: await json(r) }));
    assert.equal((await send([{ id: "A", title: "   " }])).body.error.field, "items/0/title");
    assert.equal((await send([{ id: "A", title: "ok", publishedAt: "yesterday" }])).body.error.field, "items/0/publishedAt");
    const dup = await send([{ id: "A", title: "one" }, { id: "A", title: "two" }]);
    assert.equal(dup.status, 400);
    assert.equal(dup.body.error.field, "items/1/id");
    assert.equal((await send([])).body.error.field, "items");
  });

  test("503 NOT_READY while not ready, with /readyz saying so and /healthz still live", async () => {
    s.app.ready = false;
    try {
      assert.equal((await fetch(`${s.url}/readyz`)).status, 503);
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
      const r = await post(`${s.url}/rank`, { history: [] });
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, "NOT_READY");
    } finally {
      s.app.ready = true;
    }
    assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
  });
});

describe("overload", () => {
  test("a full encoder queue answers 503 OVERLOADED with Retry-After, at once", async () => {
    // The batcher holds queued work for 200 ms, so the queue of 2 is surely full when the rest arrive.
    const s = await startServer({ demoNews: 300, maxQueue: 2, maxBatch: 1000, maxWaitMs: 200 });
    try {
      const ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
      const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => post(`${s.url}/rank`, { userId: `u${i}`, history: ids.slice(i, i + 30) })));
      const refused = rs.filter((r) => r.status === 503);
      assert.ok(refused.length > 0, "some requests are refused");
      assert.ok(rs.some((r) => r.status === 200), "some requests are served");
      for (const r of refused) {
        assert.equal(r.body.error.code, "OVERLOADED");
        assert.equal(r.headers.get("retry-after"), "1");
      }
      assert.ok(rs.every((r) => r.status === 200 || r.status === 503));
    } finally {
      await s.close();
    }
  });
});

describe("deadlines", () => {
  test("a rank still waiting for the encoder at its deadline gets 504 DEADLINE_EXCEEDED, and the work is dropped", async () => {
    const s = await startServer({ demoNews: 300, requestTimeoutMs: 5, maxWaitMs: 100, maxBatch: 1000 });
    try {
      const r = await post(`${s.url}/rank`, { userId: "late", history: ["N1", "N2", "N3"] });
      assert.equal(r.status, 504);
      assert.equal(r.body.error.code, "DEADLINE_EXCEEDED");
      const batches = await (await fetch(`${s.url}/metrics`)).text();
      assert.doesNotMatch(batches, /newsrec_encoder_batch_size_count\{encoder="user"\} [1-9]/, "no user-encoder run happened");
    } finally {
      await s.close();
    }
  });
});

describe("admission control", () => {
  test("past maxInFlight requests in progress, new ones get 503 OVERLOADED at once, and the count returns to zero", async () => {
    const s = await startServer({ demoNews: 300, maxInFlight: 2, maxWaitMs: 200, maxBatch: 1000 });
    try {
      const ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
      // Misses wait up to 200 ms for their batch, so the first two hold both places.
      const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => post(`${s.url}/rank`, { userId: `a${i}`, history: ids.slice(i, i + 5) })));
      const codes = rs.map((r) => r.status).sort();
      assert.deepEqual(codes, [200, 200, 503, 503, 503, 503]);
      assert.ok(rs.filter((r) => r.status === 503).every((r) => r.body.error.code === "OVERLOADED" && r.headers.get("retry-after") === "1"));
      assert.equal(s.app.admission.inFlight, 0);
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    } finally {
      await s.close();
    }
  });
});
