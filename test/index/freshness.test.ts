import { test } from "node:test";
import assert from "node:assert/strict";
import { FilterIndex } from "../../src/catalog/filters.ts";
import { Random } from "../../src/synth/random.ts";

const HOUR = 3600_000;
const NOW = Date.parse("2026-03-01T00:00:00Z");

test("filter index: counts, enumerations and freshest lists match a brute-force recomputation through splits, empty chunks and a reload", () => {
  const rng = new Random(21);
  const cats = ["a", "b", "c", ""];
  // Chunks of at most 4 entries, so that inserts split chunks and deletes empty them all the time.
  let index = new FilterIndex(4);
  const live = new Map<number, { category: string; t: number }>();
  const newestFirst = (x: number, y: number) => {
    const tx = live.get(x)!.t;
    const ty = live.get(y)!.t;
    return (Number.isNaN(ty) ? -Infinity : ty) - (Number.isNaN(tx) ? -Infinity : tx) || x - y;
  };
  const check = () => {
    for (let j = 0; j < 8; j++) {
      const categories = rng.chance(0.3) ? undefined : new Set(cats.filter(() => rng.chance(0.5)));
      const after = rng.chance(0.2) ? -Infinity : NOW - rng.int(-2, 60) * HOUR;
      const exclude = new Set([...live.keys()].filter(() => rng.chance(0.1)));
      const match = [...live].filter(([, e]) => (!categories || categories.has(e.category)) && !(e.t < after)).map(([s]) => s);
      assert.equal(index.count(categories, after), match.length);
      const seen: number[] = [];
      index.forEach(categories, after, (s) => void seen.push(s));
      assert.deepEqual(
        seen.sort((x, y) => x - y),
        match.sort((x, y) => x - y),
      );
      const k = rng.int(1, 30);
      assert.deepEqual(
        index.freshest(categories, after, exclude, k),
        match
          .filter((s) => !exclude.has(s))
          .sort(newestFirst)
          .slice(0, k),
      );
    }
  };
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 3000; i++) {
      const slot = rng.int(0, 400);
      const old = live.get(slot);
      if (old) {
        index.remove(slot, old.category, old.t);
        live.delete(slot);
      }
      if (!old || rng.chance(0.6)) {
        // Few distinct times (ties broken by slot) and some undated items.
        const e = { category: rng.pick(cats), t: rng.chance(0.15) ? NaN : NOW - rng.int(0, 50) * HOUR };
        index.add(slot, e.category, e.t);
        live.set(slot, e);
      }
      if (i % 100 === 0) check();
    }
    check();
    // A reload (restore) from the live entries gives the same answers and keeps taking writes.
    index = new FilterIndex(4);
    const published = new Float64Array(1000);
    const codes = new Int32Array(1000);
    for (const [slot, e] of live) {
      published[slot] = e.t;
      codes[slot] = cats.indexOf(e.category);
    }
    index.load(Int32Array.from(live.keys()), published, codes, cats);
    check();
  }
  assert.throws(() => index.remove(999, "a", NOW), /not in the freshness order/);
});
