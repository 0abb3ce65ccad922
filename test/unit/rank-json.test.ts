// The rank response as JSON bytes spliced from the stored item texts (src/rank/rank-json.ts)
// is byte for byte JSON.stringify of the response with its items as objects.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { NewsItem } from "../../src/api/schemas.ts";
import { MetaStore } from "../../src/catalog/meta-store.ts";
import { idEnd, rankJson } from "../../src/rank/rank-json.ts";
import type { RankAnswer, RankedItem, Scored } from "../../src/rank/types.ts";
import { Random } from "../../src/synth/random.ts";

const itemOf =
  (store: MetaStore) =>
  (h: Scored): RankedItem => {
    const { id, ...meta } = store.get(h.slot)!;
    return { newsId: id, score: h.score, ...meta };
  };

/** The catalog's view of its store (Catalog.rawMetaAt is MetaStore.raw). */
const stored = (store: MetaStore) => ({ rawMetaAt: (slot: number) => store.raw(slot) });

const head = (extra: Partial<RankAnswer["head"]> = {}): RankAnswer["head"] => ({
  mode: "retrieve",
  userCache: "hit",
  coldStart: false,
  model: { name: "m", version: "1", fingerprint: "f" },
  unknownHistory: ['N"x', "N\\y"],
  items: [],
  unknownCandidates: [],
  ...extra,
});

const expected = (a: RankAnswer, store: MetaStore) => JSON.stringify({ ...a.head, items: a.hits.map(itemOf(store)) });

test("stored items (id first) are spliced into exactly the bytes JSON.stringify makes of the response", () => {
  const rng = new Random(3);
  const store = new MetaStore();
  const texts = ["plain", 'quote " and \\ backslash', "tab\tnewline\n", "ünïcödé — 日本語 🎉", "\u0001 control", '"items":[]'];
  const items: NewsItem[] = [];
  for (let slot = 0; slot < 400; slot++) {
    const item: NewsItem = {
      // Ids with characters JSON escapes, and plain ones.
      id: slot % 7 === 0 ? `N${slot}"q\\${rng.pick(texts)}` : `N${slot}`,
      ...(slot % 5 ? { title: rng.pick(texts) } : {}),
      ...(slot % 3 ? { abstract: rng.pick(texts).repeat(rng.int(1, 4)) } : {}),
      ...(slot % 4 ? { category: rng.pick(["news", "sports"]) } : {}),
      ...(slot % 6 ? { publishedAt: new Date(1.7e12 + slot * 1e6).toISOString() } : {}),
    } as NewsItem;
    items.push(item);
    // Keys in another order than the store's: it puts "id" first.
    const { id, ...rest } = item;
    store.set(slot, { ...rest, id } as NewsItem);
  }
  for (let n = 0; n < 50; n++) {
    const hits: Scored[] = Array.from({ length: rng.int(0, 30) }, () => ({
      slot: rng.int(0, 399),
      score: rng.pick([rng.next() * 2 - 1, 1e-7, -3.5e-12, 0, 0.1 + 0.2, Number.NaN]),
    }));
    const a: RankAnswer = {
      head: head({
        ...(n % 2 ? { explanation: [{ newsId: "N1", weight: 0.5 }] } : {}),
        // A head with text beyond ASCII before its items (its byte and character offsets differ).
        ...(n % 3 ? {} : { unknownHistory: ["Ñ日本 🎉", 'N"x'] }),
      }),
      hits,
    };
    assert.equal(rankJson(a, stored(store), itemOf(store)).toString("utf8"), expected(a, store), `answer ${n}`);
  }
});

test("items whose stored text does not start with their id are serialised from their object", () => {
  const store = new MetaStore();
  store.setJson(0, '{"title":"t","id":"N0"}');
  store.setJson(1, '{"id":"N1"}');
  store.setJson(2, '{"id" : "N2","title":"spaced"}');
  store.set(3, { id: "N3", title: "t3" } as NewsItem);
  assert.equal(idEnd(store.raw(0)!), -1);
  assert.equal(idEnd(store.raw(1)!), 10);
  assert.equal(idEnd(store.raw(2)!), -1);
  const a: RankAnswer = { head: head({ mode: "rerank", unknownCandidates: ["Z"] }), hits: [0, 1, 2, 3].map((slot) => ({ slot, score: slot / 3 })) };
  const got = rankJson(a, stored(store), itemOf(store)).toString("utf8");
  assert.deepEqual(JSON.parse(got), JSON.parse(expected(a, store)));
  // Where the stored text starts with the id, byte for byte too.
  const b: RankAnswer = { head: head(), hits: [1, 3].map((slot) => ({ slot, score: 0.25 })) };
  assert.equal(rankJson(b, stored(store), itemOf(store)).toString("utf8"), expected(b, store));
});
