/**
 * Unfiltered retrieves on small catalogs are scored exactly in an encoder worker: the answers
 * equal the main thread's exact scan, item for item and score for score.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { post, startServer, type Running } from "../helpers.ts";

let inWorker: Running;
let onMain: Running;
before(async () => {
  inWorker = await startServer({ demoNews: 3000, exactMaxItems: 0, workerExactMaxItems: 20_000 });
  onMain = await startServer({ demoNews: 3000, exactMaxItems: 100_000, workerExactMaxItems: 0 });
});
after(async () => {
  await inWorker.close();
  await onMain.close();
});

test("worker-exact retrieves equal the main thread's exact scan, and filtered ones still answer", { timeout: 120_000 }, async () => {
  assert.ok(inWorker.app.encoders.canScoreExactly, "the workers hold the exact-scoring graph");
  const ids = [...inWorker.app.catalog.entries()].map((e) => e.meta.id);
  for (let u = 0; u < 40; u++) {
    const body = { userId: `w${u}`, history: Array.from({ length: 5 + (u % 20) }, (_, j) => ids[(u * 97 + j * 13) % ids.length]), k: 1 + (u % 3) * 25 };
    const [a, b] = await Promise.all([post(`${inWorker.url}/rank`, body), post(`${onMain.url}/rank`, body)]);
    assert.equal(a.status, 200);
    assert.deepEqual(
      a.body.items.map((i: any) => i.newsId),
      b.body.items.map((i: any) => i.newsId),
      `user ${u}`,
    );
    assert.deepEqual(
      a.body.items.map((i: any) => i.score),
      b.body.items.map((i: any) => i.score),
    );
    assert.ok(!a.body.items.some((i: any) => body.history.includes(i.newsId)), "the history is left out");
  }
  // Deleted items never come back from the worker's copy of the matrix.
  const first = await post(`${inWorker.url}/rank`, { userId: "del", history: ids.slice(0, 5), k: 5 });
  const gone = first.body.items[0].newsId;
  assert.equal((await fetch(`${inWorker.url}/news/${gone}`, { method: "DELETE" })).status, 200);
  const again = await post(`${inWorker.url}/rank`, { userId: "del", history: ids.slice(0, 5), k: 5 });
  assert.ok(!again.body.items.some((i: any) => i.newsId === gone));
  const filtered = await post(`${inWorker.url}/rank`, { userId: "f", history: ids.slice(0, 5), filter: { categories: ["sports"] } });
  assert.equal(filtered.status, 200);
  assert.ok(filtered.body.items.every((i: any) => i.category === "sports"));
});
