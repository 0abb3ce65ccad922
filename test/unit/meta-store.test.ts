import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { MetaStore, storedText } from "../../src/catalog/meta-store.ts";
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

test("items in a file read back through rewrites and compactions of the arena beside them", () => {
  const dir = mkdtempSync(join(tmpdir(), "meta-store-"));
  try {
    const items = Array.from({ length: 100 }, (_, i) => ({ id: `F${i}`, title: `in the file ${i} — ✓` }));
    // Lines as snapshots write them: {"slot":N, then the stored text without its brace.
    let text = "";
    const ranges: { at: number; length: number; sum: number }[] = [];
    items.forEach((item, slot) => {
      const head = `{"slot":${slot},`;
      const rest = storedText(item).slice(1);
      ranges.push({ at: Buffer.byteLength(text) + head.length, length: Buffer.byteLength(rest), sum: crc32(rest) });
      text += `${head}${rest}\n`;
    });
    writeFileSync(join(dir, "items.jsonl"), text);
    const store = new MetaStore();
    store.openFile(join(dir, "items.jsonl"));
    ranges.forEach((r, slot) => store.setInFile(slot, r.at, r.length, r.sum));
    assert.equal(store.inFile, 100);
    const rng = new Random(5);
    for (let i = 0; i < 5000; i++) {
      const slot = rng.int(100, 199);
      if (rng.chance(0.3)) store.clear(slot);
      else store.set(slot, { id: `M${i}`, title: "x".repeat(rng.int(100, 3000)) });
    }
    store.set(3, { id: "F3", title: "rewritten" });
    store.clear(4);
    assert.equal(store.inFile, 98);
    items.forEach((item, slot) => {
      if (slot === 3) assert.deepEqual(store.get(slot), { id: "F3", title: "rewritten" });
      else if (slot === 4) assert.equal(store.get(slot), null);
      else assert.deepEqual(store.get(slot), item, `slot ${slot}`);
    });
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
