// A large snapshot's items stay in its items.jsonl and are read on demand (catalog/meta-store.ts):
// the same items, byte for byte, as a catalog that holds them; writes move an item to memory; a
// snapshot written from such a catalog is whole; and a file that goes bad under a running server
// (truncated on the real filesystem) gives 503s naming it and a readiness that says so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync, openSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { swapSnapshot } from "../../src/catalog/datadir.ts";
import { readSnapshot, writeSnapshot } from "../../src/catalog/snapshot.ts";
import { Catalog, catalogOptions, type NewsMeta } from "../../src/catalog/store.ts";
import { buildConfig } from "../../src/config.ts";
import type { NewsrecError } from "../../src/errors.ts";
import { indexPhi, loadBundle } from "../../src/model/bundle.ts";
import { DEFAULT_BUNDLE } from "../helpers.ts";
import { cli, CLI, spawnServer } from "../server-process.ts";

const bundle = loadBundle(DEFAULT_BUNDLE);
const base = catalogOptions({ ...buildConfig(), exactMaxItems: 0 }, indexPhi(bundle.manifest));
const inMemory = { ...base, itemsInMemoryMaxBytes: undefined };
const inFile = { ...base, itemsInMemoryMaxBytes: 0 };
const HINT = { model: { name: "m", version: "1" }, lastSeq: 0, hnsw: { m: base.m, efConstruction: base.efConstruction } };
const decode = (b: Uint8Array | null) => (b ? Buffer.from(b).toString("utf8") : null);

const titles = ["plain", 'quote " and \\ backslash', "tab\tnewline\n", "ünïcödé — 日本語 🎉", "\u0001 control"];

function sample(): Catalog {
  const c = new Catalog(4, "fp", { ...inMemory, phi: 8 }, 16);
  for (let i = 0; i < 200; i++) {
    const item: NewsMeta = { id: `N${i}${i % 9 ? "" : '"é'}`, title: titles[i % titles.length]!, category: i % 2 ? "a" : "b" };
    if (i % 3) item.publishedAt = new Date(Date.UTC(2026, 0, 1 + (i % 28))).toISOString();
    c.upsert(item, Float32Array.from([Math.cos(i), Math.sin(i), i / 200, 1]));
  }
  c.delete("N7");
  c.delete("N30");
  return c;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "items-in-file-"));
}

test("items read from the snapshot's file are the held ones, byte for byte; a write moves one to memory; a snapshot of them is whole", async () => {
  const dir = tmp();
  try {
    const c = sample();
    await writeSnapshot(c, join(dir, "s"), HINT);
    const held = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, inMemory).catalog;
    const filed = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, inFile).catalog;
    assert.equal(held.itemsInFile, 0);
    assert.equal(filed.itemsInFile, 198);
    for (let slot = 0; slot < c.slots; slot++) {
      assert.equal(decode(filed.rawMetaAt(slot)), decode(c.rawMetaAt(slot)), `slot ${slot}`);
      assert.equal(decode(filed.rawMetaAt(slot)), decode(held.rawMetaAt(slot)), `slot ${slot} again (kept)`);
      if (c.isLive(slot)) assert.deepEqual(filed.metaAt(slot), c.metaAt(slot));
    }
    assert.equal(filed.get("N7"), undefined);

    filed.upsert({ id: "N8", title: "rewritten" }, Float32Array.from([1, 1, 1, 1]));
    filed.delete("N10");
    filed.upsert({ id: "fresh", title: "new" }, Float32Array.from([1, 0, 0, 1]));
    assert.equal(filed.itemsInFile, 196);
    assert.equal(filed.get("N8")!.title, "rewritten");
    assert.equal(filed.get("N10"), undefined);

    // A snapshot of the file-backed catalog (its items read back from the file), read whole into memory.
    await writeSnapshot(filed, join(dir, "s2"), HINT);
    const again = readSnapshot(join(dir, "s2"), { fingerprint: "fp", dimension: 4 }, inMemory).catalog;
    assert.equal(again.size, filed.size);
    for (let slot = 0; slot < filed.slots; slot++) assert.equal(decode(again.rawMetaAt(slot)), decode(filed.rawMetaAt(slot)), `slot ${slot}`);
    for (const x of [held, filed, again]) await x.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a line not in the form snapshots write is held in memory, the rest read from the file", async () => {
  const dir = tmp();
  try {
    await writeSnapshot(sample(), join(dir, "s"), HINT);
    const path = join(dir, "s", "items.jsonl");
    const lines = readFileSync(path, "utf8").split("\n");
    // Another writer's spacing: the same item, but its text is not what the catalog stores.
    lines[0] = lines[0]!.replace('{"slot":0,', '{"slot": 0, ');
    writeFileSync(path, lines.join("\n"));
    const c = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, inFile).catalog;
    assert.equal(c.itemsInFile, 197);
    assert.equal(decode(c.rawMetaAt(0)), JSON.stringify({ id: 'N0"é', title: "plain", category: "b" }));
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a compaction moves every item to the new snapshot's file: the seed's folder can go, and writes made since leave memory", async () => {
  const dir = tmp();
  try {
    await writeSnapshot(sample(), join(dir, "seed"), HINT);
    const c = readSnapshot(join(dir, "seed"), { fingerprint: "fp", dimension: 4 }, inFile).catalog;
    c.upsert({ id: "N8", title: "rewritten" }, Float32Array.from([1, 1, 1, 1]));
    c.upsert({ id: "late", title: "written since" }, Float32Array.from([0, 1, 0, 1]));
    assert.equal(c.itemsInFile, 197);
    const before = Array.from({ length: c.slots }, (_, s) => decode(c.rawMetaAt(s)));
    await swapSnapshot(c, join(dir, "data"), HINT);
    assert.equal(c.itemsInFile, c.size, "every item now read from the data dir's snapshot");
    // The seed replaced or removed from shared storage: nothing reads it any more.
    rmSync(join(dir, "seed"), { recursive: true, force: true });
    for (let s = 0; s < c.slots; s++) assert.equal(decode(c.rawMetaAt(s)), before[s], `slot ${s}`);
    assert.deepEqual(c.itemsHealth(), { ok: true });
    await c.close();

    // A catalog that holds its items, under the limit, keeps holding them.
    const small = sample();
    await swapSnapshot(small, join(dir, "data2"), HINT);
    assert.equal(small.itemsInFile, 0);
    await small.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an item file rewritten in place under the catalog is refused rather than served", async () => {
  const dir = tmp();
  try {
    await writeSnapshot(sample(), join(dir, "s"), HINT);
    const c = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, inFile).catalog;
    // Same length, other bytes (as a copy over the file in place would leave).
    const fd = openSync(join(dir, "s", "items.jsonl"), "r+");
    writeSync(fd, Buffer.from(" ".repeat(4000)), 0, 4000, 0);
    closeSync(fd);
    assert.throws(() => c.rawMetaAt(c.slotOf("N3")!), /item file cannot be read: items\.jsonl changed/);
    assert.equal(c.itemsHealth().ok, false);
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an item file truncated under the catalog: reads past its end fail as UNAVAILABLE naming it, and the catalog reports it", async () => {
  const dir = tmp();
  try {
    await writeSnapshot(sample(), join(dir, "s"), HINT);
    const c = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, inFile).catalog;
    assert.deepEqual(c.itemsHealth(), { ok: true });
    truncateSync(join(dir, "s", "items.jsonl"), 2000);
    assert.ok(c.metaAt(0), "an item before the cut still reads");
    assert.throws(
      () => c.metaAt(c.slotOf("N190")!),
      (err: NewsrecError) => err.code === "UNAVAILABLE" && /item file cannot be read: items\.jsonl ends before byte \d+ \(truncated\)/.test(err.message),
    );
    const h = c.itemsHealth();
    assert.equal(h.ok, false);
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a server reading items from the file answers as one holding them, and a file gone bad gives 503s and a readiness that names it", async () => {
  const dir = tmp();
  const news = join(dir, "news.jsonl");
  writeFileSync(
    news,
    `${Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: `N${i}`, title: `${titles[i % titles.length]} story ${i}`, category: i % 2 ? "sports" : "news" })).join("\n")}\n`,
  );
  const embed = cli("embed", "--news", news, "--out", join(dir, "snap"));
  assert.equal(embed.status, 0, embed.stderr);
  const serve = (...extra: string[]) =>
    spawnServer([process.execPath, CLI, "serve", "--port", "0", "--grpc-port", "0", "--snapshot", join(dir, "snap"), "--log-level", "warn", ...extra]);
  const held = await serve();
  const filed = await serve("--items-in-memory-max-bytes", "0");
  try {
    const rank = (url: string) =>
      fetch(`${url}/rank`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ userId: "u", history: ["N1", "N2", "N3"], k: 20 }),
      });
    const a = await rank(held.url);
    const b = await rank(filed.url);
    assert.equal(b.status, 200);
    const [ta, tb] = [await a.text(), await b.text()];
    assert.equal(tb.replace('"userCache":"miss"', ""), ta.replace('"userCache":"miss"', ""), "the same bytes");
    assert.equal((await fetch(`${filed.url}/news/N299`)).status, 200);
    const reads = await (await fetch(`${filed.url}/metrics`)).text();
    assert.match(reads, /newsrec_item_file_reads_total\{source="file"\} [1-9]/, "items were read from the file");
    assert.match(await (await fetch(`${held.url}/metrics`)).text(), /newsrec_item_file_reads_total\{source="file"\} 0/, "none when items are held");

    truncateSync(join(dir, "snap", "items.jsonl"), 100);
    const r = await fetch(`${filed.url}/news/N250`);
    assert.equal(r.status, 503);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /item file cannot be read: items\.jsonl ends before byte/);
    const ready = await fetch(`${filed.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.match(JSON.stringify(await ready.json()), /items.*item file cannot be read/);
    // The server holding its items is untouched by the file.
    assert.equal((await fetch(`${held.url}/news/N250`)).status, 200);
  } finally {
    held.proc.kill();
    filed.proc.kill();
    await Promise.all([held.exited, filed.exited]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a failed read is not held against the file for good: once the bytes read again, the next health check says so", async () => {
  const dir = tmp();
  try {
    await writeSnapshot(sample(), join(dir, "s"), HINT);
    const path = join(dir, "s", "items.jsonl");
    const whole = readFileSync(path);
    const c = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, inFile).catalog;
    // A short file for a moment (a storage hiccup), then whole again.
    truncateSync(path, 2000);
    assert.throws(() => c.metaAt(c.slotOf("N190")!), /truncated/);
    assert.equal(c.itemsHealth().ok, false);
    assert.equal(c.itemsHealth().ok, false, "still short: still failed");
    writeFileSync(path, whole);
    assert.deepEqual(c.itemsHealth(), { ok: true });
    assert.equal(c.metaAt(c.slotOf("N190")!)!.id, "N190");
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writing a snapshot reads the items from the file without counting them as served or pushing the served ones out of the kept set", async () => {
  const dir = tmp();
  try {
    await writeSnapshot(sample(), join(dir, "s"), HINT);
    const c = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, inFile).catalog;
    const hot = [3, 4, 5].map((i) => c.slotOf(`N${i}`)!);
    for (const s of hot) c.rawMetaAt(s);
    const before = { ...c.itemFileReads };
    await writeSnapshot(c, join(dir, "s2"), HINT);
    assert.deepEqual({ ...c.itemFileReads }, before, "the snapshot's reads are not the dashboard's");
    for (const s of hot) c.rawMetaAt(s);
    assert.deepEqual({ ...c.itemFileReads }, { file: before.file, cache: before.cache + hot.length }, "the served items are still kept");
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a line whose bytes are not UTF-8 (an emoji cut to three of its four bytes) is held as decoded, never spliced raw", async () => {
  const dir = tmp();
  try {
    const c = new Catalog(4, "fp", { ...inMemory, phi: 8 }, 16);
    c.upsert({ id: "cut", title: "ab" }, Float32Array.from([1, 0, 0, 0]));
    c.upsert({ id: "whole", title: "cd" }, Float32Array.from([0, 1, 0, 0]));
    await writeSnapshot(c, join(dir, "s"), HINT);
    const path = join(dir, "s", "items.jsonl");
    const bytes = readFileSync(path);
    const at = bytes.indexOf('"ab"') + 3;
    // "ab" becomes "ab" + F0 9F 98: one more byte is not enough, so this is a new file of its own length.
    writeFileSync(path, Buffer.concat([bytes.subarray(0, at), Buffer.from([0xf0, 0x9f, 0x98]), bytes.subarray(at)]));
    const filed = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, inFile).catalog;
    assert.equal(filed.itemsInFile, 1, "only the line that is UTF-8 is read from the file");
    const raw = Buffer.from(filed.rawMetaAt(filed.slotOf("cut")!)!);
    assert.ok(raw.equals(Buffer.from(raw.toString("utf8"))), "the bytes held are UTF-8");
    assert.equal(filed.metaAt(filed.slotOf("cut")!)!.title, "ab\ufffd");
    for (const x of [c, filed]) await x.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an item file changed in place so that a range still ends an item but no longer holds one is refused", async () => {
  const dir = tmp();
  try {
    await writeSnapshot(sample(), join(dir, "s"), HINT);
    const path = join(dir, "s", "items.jsonl");
    const c = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, inFile).catalog;
    const text = readFileSync(path, "utf8");
    // Same length, each line still ending in "}", but what was an item's start is now other bytes.
    const fd = openSync(path, "r+");
    const n3 = Buffer.byteLength(text.slice(0, text.indexOf('"id":"N3"')));
    writeSync(fd, Buffer.from('"xx":"N3"'), 0, 9, n3);
    // One byte inside another item: its first and last bytes are as they were.
    const n4 = Buffer.byteLength(text.slice(0, text.indexOf('"id":"N4"')));
    writeSync(fd, Buffer.from('"'), 0, 1, n4 + 20);
    closeSync(fd);
    assert.throws(
      () => c.rawMetaAt(c.slotOf("N3")!),
      (err: NewsrecError) => err.code === "UNAVAILABLE" && /items\.jsonl changed/.test(err.message),
    );
    assert.throws(
      () => c.metaAt(c.slotOf("N4")!),
      (err: NewsrecError) => err.code === "UNAVAILABLE" && /items\.jsonl changed/.test(err.message),
    );
    assert.equal(c.itemsHealth().ok, false);
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
