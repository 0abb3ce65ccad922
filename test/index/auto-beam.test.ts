import { test } from "node:test";
import assert from "node:assert/strict";
import { autoBeam, HnswIndex } from "../../src/index/hnsw.ts";

test("the default beam grows with the catalog, between 100 and the configured cap up to 100,000 items, by half the cap per tenfold beyond", () => {
  assert.equal(autoBeam(0, 1000), 100);
  assert.equal(autoBeam(5000, 1000), 100);
  assert.equal(autoBeam(20_000, 1000), 400);
  assert.equal(autoBeam(100_000, 1000), 1000);
  assert.equal(autoBeam(200_000, 1000), 1151);
  assert.equal(autoBeam(1_000_000, 1000), 1500);
  assert.equal(autoBeam(10_000_000, 1000), 2000);
  assert.equal(autoBeam(1e9, 1000), 3000);
  assert.equal(autoBeam(1e30, 1000), 4096, "never past the largest beam the config allows");
  assert.equal(autoBeam(1_000_000, 64), 96, "a cap below the floor: half again per tenfold past 100,000");
  assert.equal(autoBeam(50_000, 64), 64, "a cap below the floor wins up to 100,000");
});

test("an index on the default beam follows its live size; a chosen beam is used as is", () => {
  const dim = 4;
  const index = new HnswIndex(dim, 4, { m: 8, efConstruction: 40, efSearch: 1000, efSearchAuto: true }, 16);
  let seed = 3;
  const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647 - 0.5;
  for (let slot = 0; slot < 6000; slot++) index.upsert(slot, Float32Array.from({ length: dim }, rnd));
  assert.equal(index.efSearch, 120);
  for (let slot = 0; slot < 1000; slot++) index.remove(slot);
  assert.equal(index.efSearch, 100, "deleted items do not count");
  index.efSearch = 300;
  assert.equal(index.efSearch, 300);
  for (let slot = 0; slot < 1000; slot++) index.upsert(slot, Float32Array.from({ length: dim }, rnd));
  assert.equal(index.efSearch, 300, "a chosen beam does not follow the size");
});
