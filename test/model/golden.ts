/**
 * Golden parity: the bundle's tokenizer.json and ONNX encoders, run as the server runs them,
 * reproduce PyTorch's ids and vectors: news alone and in one padded batch; users alone and
 * micro-batched together, from the history input the rank service builds (news vectors, titles,
 * or for FUM the vectors and the token ids the catalog keeps, which must equal PyTorch's).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadBundle } from "../../src/model/bundle.ts";
import { Encoders, historyInput, type UserInput, type UserVector } from "../../src/model/encoders.ts";

interface Golden {
  tolerance: number;
  news: { id: string; title: string; abstract: string; category: string; subcategory: string; ids: number[]; vector: number[] }[];
  /** ids: a siamese user's text; tokenIds: a FUM user's clicked news' token ids, oldest first. */
  users: { id: string; history: string[]; vector: number[]; attention?: number[]; ids?: number[]; tokenIds?: number[][] }[];
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
    // The golden news as a catalog: slot i is news i, with the vectors and token ids the server makes.
    const slotOf = new Map(golden.news.map((n, i) => [n.id, i]));
    const tokens = golden.news.map((n) => enc.clickTokens(n));
    const source = { vectorAt: (s: number) => batched[s]!, metaAt: (s: number) => golden.news[s]!, tokensAt: (s: number) => tokens[s] ?? null };
    const inputs: UserInput[] = golden.users.map((u) =>
      historyInput(
        bundle.manifest,
        u.history.map((h) => slotOf.get(h)!),
        source,
      ),
    );
    golden.users.forEach((u, i) => {
      const input = inputs[i]!;
      if (input.kind === "titles") assert.deepEqual(enc.tokenizer.userTitles(input.titlesNewestFirst), u.ids, `user ${u.id} token ids`);
      if (input.kind === "vectorsAndTokens")
        assert.deepEqual(
          input.tokens.map((t) => Array.from(t)),
          u.tokenIds,
          `user ${u.id}: the clicked news' token ids the catalog keeps`,
        );
    });
    // Together (one micro-batch, padded to the longest history), then each alone.
    const together = await Promise.all(inputs.map((x) => enc.encodeUser(x)));
    const alone: UserVector[] = [];
    for (const x of inputs) alone.push(await enc.encodeUser(x));
    golden.users.forEach((u, i) => {
      for (const [how, got] of [
        ["batched", together[i]!],
        ["alone", alone[i]!],
      ] as const) {
        close(got.vector, u.vector, golden.tolerance, `user ${u.id} (${how})`);
        if (u.attention) close(got.attention!, u.attention, golden.tolerance, `user ${u.id} attention (${how})`);
      }
      compared++;
    });
  } finally {
    await enc.close();
  }
  return compared;
}
