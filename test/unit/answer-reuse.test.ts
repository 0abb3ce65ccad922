/**
 * Kept retrieve answers (src/rank/answer-reuse.ts) over a real catalog: given again only while
 * the catalog still gives them. Two rank services share one catalog, one keeping answers and one
 * searching every time, and must answer alike whatever is written between their retrieves.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Catalog, type NewsMeta } from "../../src/catalog/store.ts";
import { WriteLog } from "../../src/catalog/write-log.ts";
import { Metrics } from "../../src/metrics.ts";
import { UserCache } from "../../src/rank/cache.ts";
import { RankService } from "../../src/rank/service.ts";
import type { RankRequest } from "../../src/rank/types.ts";
import type { UserInput } from "../../src/model/encoders.ts";
import { catalogOf, fakeEncoders } from "./fakes.ts";

const DIM = 3;
const HOUR = 3600_000;
const CATEGORIES = ["sports", "news", "travel"];
const item = (i: number, category: string, hoursAgo: number, now: number): NewsMeta => ({
  id: `N${i}`,
  title: `title ${i}`,
  category,
  publishedAt: new Date(now - hoursAgo * HOUR).toISOString(),
});

/** The user vector is the sum of the history's vectors: a real function of the history, and what the test can compute. */
const sumOfHistory = (input: UserInput) => {
  const v = new Float32Array(DIM);
  if (input.kind === "vectors") for (const x of input.vectors) for (let d = 0; d < DIM; d++) v[d]! += x[d]!;
  return { vector: v };
};

/** A rank service over a catalog, keeping answers in `keptBytes` (0: none), with a user cache of `users` entries. */
const serviceOn = (catalog: Catalog, keptBytes: number, users = 100) =>
  new RankService(
    catalog,
    fakeEncoders({ user: sumOfHistory }).encoders,
    new UserCache("fp-test", { maxEntries: users, ttlSeconds: 0 }),
    new Metrics({ defaultMetrics: false }),
    0,
    keptBytes,
  );

function services(items: [NewsMeta, number[]][], maxBytes = 1 << 20) {
  const catalog = catalogOf(DIM, items);
  return { catalog, keeping: serviceOn(catalog, maxBytes), searching: serviceOn(catalog, 0) };
}

const ids = (r: { items: { newsId: string; score: number }[] }) => r.items.map((i) => `${i.newsId}:${i.score}`);

test("the write log lists the slots written since a position, and only while it reaches back", () => {
  const log = new WriteLog(4);
  log.record(7);
  const p = log.position;
  log.record(3);
  log.record(9);
  const seen: number[] = [];
  assert.equal(
    log.since(p, (s) => seen.push(s) > 0),
    true,
  );
  assert.deepEqual(seen, [3, 9]);
  assert.equal(
    log.since(p, () => false),
    false,
    "visit stops it",
  );
  for (let i = 0; i < 3; i++) log.record(i);
  assert.equal(
    log.since(p, () => true),
    false,
    "five writes since, four kept",
  );
  assert.equal(
    log.since(log.position - 4, () => true),
    true,
  );
  log.forgetAll();
  assert.equal(
    log.since(log.position - 1, () => true),
    false,
    "nothing before a restore is listed",
  );
  assert.equal(
    log.since(log.position, () => true),
    true,
  );
});

test("a retrieve asked again is answered from the kept answer while writes since cannot change it", async () => {
  const now = Date.now();
  const base: [NewsMeta, number[]][] = [
    [item(1, "news", 1, now), [0, 0, 0.9]],
    [item(2, "news", 1, now), [0, 0.1, 0.8]],
    [item(3, "news", 1, now), [0.5, 0.5, 0.5]],
    [item(4, "news", 1, now), [0, 1, 0.1]],
    [item(5, "news", 1, now), [1, 0, 0]],
  ];
  const { catalog, keeping, searching } = services(base);
  // The user vector is N4's: N2 0.18, N4 (history) 1.01, N3 0.55, N1 0.09, N5 0.
  const req: RankRequest = { userId: "u", history: ["N4"], k: 2 };
  const first = await keeping.rank(req);
  assert.deepEqual(
    first.items.map((i) => i.newsId),
    ["N3", "N2"],
  );
  assert.deepEqual(ids(await keeping.rank(req)), ids(first));
  assert.deepEqual(keeping.answers.counts, { reused: 1, stale: 0 });

  // An item written since that ranks below the last: the kept answer still holds.
  catalog.upsert(item(6, "news", 1, now), Float32Array.from([0, 0.1, 0.5]));
  assert.deepEqual(ids(await keeping.rank(req)), ids(await searching.rank(req)));
  assert.deepEqual(keeping.answers.counts, { reused: 2, stale: 0 });

  // One that ranks above it: searched again.
  catalog.upsert(item(7, "news", 1, now), Float32Array.from([0, 0.3, 0]));
  const after = await keeping.rank(req);
  assert.deepEqual(
    after.items.map((i) => i.newsId),
    ["N3", "N7"],
  );
  assert.deepEqual(ids(after), ids(await searching.rank(req)));
  assert.deepEqual(keeping.answers.counts, { reused: 2, stale: 1 });

  // A kept item deleted, or rewritten out of the filter: searched again.
  catalog.delete("N7");
  assert.deepEqual(ids(await keeping.rank(req)), ids(await searching.rank(req)));
  assert.equal(keeping.answers.counts.stale, 2);
  const newsOnly: RankRequest = { ...req, filter: { categories: ["news"] } };
  assert.deepEqual(
    (await keeping.rank(newsOnly)).items.map((i) => i.newsId),
    ["N3", "N2"],
  );
  catalog.upsert(item(3, "sports", 1, now), Float32Array.from([0.5, 0.5, 0.5]));
  assert.deepEqual(ids(await keeping.rank(newsOnly)), ids(await searching.rank(newsOnly)));
  assert.deepEqual(
    (await keeping.rank(newsOnly)).items.map((i) => i.newsId),
    ["N2", "N6"],
  );

  // Each k and filter has its own kept answer.
  const k3 = await keeping.rank({ ...req, k: 3 });
  assert.equal(k3.items.length, 3);
  assert.deepEqual(ids(k3), ids(await searching.rank({ ...req, k: 3 })));
});

test("a kept answer's response text is sent again while it holds, and made anew once an item's text changes", async () => {
  const now = Date.now();
  const { catalog, keeping, searching } = services([
    [item(1, "news", 1, now), [1, 0, 0]],
    [item(2, "news", 1, now), [0.5, 0.5, 0]],
    [item(3, "news", 1, now), [0, 0.2, 1]],
  ]);
  const req: RankRequest = { userId: "u", history: ["N1"], k: 2 };
  const text = async (s: typeof keeping, r: RankRequest = req) => s.json(await s.answer(r));
  await text(keeping);
  await text(searching);
  const first = await text(keeping);
  assert.equal(await text(keeping), first, "the held buffer is sent again");
  assert.deepEqual(first, await text(searching), "byte for byte what a search answers");
  // A request of its own (an unknown id, an explanation) gets a text of its own.
  const unknown = await text(keeping, { ...req, history: ["N1", "X9"] });
  assert.notEqual(unknown, first);
  assert.deepEqual(JSON.parse(unknown.toString()).unknownHistory, ["X9"]);
  assert.deepEqual(unknown, await text(searching, { ...req, history: ["N1", "X9"] }));
  // The item's text changes (same vector): the kept answer is stale, and the new text says so.
  catalog.upsert({ ...item(2, "news", 1, now), title: "a new title" }, Float32Array.from([0.5, 0.5, 0]));
  const changed = await text(keeping);
  assert.deepEqual(changed, await text(searching));
  assert.equal(JSON.parse(changed.toString()).items[0].title, "a new title");
  const heldAgain = await text(keeping);
  assert.deepEqual(heldAgain, changed);
  assert.equal(await text(keeping), heldAgain, "held again");
  // Texts count against the same memory as the answers: with room for an answer of two items
  // (about 400 bytes) but not for it and its text (about 400 more), each response is made anew, and the same.
  const none = services(
    [
      [item(1, "news", 1, now), [1, 0, 0]],
      [item(2, "news", 1, now), [0.5, 0.5, 0]],
    ],
    600,
  ).keeping;
  await text(none);
  const a = await text(none);
  const b = await text(none);
  assert.notEqual(a, b);
  assert.deepEqual(a, b);
  assert.equal(none.answers.counts.reused, 2);
});

test("answers are kept within their memory, least recently used first out, and only for the vector they were computed from", async () => {
  const now = Date.now();
  const items: [NewsMeta, number[]][] = Array.from({ length: 20 }, (_, i) => [item(i, "news", 1, now), [Math.sin(i), Math.cos(i), 0.1 * i]]);
  // Room for about three answers of k 5 (and no texts).
  const { catalog, keeping } = services(items, 1800);
  const ask = (u: number) => keeping.answer({ userId: `u${u}`, history: [`N${u}`], k: 5 });
  for (let u = 0; u < 6; u++) await ask(u);
  await ask(5);
  assert.equal(keeping.answers.counts.reused, 1, "the most recent is kept");
  await ask(0);
  assert.equal(keeping.answers.counts.reused, 1, "the oldest was let go");
  // At most four answers (k and filter) for one user vector, the most recent.
  const variants = services(items).keeping;
  for (let k = 1; k <= 5; k++) await variants.answer({ userId: "v", history: ["N1"], k });
  await variants.answer({ userId: "v", history: ["N1"], k: 5 });
  await variants.answer({ userId: "v", history: ["N1"], k: 2 });
  assert.equal(variants.answers.counts.reused, 2);
  await variants.answer({ userId: "v", history: ["N1"], k: 1 });
  assert.equal(variants.answers.counts.reused, 2, "the first of five was let go");
  // The same history for another user-vector object (encoded again after leaving the user cache) is not answered from the old one.
  const oneEntry = serviceOn(catalog, 1 << 20, 1);
  await oneEntry.answer({ userId: "a", history: ["N1"], k: 3 });
  await oneEntry.answer({ userId: "b", history: ["N2"], k: 3 });
  const again = await oneEntry.answer({ userId: "a", history: ["N1"], k: 3 });
  assert.equal(again.head.userCache, "miss");
  assert.equal(oneEntry.answers.counts.reused, 0);
  assert.ok((await oneEntry.answer({ userId: "a", history: ["N1"], k: 3 })).kept, "kept for the new vector");
});

test("a graph answer is searched again once a search would be exact; an exact one holds", async () => {
  const now = Date.now();
  // Catalogs of up to 25 items are scored exactly; this one has 30, so a retrieve walks the graph.
  const catalog = new Catalog(DIM, "fp-test", { m: 8, efConstruction: 32, efSearch: 16, exactMaxItems: 25, maxAgeHours: 0, phi: 10 }, 64);
  for (let i = 0; i < 30; i++) catalog.upsert(item(i, CATEGORIES[i % 3]!, 1, now), Float32Array.from([Math.sin(i), Math.cos(2 * i), 0.1 * (i % 5)]));
  const rank = serviceOn(catalog, 1 << 20, 10);
  const req: RankRequest = { userId: "u", history: ["N0"], k: 3 };
  const walked = await rank.answer(req);
  assert.ok(catalog.scoresExactly({}) === false, "30 items: the graph");
  await rank.answer(req);
  assert.deepEqual(rank.answers.counts, { reused: 1, stale: 0 });
  // Five items outside the answer deleted: 25 items, scored exactly now. Their deletes alone would not change the answer.
  const inAnswer = new Set(walked.hits.map((h) => h.slot));
  const gone = [...catalog.entries()].filter((e) => !inAnswer.has(e.slot) && e.meta.id !== "N0").slice(0, 5);
  for (const e of gone) catalog.delete(e.meta.id);
  assert.ok(catalog.scoresExactly({}));
  const exact = await rank.answer(req);
  assert.deepEqual(rank.answers.counts, { reused: 1, stale: 1 }, "the graph answer is not given again");
  assert.deepEqual(
    exact.hits,
    catalog.exactSearch(sumOfHistory({ kind: "vectors", vectors: [catalog.vectorAt(catalog.slotOf("N0")!)] } as UserInput).vector, 3, {
      exclude: new Set([catalog.slotOf("N0")!]),
    }),
  );
  // Back above 25 items: the exact answer is still the exact answer, and is given again.
  for (const e of gone) catalog.upsert(e.meta, Float32Array.from([-5, -5, -5]));
  assert.equal(catalog.scoresExactly({}), false);
  await rank.answer(req);
  assert.deepEqual(rank.answers.counts, { reused: 2, stale: 1 });
});

test("two filters never share a kept answer, whatever their categories hold", async () => {
  const now = Date.now();
  const { catalog, keeping } = services([
    [item(1, "a", 1, now), [1, 0, 0]],
    [item(2, "b", 1, now), [0.9, 0, 0]],
    [item(3, "a\u0000b", 1, now), [0, 0, 1]],
    [item(4, "a", 1, now), [0.5, 0.5, 0]],
  ]);
  const two = await keeping.answer({ userId: "u", history: ["N4"], k: 2, filter: { categories: ["a", "b"] } });
  assert.equal(two.hits.length, 2);
  const one = await keeping.answer({ userId: "u", history: ["N4"], k: 2, filter: { categories: ["a\u0000b"] } });
  assert.equal(keeping.answers.counts.reused, 0);
  assert.deepEqual(
    one.hits.map((h) => h.slot),
    [catalog.slotOf("N3")],
    "only the item of the category named a\\u0000b",
  );
});

test("an answer older than the write log is searched again", async () => {
  const now = Date.now();
  const { catalog, keeping, searching } = services([
    [item(1, "news", 1, now), [1, 0, 0]],
    [item(2, "news", 1, now), [0, 1, 0]],
  ]);
  const req: RankRequest = { userId: "u", history: ["N2"], k: 1 };
  await keeping.rank(req);
  // Each rewrite scores below the kept item, but there are more of them than the log keeps.
  for (let i = 0; i < 300; i++) catalog.upsert(item(1, "news", 1, now), Float32Array.from([1, 0, 0]));
  assert.deepEqual(ids(await keeping.rank(req)), ids(await searching.rank(req)));
  assert.deepEqual(keeping.answers.counts, { reused: 0, stale: 1 });
});

test("a kept item that ages out of maxAgeHours is not given again", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: Date.UTC(2026, 5, 1) });
  const now = Date.now();
  const { keeping, searching } = services([
    [item(1, "news", 5, now), [1, 0, 0]],
    [item(2, "news", 1, now), [0.5, 0, 0]],
    [item(3, "news", 1, now), [0, 1, 0]],
  ]);
  const req: RankRequest = { userId: "u", history: ["N3"], k: 1, filter: { maxAgeHours: 6 } };
  const u = { userId: "u", history: ["N1"], k: 1, filter: { maxAgeHours: 6 } } satisfies RankRequest;
  assert.deepEqual(
    (await keeping.rank(u)).items.map((i) => i.newsId),
    ["N2"],
  );
  await keeping.rank(req);
  const before = await keeping.rank(u);
  assert.equal(keeping.answers.counts.reused, 1);
  assert.deepEqual(
    before.items.map((i) => i.newsId),
    ["N2"],
  );
  t.mock.timers.tick(2 * HOUR);
  // N1 (history) is excluded; N2 is now 3 h old and still passes; nothing written since.
  assert.deepEqual(ids(await keeping.rank(u)), ids(await searching.rank(u)));
  t.mock.timers.tick(3 * HOUR + 1);
  // N2 is past 6 h: the kept answer fails the filter, and nothing else is recent enough.
  const aged = await keeping.rank(u);
  assert.deepEqual(ids(aged), ids(await searching.rank(u)));
  assert.deepEqual(aged.items, []);
  assert.equal(keeping.answers.counts.stale, 1);
});

test("whatever is written between them, a service keeping answers answers as one that searches every time", async () => {
  const now = Date.now();
  // Scores of random doubles do not tie, so both services' answers are one answer.
  const vec = fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: DIM, maxLength: DIM });
  const op = fc.oneof(
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant("upsert" as const),
        id: fc.integer({ min: 0, max: 24 }),
        v: vec,
        category: fc.constantFrom(...CATEGORIES),
        hoursAgo: fc.integer({ min: 0, max: 48 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), id: fc.integer({ min: 0, max: 24 }) }) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant("rank" as const),
        user: fc.integer({ min: 0, max: 3 }),
        k: fc.constantFrom(2, 5),
        category: fc.option(fc.constant("sports"), { nil: undefined }),
        maxAgeHours: fc.option(fc.constant(36), { nil: undefined }),
        excludeHistory: fc.boolean(),
      }),
    },
  );
  let reused = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 80 }), async (ops) => {
      const seed: [NewsMeta, number[]][] = Array.from({ length: 16 }, (_, i) => [
        item(i, CATEGORIES[i % 3]!, i * 3, now),
        [Math.sin(i), Math.cos(3 * i), Math.sin(7 * i + 1)],
      ]);
      // Little memory (a few answers): answers are also let go and searched again.
      const { catalog, keeping, searching } = services(seed, 4000);
      // Each user's history is fixed (ids that may come and go), so its cached vector and kept answers are met again.
      const histories = [["N0", "N1"], ["N2"], ["N3", "N4", "N20"], ["N5"]];
      for (const o of ops) {
        if (o.kind === "upsert") catalog.upsert(item(o.id, o.category, o.hoursAgo, now), Float32Array.from(o.v));
        else if (o.kind === "delete") catalog.delete(`N${o.id}`);
        else {
          const req: RankRequest = {
            userId: `u${o.user}`,
            history: histories[o.user]!,
            k: o.k,
            excludeHistory: o.excludeHistory,
            ...(o.category || o.maxAgeHours
              ? { filter: { ...(o.category ? { categories: [o.category] } : {}), ...(o.maxAgeHours ? { maxAgeHours: o.maxAgeHours } : {}) } }
              : {}),
          };
          // The response bytes, head and items, as each service sends them (the keeping one from its held texts).
          const [a, b] = [keeping.json(await keeping.answer(req)), searching.json(await searching.answer(req))];
          assert.deepEqual(a.toString(), b.toString());
        }
      }
      reused += keeping.answers.counts.reused;
    }),
    { numRuns: 200, seed: 13 },
  );
  assert.ok(reused > 100, `kept answers were given again (${reused} times)`);
});
