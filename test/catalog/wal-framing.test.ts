/**
 * The write-ahead log's framing tells a torn tail (a crash mid-append: dropped and reported)
 * from damage in the middle (never cut: the start refuses, naming the byte offset and the
 * recovery command), whichever header field or payload byte is hit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { readWal, WriteAheadLog, type WalRecord } from "../../src/catalog/wal.ts";
import { inspectWal, repairWal } from "../../src/catalog/wal-repair.ts";

const tmp = () => mkdtempSync(join(tmpdir(), "wal-framing-"));
const record = (seq: number): WalRecord => ({
  seq,
  op: "upsert",
  items: [{ meta: { id: `n${seq}`, title: `Title ${seq}` }, vector: Buffer.alloc(64 * 4, seq).toString("base64") }],
});

/** A log of `n` records, each appended alone (its own frame); returns the bytes and each record's start. */
async function writeLog(path: string, n: number): Promise<{ bytes: Buffer; starts: number[] }> {
  const wal = await WriteAheadLog.open(path);
  const starts: number[] = [];
  for (let i = 1; i <= n; i++) {
    starts.push(wal.size);
    await wal.append([record(i)]);
  }
  await wal.close();
  return { bytes: readFileSync(path), starts };
}

/** The old framing: u32 length, u32 CRC-32 of the payload, payload. */
function legacyLog(records: WalRecord[]): { bytes: Buffer; starts: number[] } {
  const starts: number[] = [];
  let off = 0;
  const frames = records.map((r) => {
    const payload = Buffer.from(JSON.stringify(r));
    const f = Buffer.alloc(8 + payload.length);
    f.writeUInt32LE(payload.length, 0);
    f.writeUInt32LE(crc32(payload), 4);
    payload.copy(f, 8);
    starts.push(off);
    off += f.length;
    return f;
  });
  return { bytes: Buffer.concat(frames), starts };
}

const flip = (b: Buffer, at: number, bit = 0): Buffer => {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ (1 << bit);
  return c;
};

// Header: magic 0-3, length 4-7, payload CRC 8-11, header CRC 12-15; payload from 16.
const HITS = [
  { what: "magic", at: 1, bit: 3 },
  { what: "length (low bit)", at: 4, bit: 0 },
  { what: "length (high bit: reaches past the end)", at: 7, bit: 6 },
  { what: "payload CRC", at: 9, bit: 2 },
  { what: "header CRC", at: 14, bit: 5 },
  { what: "payload", at: 40, bit: 1 },
];

test("a flipped bit in any header field or the payload mid-log refuses, names the offset, and repair keeps every intact record", async () => {
  const dir = tmp();
  try {
    const path = join(dir, "wal.log");
    const { bytes, starts } = await writeLog(path, 200);
    for (const victim of [0, 57, 198]) {
      for (const hit of HITS) {
        const label = `${hit.what} of record ${victim + 1}`;
        const damaged = flip(bytes, starts[victim]! + hit.at, hit.bit);
        writeFileSync(path, damaged);
        assert.throws(
          () => readWal(path),
          (err: Error) => {
            assert.match(err.message, new RegExp(`damaged at byte ${starts[victim]} `), label);
            assert.match(err.message, /newsrec wal repair --data-dir /, label);
            return true;
          },
        );
        assert.deepEqual(readFileSync(path), damaged, `${label}: nothing was cut`);
        const report = inspectWal(path);
        assert.deepEqual(report.damaged, [{ start: starts[victim]!, end: starts[victim + 1]! }], label);
        assert.equal(report.records.length, 199, label);
        assert.equal(report.lastSeq, 200, label);
        const { movedTo } = repairWal(path);
        assert.ok(movedTo && existsSync(movedTo), label);
        assert.deepEqual(readFileSync(movedTo!), damaged, `${label}: the damaged original is kept`);
        const { records, droppedBytes } = readWal(path);
        assert.equal(droppedBytes, 0);
        assert.deepEqual(
          records.map((r) => r.seq),
          Array.from({ length: 200 }, (_, i) => i + 1).filter((s) => s !== victim + 1),
          label,
        );
        rmSync(movedTo!);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a log cut at every byte inside its last record is a torn tail: dropped and reported, never refused", async () => {
  const dir = tmp();
  try {
    const path = join(dir, "wal.log");
    const { bytes, starts } = await writeLog(path, 200);
    const last = starts[199]!;
    for (let cut = last + 1; cut < bytes.length; cut++) {
      writeFileSync(path, bytes.subarray(0, cut));
      const { records, droppedBytes } = readWal(path);
      assert.equal(records.length, 199, `cut at ${cut}`);
      assert.equal(droppedBytes, cut - last, `cut at ${cut}`);
      assert.equal(statSync(path).size, last, `cut at ${cut}: the tail is cut off the file`);
    }
    // A damaged whole last record, and zeros after the last record (a probe cut short), too.
    for (const tail of [flip(bytes, last + 20), Buffer.concat([bytes, Buffer.alloc(4096)])]) {
      writeFileSync(path, tail);
      assert.equal(readWal(path).records.length, tail.length > bytes.length ? 200 : 199);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a log in the old framing is read, refused when damaged mid-log (even by a length reaching past the end), and rewritten in the current framing", () => {
  const dir = tmp();
  try {
    const path = join(dir, "wal.log");
    const records = Array.from({ length: 100 }, (_, i) => record(i + 1));
    const { bytes, starts } = legacyLog(records);
    // The fault: a high bit of a length mid-log made the record reach past the end, which
    // was taken for a torn tail and the 50 acknowledged records after it cut off silently.
    writeFileSync(path, flip(bytes, starts[49]! + 3, 4));
    assert.throws(() => readWal(path), new RegExp(`damaged at byte ${starts[49]} `));
    writeFileSync(path, flip(bytes, starts[20]! + 30));
    assert.throws(() => readWal(path), new RegExp(`damaged at byte ${starts[20]} `));
    assert.equal(inspectWal(path).format, "legacy");
    // Torn in the old framing: dropped; the log comes back in the current framing.
    writeFileSync(path, bytes.subarray(0, bytes.length - 7));
    const r = readWal(path);
    assert.deepEqual(
      r.records.map((x) => x.seq),
      records.slice(0, 99).map((x) => x.seq),
    );
    assert.ok(r.converted);
    assert.equal(readFileSync(path)[0], 0xff, "the file now starts with the magic");
    assert.deepEqual(readWal(path).records, r.records);
    assert.deepEqual(readdirSync(dir), ["wal.log"], "no temporary file is left");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
