import { test } from "node:test";
import assert from "node:assert/strict";
import { Catalog } from "../../src/catalog/store.ts";

const params = { m: 8, efConstruction: 64, efSearch: 32, exactMaxItems: 0, maxAgeHours: 0, phi: 4 };

function vec(...xs: number[]): Float32Array {
  return Float32Array.from(xs);
}

test("capacity grows as items arrive and deleted slots are reused", () => {
  const c = new Catalog(2, "fp", params, 16);
  for (let i = 0; i < 100; i++) c.upsert({ id: `n${i}`, title: "t" }, vec(Math.cos(i), Math.sin(i)));
  assert.equal(c.size, 100);
  assert.ok(c.index.capacity >= 100);
  const slot = c.slotOf("n5")!;
  assert.ok(c.delete("n5"));
  assert.equal(c.delete("n5"), false);
  assert.equal(c.index.deletedCount, 1);
  c.upsert({ id: "fresh", title: "t" }, vec(1, 0));
  assert.equal(c.slotOf("fresh"), slot, "the freed slot is reused");
  assert.equal(c.index.deletedCount, 0);
  assert.equal(c.slots, 100);
});

test("a deleted item leaves search results at once; an upsert replaces the vector", () => {
  const c = new Catalog(2, "fp", params, 16);
  c.upsert({ id: "a", title: "t" }, vec(1, 0));
  c.upsert({ id: "b", title: "t" }, vec(0, 1));
  c.upsert({ id: "c", title: "t" }, vec(-1, 0));
  assert.equal(c.metaAt(c.search(vec(1, 0), 1)[0]!.slot).id, "a");
  c.delete("a");
  assert.equal(c.metaAt(c.search(vec(1, 0), 1)[0]!.slot).id, "b");
  c.upsert({ id: "c", title: "t2" }, vec(2, 0));
  const top = c.search(vec(1, 0), 1)[0]!;
  assert.equal(c.metaAt(top.slot).id, "c");
  assert.ok(Math.abs(top.score - 2) < 1e-6);
  assert.equal(c.search(vec(1, 0), 10).length, 2);
});

test("items older than maxAgeHours leave retrieval without a restart; undated items never expire", () => {
  const now = Date.parse("2026-01-10T00:00:00Z");
  const c = new Catalog(2, "fp", { ...params, maxAgeHours: 24 }, 16);
  c.upsert({ id: "old", title: "t", publishedAt: "2026-01-08T00:00:00Z" }, vec(1, 0));
  c.upsert({ id: "new", title: "t", publishedAt: "2026-01-09T12:00:00Z" }, vec(0.5, 0));
  c.upsert({ id: "undated", title: "t" }, vec(0.1, 0));
  const ids = c.search(vec(1, 0), 10, {}, now).map((r) => c.metaAt(r.slot).id);
  assert.deepEqual(ids, ["new", "undated"]);
  const later = c.search(vec(1, 0), 10, {}, now + 48 * 3600_000).map((r) => c.metaAt(r.slot).id);
  assert.deepEqual(later, ["undated"]);
  assert.deepEqual(
    c.freshestSlots({}, 10, now).map((s) => c.metaAt(s).id),
    ["new", "undated"],
  );
});

test("a selective filter still returns k items (its few matching items are scored exactly)", () => {
  const c = new Catalog(2, "fp", params, 16);
  for (let i = 0; i < 2000; i++) c.upsert({ id: `n${i}`, title: "t", category: i % 100 === 0 ? "rare" : "common" }, vec(Math.cos(i), Math.sin(i)));
  const r = c.search(vec(1, 0), 15, { categories: new Set(["rare"]) });
  assert.equal(r.length, 15);
  assert.ok(r.every((x) => c.metaAt(x.slot).category === "rare"));
  assert.deepEqual(
    r.map((x) => x.slot),
    c.exactSearch(vec(1, 0), 15, { categories: new Set(["rare"]) }).map((x) => x.slot),
  );
});
