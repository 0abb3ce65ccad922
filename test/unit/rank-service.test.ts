/**
 * The rank service over a real catalog and a fake user encoder: ordering by dot product in
 * both modes, unknown ids, the cold-start order, explanations and the user-vector cache.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NewsMeta } from "../../src/catalog/store.ts";
import { Metrics } from "../../src/metrics.ts";
import { UserCache } from "../../src/rank/cache.ts";
import { RankService } from "../../src/rank/service.ts";
import type { UserInput, UserVector } from "../../src/model/encoders.ts";
import { catalogOf, fakeEncoders } from "./fakes.ts";

const day = (d: number) => new Date(Date.UTC(2026, 0, d)).toISOString();
const news = (id: string, published?: number): NewsMeta => ({
  id,
  title: `title of ${id}`,
  ...(published !== undefined ? { publishedAt: day(published) } : {}),
});

// N4 has no date: it never expires and comes last in the cold-start order.
const ITEMS: [NewsMeta, number[]][] = [
  [news("N1", 1), [3, 0]],
  [news("N2", 3), [1, 1]],
  [news("N3", 2), [0, 3]],
  [news("N4"), [2, 2]],
  [news("N5", 4), [-1, 0]],
  [news("H1", 5), [1, 0]],
  [news("H2", 0), [0, 1]],
];
const U = Float32Array.from([1, 0.4]);
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i]!, 0);
const vectorOf = (id: string) => ITEMS.find(([m]) => m.id === id)![1];

function setup(o: { maxHistory?: number; user?: (input: UserInput) => UserVector } = {}) {
  const catalog = catalogOf(2, ITEMS);
  const fake = fakeEncoders({ maxHistory: o.maxHistory, user: o.user ?? (() => ({ vector: U })) });
  const rank = new RankService(catalog, fake.encoders, new UserCache("fp-test", { maxEntries: 100, ttlSeconds: 0 }), new Metrics({ defaultMetrics: false }));
  return { rank, ...fake };
}

test("retrieve: every item but the history, by dot product with the user vector", async () => {
  const { rank } = setup();
  const r = await rank.rank({ userId: "u", history: ["H1"], k: 10 });
  const expected = ITEMS.map(([m]) => m.id)
    .filter((id) => id !== "H1")
    .sort((a, b) => dot(U, vectorOf(b)) - dot(U, vectorOf(a)));
  assert.equal(r.mode, "retrieve");
  assert.equal(r.coldStart, false);
  assert.deepEqual(
    r.items.map((i) => i.newsId),
    expected,
  );
  for (const i of r.items) assert.ok(Math.abs(i.score - dot(U, vectorOf(i.newsId))) < 1e-6, i.newsId);
  assert.equal(r.items[0]!.title, "title of N1", "items carry their metadata");
  assert.deepEqual(
    (await rank.rank({ userId: "u", history: ["H1"], k: 2 })).items.map((i) => i.newsId),
    expected.slice(0, 2),
  );
});

test("rerank: known candidates once each, by dot product, capped by k; unknown ones listed", async () => {
  const { rank } = setup();
  const r = await rank.rank({ userId: "u", history: ["H1"], candidates: ["N3", "N5", "X8", "N1", "N3", "N4"], k: 3 });
  assert.equal(r.mode, "rerank");
  assert.deepEqual(
    r.items.map((i) => i.newsId),
    ["N1", "N4", "N3"],
  );
  assert.deepEqual(r.unknownCandidates, ["X8"]);
});

test("unknown history ids are reported and left out of the user vector", async () => {
  const { rank, userCalls } = setup();
  const r = await rank.rank({ userId: "u", history: ["X1", "H1", "X2"], k: 3 });
  assert.deepEqual(r.unknownHistory, ["X1", "X2"]);
  assert.equal(userCalls.length, 1);
  const input = userCalls[0]!;
  assert.equal(input.kind, "vectors");
  assert.deepEqual(input.kind === "vectors" && input.vectors.map((v) => Array.from(v)), [vectorOf("H1")]);
});

test("only the newest maxHistory known items make the user vector; all known ones stay excluded", async () => {
  const { rank, userCalls } = setup({ maxHistory: 2 });
  const r = await rank.rank({ userId: "u", history: ["H2", "N1", "H1"], k: 10 });
  const input = userCalls[0]!;
  assert.deepEqual(input.kind === "vectors" && input.vectors.map((v) => Array.from(v)), [vectorOf("N1"), vectorOf("H1")]);
  assert.ok(!r.items.some((i) => ["H2", "N1", "H1"].includes(i.newsId)));
});

test("cold start: no known history, no encoder call; newest first, undated last, score 0", async () => {
  const { rank, userCalls } = setup();
  const retrieve = await rank.rank({ userId: "u", history: ["X1"], k: 10 });
  assert.equal(retrieve.coldStart, true);
  assert.equal(retrieve.userCache, "none");
  assert.deepEqual(
    retrieve.items.map((i) => i.newsId),
    ["H1", "N5", "N2", "N3", "N1", "H2", "N4"],
  );
  assert.ok(retrieve.items.every((i) => i.score === 0));
  const rerank = await rank.rank({ history: [], candidates: ["N4", "N1", "X7", "N2"], k: 10 });
  assert.equal(rerank.coldStart, true);
  assert.deepEqual(
    rerank.items.map((i) => i.newsId),
    ["N2", "N1", "N4"],
  );
  assert.deepEqual(rerank.unknownCandidates, ["X7"]);
  assert.equal(userCalls.length, 0);
});

test("explain without attention: softmax of each history item's score, oldest first, summing to 1", async () => {
  const { rank } = setup();
  const r = await rank.rank({ userId: "u", history: ["H2", "H1"], k: 1, explain: true });
  assert.deepEqual(
    r.explanation!.map((e) => e.newsId),
    ["H2", "H1"],
  );
  const sum = r.explanation!.reduce((s, e) => s + e.weight, 0);
  assert.ok(Math.abs(sum - 1) < 1e-12, `weights sum to ${sum}`);
  assert.ok(r.explanation![1]!.weight > r.explanation![0]!.weight, "H1 scores higher with the user than H2");
});

test("explain with attention: the encoder's weights, which sum to 1", async () => {
  const { rank } = setup({ user: () => ({ vector: U, attention: Float32Array.from([0.25, 0.75]) }) });
  const r = await rank.rank({ userId: "u", history: ["H2", "H1"], k: 1, explain: true });
  assert.deepEqual(r.explanation, [
    { newsId: "H2", weight: 0.25 },
    { newsId: "H1", weight: 0.75 },
  ]);
  assert.equal((await rank.rank({ userId: "u", history: ["H2", "H1"], k: 1 })).explanation, undefined, "only when asked");
});

test("the second rank of a user with the same history is a cache hit and runs no encoder", async () => {
  const { rank, userCalls } = setup();
  const first = await rank.rank({ userId: "u", history: ["H1", "H2"], k: 3 });
  const second = await rank.rank({ userId: "u", history: ["H1", "H2"], k: 3 });
  assert.equal(first.userCache, "miss");
  assert.equal(second.userCache, "hit");
  assert.deepEqual(second.items, first.items);
  assert.equal(userCalls.length, 1);
  assert.equal((await rank.rank({ userId: "u", history: ["H1", "H2", "N1"], k: 3 })).userCache, "miss", "a new click is a new key");
  assert.equal((await rank.rank({ userId: "v", history: ["H1", "H2"], k: 3 })).userCache, "miss", "another user");
  assert.equal(userCalls.length, 3);
});
