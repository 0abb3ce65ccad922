/**
 * Kept retrieve answers through the real server (ONNX encoders in their workers, the exact
 * scorer's worker path and the graph in index workers): a server that keeps answers answers as
 * one that searches every time, across upserts and deletes made between the retrieves.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { post, startServer, type Running } from "../helpers.ts";

let keeping: Running;
let searching: Running;
let graph: Running;
before(async () => {
  keeping = await startServer({ demoNews: 2000 });
  searching = await startServer({ demoNews: 2000, keptAnswersMaxBytes: 0 });
  // Every retrieve walks the graph in the index workers (no exact path).
  graph = await startServer({ demoNews: 2000, exactMaxItems: 0, workerExactMaxItems: 0 });
});
after(async () => {
  await Promise.all([keeping?.close(), searching?.close(), graph?.close()]);
});

const put = (url: string, items: unknown[]) =>
  fetch(`${url}/news`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ items }) });
const kept = async (url: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const count = (result: string) => Number(new RegExp(`newsrec_kept_answers_total\\{result="${result}"\\} (\\d+)`).exec(text)?.[1] ?? NaN);
  return { reused: count("reused"), stale: count("stale") };
};
/** The answer without the cache result, which differs between the two servers by design, and the demo items' dates (relative to each server's start). */
const answer = (body: any) => ({ ...body, userCache: undefined, items: body.items.map((i: any) => ({ ...i, publishedAt: undefined })) });

test("a server keeping answers answers as one that searches every time, across writes", { timeout: 120_000 }, async () => {
  const ids = [...keeping.app.catalog.entries()].map((e) => e.meta.id);
  const users = Array.from({ length: 8 }, (_, u) => ({
    userId: `r${u}`,
    history: Array.from({ length: 6 }, (_, j) => ids[(u * 211 + j * 37) % ids.length]!),
    k: 10,
  }));
  const both = async (f: (url: string) => Promise<Response>) => {
    for (const s of [keeping, searching]) assert.equal((await f(s.url)).status, 200);
  };
  for (let round = 0; round < 5; round++) {
    for (const body of users) {
      const [a, b] = await Promise.all([post(`${keeping.url}/rank`, body), post(`${searching.url}/rank`, body)]);
      assert.equal(a.status, 200);
      assert.deepEqual(answer(a.body), answer(b.body), `${body.userId}, round ${round}`);
    }
    // Between rounds: a copy of one user's best item under a new id (its score ties the best, so
    // it must come back), an unrelated item, and one user's second item deleted.
    const top = (await post(`${searching.url}/rank`, users[round % users.length])).body.items;
    const { newsId, score: _, ...text } = top[0];
    await both((url) =>
      put(url, [
        { ...text, id: `copy${round}` },
        { id: `new${round}`, title: `Storm closes airports across the region ${round}`, category: "weather" },
      ]),
    );
    await both((url) => fetch(`${url}/news/${top[1].newsId}`, { method: "DELETE" }));
  }
  const k = await kept(keeping.url);
  assert.ok(k.reused > 0 && k.stale > 0, `kept answers were reused and found stale: ${JSON.stringify(k)}`);
  assert.deepEqual(await kept(searching.url), { reused: 0, stale: 0 }, "keptAnswersMaxBytes 0 keeps none");
});

test("a graph answer is searched again when an item written since could rank in it", { timeout: 120_000 }, async () => {
  const ids = [...graph.app.catalog.entries()].map((e) => e.meta.id);
  const body = { userId: "g", history: ids.slice(100, 106), k: 10 };
  const first = (await post(`${graph.url}/rank`, body)).body;
  assert.deepEqual((await post(`${graph.url}/rank`, body)).body.items, first.items);
  assert.equal((await kept(graph.url)).reused, 1);
  // The same text as the best item under a new id: the same vector, so it ties the best.
  const { newsId, score, ...text } = first.items[0];
  assert.equal((await put(graph.url, [{ ...text, id: "twin" }])).status, 200);
  const again = (await post(`${graph.url}/rank`, body)).body;
  const twin = again.items.find((i: any) => i.newsId === "twin");
  assert.ok(twin, "the new item is in the answer");
  assert.ok(Math.abs(twin.score - score) < 1e-6);
  assert.equal((await kept(graph.url)).stale, 1);
  // Deleting an item of the answer: it is searched again and the item is gone.
  assert.equal((await fetch(`${graph.url}/news/${newsId}`, { method: "DELETE" })).status, 200);
  const third = (await post(`${graph.url}/rank`, body)).body;
  assert.ok(!third.items.some((i: any) => i.newsId === newsId));
  assert.equal(third.items.length, 10);
});
