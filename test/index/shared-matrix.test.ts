/** The workers' mirror of the catalog matrix copies only rows written since its last sync. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Catalog } from "../../src/catalog/store.ts";
import { MatrixMirror, openRow, rowAsOf, stampRows, writesOf } from "../../src/index/shared-matrix.ts";

const params = { m: 8, efConstruction: 32, efSearch: 16, exactMaxItems: 0, maxAgeHours: 0, phi: 100 };
const row = (i: number) => Float32Array.of(i, -i, i / 2);

test("the catalog's matrix is shared memory, and a mirror copies only the rows written since its last sync", () => {
  const c = new Catalog(3, "fp", params, 4);
  assert.ok(c.matrix.vectors.buffer instanceof SharedArrayBuffer);
  for (let i = 0; i < 10; i++) c.upsert({ id: `n${i}`, title: "t" }, row(i));
  const mirror = new MatrixMirror();
  let m = mirror.sync(c.matrix);
  assert.ok(!(m.buffer instanceof SharedArrayBuffer), "onnxruntime gets plain memory");
  assert.equal(mirror.copiedRows, 10);
  assert.deepEqual([...m], [...c.matrix.vectors.subarray(0, 30)]);
  m = mirror.sync(c.matrix);
  assert.equal(mirror.copiedRows, 0, "nothing written, nothing copied");
  c.upsert({ id: "n3", title: "t" }, row(33));
  c.delete("n5");
  for (let i = 10; i < 40; i++) c.upsert({ id: `n${i}`, title: "t" }, row(i)); // grows the catalog (new shared buffers)
  m = mirror.sync(c.matrix);
  assert.equal(mirror.copiedRows, 31, "the rewritten row and the 30 new ones (n10 reuses n5's slot)");
  assert.deepEqual([...m], [...c.matrix.vectors.subarray(0, c.slots * 3)]);
  // Another catalog is never taken for this one, though its stamps count alike.
  const other = new Catalog(3, "fp", params, 4);
  for (let i = 0; i < 40; i++) other.upsert({ id: `n${i}`, title: "t" }, row(-i));
  m = mirror.sync(other.matrix);
  assert.equal(mirror.copiedRows, 40);
  assert.deepEqual([...m], [...other.matrix.vectors.subarray(0, 120)]);
});

test("a restored catalog's rows are all stamped", () => {
  const c = new Catalog(3, "fp", params, 4);
  const vectors = Float32Array.from({ length: 18 }, (_, i) => i + 1);
  c.restore(
    [
      { slot: 0, meta: { id: "a", title: "t" } },
      { slot: 4, meta: { id: "b", title: "t" } },
    ],
    vectors,
    6,
  );
  const mirror = new MatrixMirror();
  assert.deepEqual([...mirror.sync(c.matrix)], [...vectors]);
});

test("rows are seen as of a write count; the count starts again before it would wrap, and mirrors then copy every row", () => {
  const c = new Catalog(3, "fp", params, 4);
  for (let i = 0; i < 6; i++) c.upsert({ id: `n${i}`, title: "t" }, row(i));
  const stamps = c.matrix.stamps;
  const asked = writesOf(stamps);
  c.upsert({ id: "n2", title: "t" }, row(20));
  assert.equal(rowAsOf(stamps, 1, asked), true, "a row not written since");
  assert.equal(rowAsOf(stamps, 2, asked), false, "a row written since");
  openRow(stamps, 3);
  assert.equal(rowAsOf(stamps, 3, writesOf(stamps)), false, "a row being written");
  stampRows(stamps, 3);

  const mirror = new MatrixMirror();
  mirror.sync(c.matrix);
  stamps[1] = 2 ** 31 - 2; // the write count, as after two billion writes
  c.upsert({ id: "n4", title: "t" }, row(40));
  assert.ok(writesOf(stamps) > 0 && writesOf(stamps) < 10, `started again: ${writesOf(stamps)}`);
  for (let s = 0; s < 6; s++) assert.equal(rowAsOf(stamps, s, writesOf(stamps)), true, `row ${s}`);
  const m = mirror.sync(c.matrix);
  assert.equal(mirror.copiedRows, 6, "every row copied again");
  assert.deepEqual(Array.from(m.subarray(4 * 3, 5 * 3)), Array.from(row(40)));
});
