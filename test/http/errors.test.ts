import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { json, post, startServer, type Running } from "../helpers.ts";
import { tracked, untilInFlight } from "../wait.ts";

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
    const escaped = ['{"history": [], "\\u005f\\u005fproto__": {"x": 1}}', '{"history": [], "\\u0063onstructor": {"prototype": {"x": 1}}}'];
    for (const raw of ['{"history": [', '{"history": [], "__proto__": {"x": 1}}', '{"history": [], "constructor": {"prototype": {"x": 1}}}', "", ...escaped]) {
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
    for (const [method, path] of [
      ["GET", "/news/nope"],
      ["DELETE", "/news/nope"],
      ["GET", "/nowhere"],
    ] as const) {
      const res = await fetch(`${s.url}${path}`, { method, headers: { authorization: "Bearer sekret" } });
      assert.equal(res.status, 404, path);
      assert.equal((await json(res)).error.code, "NOT_FOUND");
    }
  });

  test("401 UNAUTHENTICATED for writes without the admin token; reads stay open", async () => {
    const body = JSON.stringify({ items: [{ id: "A1", title: "Storm forecast" }] });
    for (const auth of [undefined, "Bearer wrong"]) {
      const res = await fetch(`${s.url}/news`, {
        method: "PUT",
        headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
        body,
      });
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
    const send = (items: unknown) =>
      fetch(`${s.url}/news`, { method: "PUT", headers: h, body: JSON.stringify({ items }) }).then(async (r) => ({ status: r.status, body: await json(r) }));
    assert.equal((await send([{ id: "A", title: "   " }])).body.error.field, "items/0/title");
    assert.equal((await send([{ id: "A", title: "ok", publishedAt: "yesterday" }])).body.error.field, "items/0/publishedAt");
    const dup = await send([
      { id: "A", title: "one" },
      { id: "A", title: "two" },
    ]);
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

// The tests below hold requests in the encoder queue with the micro-batch window: with
// maxWaitMs at its largest (1000 ms) and maxBatch far above the number of requests, nothing
// runs until the window ends. They act once the server reports the requests admitted
// (untilInFlight), never after a sleep.
const HOLD = { demoNews: 300, maxWaitMs: 1000, maxBatch: 1000 };

describe("overload", () => {
  test("a full encoder queue answers 503 OVERLOADED with Retry-After, at once", async () => {
    const s = await startServer({ ...HOLD, maxQueue: 2 });
    try {
      const ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
      const rank = (i: number) => post(`${s.url}/rank`, { userId: `u${i}`, history: ids.slice(i, i + 30) });
      // Two misses fill the queue of 2; the server's count says both are in.
      const queued = [tracked(rank(0)), tracked(rank(1))];
      await untilInFlight(s.url, 2);
      const refused = await rank(2);
      assert.equal(refused.status, 503);
      assert.equal(refused.body.error.code, "OVERLOADED");
      assert.equal(refused.headers.get("retry-after"), "1");
      assert.ok(
        queued.every((q) => !q.settled()),
        "refused while the queue was full, without waiting for it",
      );
      assert.deepEqual(
        (await Promise.all(queued.map((q) => q.promise))).map((r) => r.status),
        [200, 200],
      );
    } finally {
      await s.close();
    }
  });
});

describe("deadlines", () => {
  test("a rank still waiting for the encoder at its deadline gets 504 DEADLINE_EXCEEDED, and the work is dropped", async () => {
    // The deadline (1 ms) ends before the batch window (1000 ms) whatever the machine's speed:
    // the item leaves the queue by its own timer, or is refused at once if already late.
    const s = await startServer({ ...HOLD, requestTimeoutMs: 1 });
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
    const s = await startServer({ ...HOLD, maxInFlight: 2 });
    try {
      const ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
      const rank = (i: number) => post(`${s.url}/rank`, { userId: `a${i}`, history: ids.slice(i, i + 5) });
      // Two misses, waiting for their batch, hold both places.
      const holders = [tracked(rank(0)), tracked(rank(1))];
      await untilInFlight(s.url, 2);
      const refused = await Promise.all([2, 3, 4, 5].map(rank));
      assert.ok(
        holders.every((h) => !h.settled()),
        "refused while both places were held",
      );
      assert.ok(
        refused.every((r) => r.status === 503 && r.body.error.code === "OVERLOADED" && r.headers.get("retry-after") === "1"),
        JSON.stringify(refused.map((r) => r.status)),
      );
      assert.deepEqual(
        (await Promise.all(holders.map((h) => h.promise))).map((r) => r.status),
        [200, 200],
      );
      assert.equal(s.app.admission.inFlight, 0);
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    } finally {
      await s.close();
    }
  });
});
