/**
 * The token column (catalog/token-column.ts): a catalog whose model reads the clicked news' token
 * ids keeps them per slot, through deletes, slot reuse, growth and snapshots; a catalog whose
 * model reads none keeps nothing and writes nothing more; a snapshot without token ids is refused
 * by a model that needs them, naming the remedy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkSnapshot, readSnapshot, writeSnapshot } from "../../src/catalog/snapshot.ts";
import { Catalog, type CatalogOptions } from "../../src/catalog/store.ts";
import { TokenColumn, type TokenSpec } from "../../src/catalog/token-column.ts";
import { walItem } from "../../src/catalog/wal.ts";

const BASE: CatalogOptions = { m: 8, efConstruction: 32, efSearch: 16, exactMaxItems: 1000, maxAgeHours: 0, phi: 8 };
const SPEC: TokenSpec = { width: 5, bytesPerId: 2 };
const info = { model: { name: "m", version: "1" }, lastSeq: 3, hnsw: { m: 8, efConstruction: 32 } };
const vec = (i: number) => Float32Array.from([Math.cos(i), Math.sin(i), 1, i / 100]);
/** Between 1 and 5 ids per item, some above 255 (two bytes each). */
const ids = (i: number) => Array.from({ length: 1 + (i % 5) }, (_, j) => (i * 37 + j * 101) % 600);

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "tokens-"));
}

function filled(opts: CatalogOptions, n: number): Catalog {
  // Capacity 4, so the column grows with the vectors several times.
  const c = new Catalog(4, "fp", opts, 4);
  for (let i = 0; i < n; i++) c.upsert({ id: `n${i}`, title: `t${i}` }, vec(i), true, ids(i));
  return c;
}

test("the column keeps each item's ids through growth, deletes and slot reuse", () => {
  const c = filled({ ...BASE, tokens: SPEC }, 40);
  assert.deepEqual(c.tokenSpec, SPEC);
  for (let i = 0; i < 40; i++) assert.deepEqual(Array.from(c.tokensAt(c.slotOf(`n${i}`)!)!), ids(i), `n${i}`);
  const freed = c.slotOf("n3")!;
  c.delete("n3");
  assert.equal(c.tokensAt(freed)!.length, 0, "a free slot has no ids");
  c.upsert({ id: "fresh", title: "x" }, vec(99), true, [7]);
  assert.equal(c.slotOf("fresh"), freed, "the freed slot is reused");
  assert.deepEqual(Array.from(c.tokensAt(freed)!), [7], "no ids of the deleted item remain");
  c.upsert({ id: "n4", title: "rewritten" }, vec(4), true, [1, 2]);
  assert.deepEqual(Array.from(c.tokensAt(c.slotOf("n4")!)!), [1, 2], "a rewrite replaces the ids, shorter ones included");
});

test("a write without ids, or with too many or out of range, is refused before it changes anything", () => {
  const c = filled({ ...BASE, tokens: SPEC }, 3);
  assert.throws(() => c.upsert({ id: "x", title: "x" }, vec(1)), /news x: no token ids were given, and this model's user encoder reads them/);
  assert.throws(() => c.upsert({ id: "x", title: "x" }, vec(1), true, [1, 2, 3, 4, 5, 6]), /news x: 6 token ids, not 1 to 5/);
  assert.throws(() => c.upsert({ id: "x", title: "x" }, vec(1), true, []), /news x: 0 token ids/);
  assert.throws(() => c.upsert({ id: "n1", title: "x" }, vec(1), true, [70_000]), /news n1: token id 70000 is out of range/);
  assert.equal(c.has("x"), false);
  assert.equal(c.get("n1")!.title, "t1", "the refused rewrite left the item as it was");
  assert.deepEqual(Array.from(c.tokensAt(c.slotOf("n1")!)!), ids(1));
  assert.equal(c.size, 3);
});

test("a snapshot keeps the ids (tokens.bin, recorded in the manifest) and gives them back", async () => {
  const dir = tmp();
  try {
    const c = filled({ ...BASE, tokens: SPEC }, 30);
    c.delete("n10");
    const m = await writeSnapshot(c, join(dir, "s"), info);
    assert.deepEqual(m.tokens, SPEC);
    assert.equal(m.files!["tokens.bin"], TokenColumn.fileBytes(SPEC, c.slots));
    assert.equal(statSync(join(dir, "s", "tokens.bin")).size, 30 * 6 * 2);
    const { catalog: r } = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, { ...BASE, tokens: SPEC });
    assert.equal(r.size, 29);
    for (let i = 0; i < 30; i++) {
      if (i === 10) continue;
      assert.deepEqual(Array.from(r.tokensAt(r.slotOf(`n${i}`)!)!), ids(i), `n${i}`);
    }
    // Writes after the restore keep working, the freed slot first.
    r.upsert({ id: "after", title: "x" }, vec(5), true, [9, 9]);
    assert.deepEqual(Array.from(r.tokensAt(r.slotOf("after")!)!), [9, 9]);
    await r.close();
    truncateSync(join(dir, "s", "tokens.bin"), 100);
    assert.throws(() => checkSnapshot(join(dir, "s")), /tokens\.bin holds 100 bytes, the manifest says 360/);
    assert.throws(
      () => readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, { ...BASE, tokens: SPEC }),
      /tokens\.bin holds 100 bytes, expected 360/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a catalog whose model reads no token ids keeps none and writes none", async () => {
  const dir = tmp();
  try {
    const c = filled(BASE, 20);
    assert.equal(c.tokenSpec, undefined);
    assert.equal(c.tokensAt(0), null);
    assert.equal(c.tokenBytes(), null);
    const m = await writeSnapshot(c, join(dir, "s"), info);
    assert.equal(m.tokens, undefined);
    assert.ok(!existsSync(join(dir, "s", "tokens.bin")));
    assert.deepEqual(Object.keys(m.files!).sort(), ["index.hnsw", "items.jsonl", "vectors.f32"]);
    assert.equal(JSON.parse(readFileSync(join(dir, "s", "manifest.json"), "utf8")).tokens, undefined);
    // The log's item: no tokens key at all, so the same bytes as before the column existed.
    assert.deepEqual(Object.keys(walItem({ id: "a", title: "t" }, vec(1), null)), ["meta", "vector"]);
    assert.deepEqual(walItem({ id: "a", title: "t" }, vec(1), [4, 5]).tokens, [4, 5]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a snapshot without token ids is refused by a model that reads them, naming the remedy; other models load it", async () => {
  const dir = tmp();
  try {
    await writeSnapshot(filled(BASE, 10), join(dir, "old"), info);
    assert.throws(
      () => readSnapshot(join(dir, "old"), { fingerprint: "fp", dimension: 4 }, { ...BASE, tokens: SPEC }),
      /snapshot .*old: holds no token ids, and the loaded model's user encoder reads the clicked news' token ids \(news_tokens_and_vectors\); re-embed the news with this model \(newsrec embed\)/,
    );
    const { catalog } = readSnapshot(join(dir, "old"), { fingerprint: "fp", dimension: 4 }, BASE);
    assert.equal(catalog.size, 10);
    await writeSnapshot(filled({ ...BASE, tokens: SPEC }, 10), join(dir, "narrow"), info);
    assert.throws(
      () => readSnapshot(join(dir, "narrow"), { fingerprint: "fp", dimension: 4 }, { ...BASE, tokens: { width: 16, bytesPerId: 2 } }),
      /keeps 5 token ids of 2 bytes per item, the model needs 16 of 2/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
