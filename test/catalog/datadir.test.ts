/**
 * What a server does with each state a data dir can be in: the state a crash between the
 * two renames of the earlier swap left (no snapshot folder), the earlier layout, a log whose
 * snapshot is gone, a pointer to a broken snapshot, and a new data dir, the only one seeded.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { swapSnapshot } from "../../src/catalog/datadir.ts";
import { writeSnapshot } from "../../src/catalog/snapshot.ts";
import { WriteAheadLog, type WalRecord } from "../../src/catalog/wal.ts";
import { applyRecord, ids, INFO, modelCatalog, upsertRecord } from "./fixtures/model-catalog.ts";
import { serveOnce, startServer, status } from "../server-process.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "newsrec-datadir-"));

/** The log framing before magic and header checksums. */
function legacyLog(records: WalRecord[]): Buffer {
  return Buffer.concat(
    records.map((r) => {
      const payload = Buffer.from(JSON.stringify(r));
      const head = Buffer.alloc(8);
      head.writeUInt32LE(payload.length, 0);
      head.writeUInt32LE(crc32(payload), 4);
      return Buffer.concat([head, payload]);
    }),
  );
}

/** A snapshot folder as the earlier version wrote it (no file sizes in the manifest). */
async function oldSnapshot(dir: string, catalog: ReturnType<typeof modelCatalog>, lastSeq: number): Promise<void> {
  await writeSnapshot(catalog, dir, { ...INFO, lastSeq });
  const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  delete m.files;
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(m));
}

async function assertServes(dataDir: string, present: string[], label: string): Promise<string> {
  const s = await startServer(dataDir, ["--demo-news", "30"]);
  try {
    for (const id of present) assert.equal(await status(`${s.url}/news/${id}`), 200, `${label}: ${id}`);
    assert.equal(await status(`${s.url}/news/N1`), 404, `${label}: no demo news`);
    return s.log();
  } finally {
    await s.kill9();
  }
}

test("a crash between the two renames of the earlier swap (no snapshot folder, only its temporaries) is recovered, not replaced by demo news", {
  timeout: 120_000,
}, async () => {
  const dir = tmp();
  try {
    const records = ids("B", 40).map((id, i) => upsertRecord(i + 1, id));
    const catalog = modelCatalog(ids("A", 100));
    await oldSnapshot(join(dir, "snapshot"), catalog, 0);
    records.slice(0, 30).forEach((r) => applyRecord(catalog, r));
    // The new snapshot was complete in its temporary folder; the old one had been renamed aside.
    await oldSnapshot(join(dir, ".snapshot.tmp-4242-1700000000000"), catalog, 30);
    renameSync(join(dir, "snapshot"), join(dir, ".snapshot.tmp-4242-1700000000000.old"));
    writeFileSync(join(dir, "wal.log"), legacyLog(records));
    const log = await assertServes(dir, [...ids("A", 100), ...ids("B", 40)], "after the crash");
    assert.match(log, /migrated .*\.snapshot\.tmp-4242-1700000000000 \(lastSeq 30\)/);
    assert.deepEqual(readdirSync(dir).sort(), ["CURRENT", "snapshots", "wal.log"]);
    assert.equal(readFileSync(join(dir, "wal.log"))[0], 0xff, "the log was rewritten in the current framing");
    await assertServes(dir, [...ids("A", 100), ...ids("B", 40)], "after the migration");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a data dir of the earlier layout (snapshot/ and an old-framing log) loads and is migrated", { timeout: 120_000 }, async () => {
  const dir = tmp();
  try {
    await oldSnapshot(join(dir, "snapshot"), modelCatalog(ids("A", 50)), 7);
    writeFileSync(join(dir, "wal.log"), legacyLog(ids("B", 10).map((id, i) => upsertRecord(i + 8, id))));
    await assertServes(dir, [...ids("A", 50), ...ids("B", 10)], "earlier layout");
    assert.ok(!existsSync(join(dir, "snapshot")));
    const pointer = readFileSync(join(dir, "CURRENT"), "utf8").trim();
    assert.match(pointer, /^snapshots\/000000000007-\d{8}T\d{9}Z$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a log that was compacted (starts after seq 1) with no loadable snapshot refuses to start, naming the data dir and what is missing", {
  timeout: 120_000,
}, async () => {
  const dir = tmp();
  try {
    const wal = await WriteAheadLog.open(join(dir, "wal.log"));
    await wal.append(ids("C", 5).map((id, i) => upsertRecord(51 + i, id)));
    await wal.close();
    const r = await serveOnce(dir, ["--demo-news", "30"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`data dir ${dir}: no whole snapshot, and the write-ahead log starts at seq 51`));
    assert.deepEqual(readdirSync(dir), ["wal.log"], "nothing was seeded");
    // The same with a pointer to a folder that is gone.
    mkdirSync(join(dir, "snapshots"));
    writeFileSync(join(dir, "CURRENT"), "snapshots/000000000050-20260101T000000000Z\n");
    const p = await serveOnce(dir, ["--demo-news", "30"]);
    assert.equal(p.status, 1, p.stderr);
    assert.match(p.stderr, /CURRENT names "snapshots\/000000000050-20260101T000000000Z", which is not a whole snapshot/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a broken newest snapshot: the previous one is used while the log covers the gap, and the start refuses once it does not", {
  timeout: 120_000,
}, async () => {
  const dir = tmp();
  try {
    const catalog = modelCatalog(ids("A", 60));
    await swapSnapshot(catalog, dir, { ...INFO, lastSeq: 0 });
    const records = ids("B", 20).map((id, i) => upsertRecord(i + 1, id));
    const wal = await WriteAheadLog.open(join(dir, "wal.log"));
    await wal.append(records);
    await wal.close();
    records.forEach((r) => applyRecord(catalog, r));
    await swapSnapshot(catalog, dir, { ...INFO, lastSeq: 20 });
    const newest = readFileSync(join(dir, "CURRENT"), "utf8").trim();
    truncateSync(join(dir, newest, "vectors.f32"), 100);
    const log = await assertServes(dir, [...ids("A", 60), ...ids("B", 20)], "log covers the gap");
    assert.match(log, /CURRENT is broken; using the newest whole snapshot snapshots\/000000000000-/);
    // Once the log was emptied by that compaction, the previous snapshot lacks B0..B19.
    truncateSync(join(dir, "wal.log"), 0);
    const r = await serveOnce(dir, ["--demo-news", "30"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /ends at seq 0, but a snapshot up to seq 20 was written/);
    assert.match(r.stderr, /vectors\.f32 holds 100 bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("only a completely empty data dir is seeded, and its first snapshot is written before the log", { timeout: 120_000 }, async () => {
  const dir = join(tmp(), "new");
  try {
    const s = await startServer(dir, ["--demo-news", "30"]);
    try {
      assert.equal(await status(`${s.url}/news/N1`), 200);
      assert.match(s.log(), /data dir .*: new; its first snapshot holds 30 news/);
    } finally {
      await s.kill9();
    }
    const pointer = readFileSync(join(dir, "CURRENT"), "utf8").trim();
    assert.ok(existsSync(join(dir, pointer, "manifest.json")));
  } finally {
    rmSync(join(dir, ".."), { recursive: true, force: true });
  }
});
