import { test } from "node:test";
import assert from "node:assert/strict";
import { MetaStore } from "../../src/catalog/meta-store.ts";
import { Random } from "../../src/synth/random.ts";

test("items round-trip as bytes, through rewrites, frees and compactions", () => {
  const store = new MetaStore();
  const model = new Map<number, object>();
  const rng = new Random(3);
  // Long titles, so that the freed bytes pass the compaction threshold many times over.
  const title = (i: number) => `Headline ${i} — ünïcødé ✓ ${"x".repeat(rng.int(100, 3000))}`;
  for (let i = 0; i < 20_000; i++) {
    const slot = rng.int(0, 499);
    if (rng.chance(0.2)) {
      store.clear(slot);
      model.delete(slot);
    } else if (rng.chance(0.3)) {
      // Reads between the writes: a parsed item kept for reading again never outlives its bytes.
      assert.deepEqual(store.get(slot), model.get(slot) ?? null);
    } else {
      const item = { id: `N${i}`, title: title(i), category: "news", publishedAt: "2026-01-01T00:00:00.000Z" };
      store.set(slot, item);
      model.set(slot, item);
    }
  }
  for (let slot = 0; slot < 500; slot++) {
    assert.deepEqual(store.get(slot), model.get(slot) ?? null, `slot ${slot}`);
    assert.equal(store.has(slot), model.has(slot));
  }
  const live = [...model.values()].reduce((n: number, m) => n + Buffer.byteLength(JSON.stringify(m)), 0);
  assert.equal(store.liveBytes, live);
  // Compaction keeps the arena within twice the live bytes (plus its 1 MiB floor).
  assert.ok(store.byteLength < 2 * live + (1 << 21) + 500 * 12, `${store.byteLength} bytes held for ${live} live`);
});

test("reserved rows are free until set; raw() is the stored JSON", () => {
  const store = new MetaStore();
  store.reserveRows(10);
  assert.equal(store.rows, 10);
  assert.equal(store.get(9), null);
  store.set(3, { id: "a", title: "t" });
  assert.equal(new TextDecoder().decode(store.raw(3)!), '{"id":"a","title":"t"}');
  assert.equal(store.raw(4), null);
});
