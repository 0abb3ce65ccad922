/** Golden parity: the bundle's tokenizer.json and ONNX encoders reproduce PyTorch's ids and vectors. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadBundle } from "../../src/model/bundle.ts";
import { Encoders } from "../../src/model/encoders.ts";

interface Golden {
  tolerance: number;
  news: { id: string; title: string; abstract: string; category: string; subcategory: string; ids: number[]; vector: number[] }[];
  users: { id: string; history: string[]; vector: number[]; attention?: number[]; ids?: number[] }[];
}

function close(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(worst <= tol, `${what}: max abs difference ${worst} > ${tol}`);
}

/** Checks every golden item; returns how many vectors were compared. */
export async function checkGolden(dir: string): Promise<number> {
  const bundle = loadBundle(dir);
  const golden = JSON.parse(readFileSync(join(dir, "golden.json"), "utf8")) as Golden;
  assert.ok(golden.news.length >= 8 && golden.users.length >= 4, "golden.json holds at least 8 news and 4 users");
  const enc = await Encoders.open(bundle, { workers: 1, intraOpThreads: 1, providers: ["cpu"], maxBatch: 64, maxWaitMs: 1, maxQueue: 1000, log: () => {} });
  let compared = 0;
  try {
    const ids = golden.news.map((n) => enc.tokenizer.news(n));
    golden.news.forEach((n, i) => assert.deepEqual(ids[i], n.ids, `token ids of ${n.id}`));
    // One padded batch, and each item alone: padding must not change a vector.
    const batched = await enc.encodeNewsBatch(ids);
    const single = await Promise.all(ids.map((x) => enc.encodeNewsBatch([x]).then((v) => v[0]!)));
    golden.news.forEach((n, i) => {
      close(batched[i]!, n.vector, golden.tolerance, `news ${n.id} (batched)`);
      close(single[i]!, n.vector, golden.tolerance, `news ${n.id} (alone)`);
      compared += 2;
    });
    const byId = new Map(golden.news.map((n, i) => [n.id, { meta: n, vec: batched[i]! }]));
    const users = await Promise.all(
      golden.users.map((u) => {
        if (bundle.manifest.encoders.user.input === "news_vectors") return enc.encodeUser({ kind: "vectors", vectors: u.history.map((h) => byId.get(h)!.vec) });
        const titles = u.history.map((h) => byId.get(h)!.meta.title).reverse();
        assert.deepEqual(enc.tokenizer.userTitles(titles), u.ids, `user ${u.id} token ids`);
        return enc.encodeUser({ kind: "titles", titlesNewestFirst: titles });
      }),
    );
    golden.users.forEach((u, i) => {
      close(users[i]!.vector, u.vector, golden.tolerance, `user ${u.id}`);
      if (u.attention) close(users[i]!.attention!, u.attention, golden.tolerance, `user ${u.id} attention`);
      compared++;
    });
  } finally {
    await enc.close();
  }
  return compared;
}
