/**
 * The write-ahead log and the snapshot swap on a really full disk (a filled 2 MiB tmpfs):
 * an append fails whole with ENOSPC and leaves the log as it was, and resumes when space
 * returns; a compaction that cannot be written leaves the pointer, the previous snapshot and
 * the log untouched.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { readWal, WalWriteError, WriteAheadLog, type WalRecord } from "../../src/catalog/wal.ts";
import { readPointer, swapSnapshot } from "../../src/catalog/datadir.ts";
import { checkSnapshot } from "../../src/catalog/snapshot.ts";
import { Catalog } from "../../src/catalog/store.ts";
import { fill, smallDisk } from "./small-disk.ts";

const disk = smallDisk();

test("the log on a full disk: an append fails whole and is cut back; a snapshot swap fails leaving the pointer, the previous snapshot and the log", async (t) => {
  if (!disk.mounted) return t.skip(disk.why);
  const dir = join(disk.dir, "unit");
  mkdirSync(dir);
  const filler = join(disk.dir, "filler-unit");
  const rec = (seq: number, kib: number): WalRecord => ({
    seq,
    op: "upsert",
    items: [{ meta: { id: `u${seq}`, title: "x".repeat(kib * 1024) }, vector: "AAAA" }],
  });
  const catalog = new Catalog(4, "fp", { m: 16, efConstruction: 100, efSearch: 50, exactMaxItems: 0, maxAgeHours: 0, phi: 8 }, 16);
  for (let i = 0; i < 200; i++) catalog.upsert({ id: `c${i}`, title: `t${i}` }, Float32Array.from([Math.cos(i), Math.sin(i), 0.5, 1]));
  const info = { model: { name: "m", version: "1" }, lastSeq: 1, hnsw: { m: 16, efConstruction: 100 } };
  try {
    await swapSnapshot(catalog, dir, info);
    const pointer = readPointer(dir);
    const wal = await WriteAheadLog.open(join(dir, "wal.log"));
    await wal.append([rec(1, 1)]);
    const good = wal.size;
    fill(filler);
    const err = await wal.append([rec(2, 64)]).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof WalWriteError, String(err));
    assert.equal(err.errno, "ENOSPC");
    assert.equal(err.code, "UNAVAILABLE");
    assert.equal(statSync(join(dir, "wal.log")).size, good, "cut back to the last good record");
    await assert.rejects(swapSnapshot(catalog, dir, { ...info, lastSeq: 2 }), /ENOSPC/);
    assert.equal(readPointer(dir), pointer, "the pointer is unchanged");
    assert.equal(checkSnapshot(join(dir, pointer!)).lastSeq, 1, "the previous snapshot is whole");
    assert.deepEqual(readdirSync(join(dir, "snapshots")), [pointer!.split("/")[1]], "no half-written folder is left");
    assert.deepEqual(
      readWal(join(dir, "wal.log")).records.map((r) => r.seq),
      [1],
    );
    rmSync(filler);
    await wal.append([rec(3, 64)]);
    await wal.close();
    assert.deepEqual(
      readWal(join(dir, "wal.log")).records.map((r) => r.seq),
      [1, 3],
    );
    await swapSnapshot(catalog, dir, { ...info, lastSeq: 3 });
    assert.notEqual(readPointer(dir), pointer);
  } finally {
    rmSync(filler, { force: true });
  }
});
