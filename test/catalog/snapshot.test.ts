import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embedNews } from "../../src/catalog/embed.ts";
import { demoNews } from "../../src/catalog/demo.ts";
import { readSnapshot, writeSnapshot } from "../../src/catalog/snapshot.ts";
import { Catalog, catalogOptions } from "../../src/catalog/store.ts";
import { buildConfig } from "../../src/config.ts";
import { indexPhi, loadBundle } from "../../src/model/bundle.ts";
import { Encoders } from "../../src/model/encoders.ts";
import { DEFAULT_BUNDLE, MIND_SAMPLE, ROOT, SHARED_SKIP, SIAMESE_BUNDLE } from "../helpers.ts";

const CLI = join(ROOT, "bin/newsrec.mjs");
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
const bundle = loadBundle(DEFAULT_BUNDLE);
const opts = catalogOptions({ ...buildConfig(), exactMaxItems: 0 }, indexPhi(bundle.manifest));

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "snap-"));
}

test("a snapshot round-trips items, vectors, the graph and freed slots", async () => {
  const dir = tmp();
  try {
    const c = new Catalog(4, "fp", { ...opts, phi: 8 }, 16);
    for (let i = 0; i < 50; i++)
      c.upsert(
        { id: `n${i}`, title: `t${i}`, category: i % 2 ? "a" : "b", publishedAt: new Date(Date.UTC(2026, 0, 1 + (i % 28))).toISOString() },
        Float32Array.from([Math.cos(i), Math.sin(i), i / 50, 1]),
      );
    c.delete("n7");
    c.delete("n30");
    await writeSnapshot(c, join(dir, "s"), { model: { name: "m", version: "1" }, lastSeq: 12, hnsw: { m: opts.m, efConstruction: opts.efConstruction } });
    const { catalog: r, manifest } = readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, opts);
    assert.equal(manifest.lastSeq, 12);
    assert.equal(r.size, 48);
    assert.equal(r.get("n7"), undefined);
    assert.deepEqual(r.get("n8"), c.get("n8"));
    assert.deepEqual(Array.from(r.vectorAt(r.slotOf("n9")!)), Array.from(c.vectorAt(c.slotOf("n9")!)));
    const q = Float32Array.from([1, 0.5, 0.2, 0.1]);
    assert.deepEqual(
      r.search(q, 5).map((x) => x.slot),
      c.search(q, 5).map((x) => x.slot),
    );
    assert.equal(r.index.deletedCount, 2);
    r.upsert({ id: "fresh", title: "x" }, Float32Array.from([1, 1, 1, 1]));
    assert.ok([c.slotOf("n8")! - 1, 30].includes(r.slotOf("fresh")!), "a freed slot is reused");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a truncated vectors file or a snapshot of another model is refused, naming the cause", async () => {
  const dir = tmp();
  try {
    const c = new Catalog(4, "fp", { ...opts, phi: 8 }, 16);
    c.upsert({ id: "a", title: "t" }, Float32Array.from([1, 0, 0, 0]));
    await writeSnapshot(c, join(dir, "s"), { model: { name: "m", version: "1" }, lastSeq: 0, hnsw: { m: 16, efConstruction: 200 } });
    assert.throws(() => readSnapshot(join(dir, "s"), { fingerprint: "other", dimension: 4 }, opts), /made by model fingerprint .* re-embed/);
    truncateSync(join(dir, "s/vectors.f32"), 7);
    assert.throws(() => readSnapshot(join(dir, "s"), { fingerprint: "fp", dimension: 4 }, opts), /vectors\.f32 holds 7 bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an interrupted embed resumes from its finished chunks", async () => {
  const dir = tmp();
  const enc = await Encoders.open(bundle, { workers: 1, intraOpThreads: 1, providers: ["cpu"], maxBatch: 64, maxWaitMs: 0, maxQueue: 1e6, log: () => {} });
  try {
    const items = demoNews(1200, 5);
    const o = { out: join(dir, "snap"), batch: 100, chunk: 400, inFlight: 2, inputKey: "k1", catalog: opts };
    await assert.rejects(
      embedNews(items, enc, {
        ...o,
        onProgress: (d) => {
          if (d >= 800) throw new Error("interrupted");
        },
      }),
      /interrupted/,
    );
    assert.ok(readdirSync(`${o.out}.partial`).filter((f) => f.endsWith(".f32")).length >= 1);
    const r = await embedNews(items, enc, o);
    assert.ok(r.resumedItems >= 400, `resumed ${r.resumedItems}`);
    assert.equal(r.manifest.items, 1200);
    assert.ok(!existsSync(`${o.out}.partial`));
    const { catalog } = readSnapshot(o.out, { fingerprint: bundle.manifest.fingerprint, dimension: 64 }, opts);
    const fresh = await enc.encodeNewsBatch([enc.tokenizer.news(items[10]!)]);
    assert.ok(Array.from(catalog.vectorAt(catalog.slotOf(items[10]!.id)!)).every((v, i) => Math.abs(v - fresh[0]![i]!) < 1e-5));
  } finally {
    await enc.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("newsrec embed reports malformed rows by line, skips them, and fails only when nothing is usable", () => {
  const dir = tmp();
  try {
    const good = (id: string, title: string) => [id, "news", "newsus", title, "", "", "[]", "[]"].join("\t");
    writeFileSync(
      join(dir, "news.tsv"),
      `${[good("A1", "Storm hits the coast"), "only\ttwo", good("A2", "   "), [..."B1 news newsus Title x y".split(" "), "{not json", "[]"].join("\t"), good("A1", "duplicate"), good("A3", "Markets rally")].join("\n")}\n`,
    );
    const r = cli("embed", "--news", join(dir, "news.tsv"), "--out", join(dir, "snap"));
    assert.equal(r.status, 0, r.stderr);
    for (const [line, why] of [
      [2, "expected 8 tab-separated columns"],
      [3, "empty title"],
      [4, "title_entities is not a JSON array"],
      [5, "duplicate id A1"],
    ] as const) {
      assert.match(r.stderr, new RegExp(`news\\.tsv:${line}: skipped: ${why}`));
    }
    assert.match(r.stderr, /2 news embedded, 4 skipped/);
    assert.equal(JSON.parse(r.stdout.trim()).news, 2);
    writeFileSync(join(dir, "bad.jsonl"), '{"id": 1}\nnot json\n');
    const bad = cli("embed", "--news", join(dir, "bad.jsonl"), "--out", join(dir, "snap2"));
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /no usable news rows/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("newsrec embed succeeds on the real MIND sample and serve refuses it under another model", { skip: SHARED_SKIP }, () => {
  const dir = tmp();
  try {
    const r = cli("embed", "--news", join(MIND_SAMPLE, "news.tsv"), "--out", join(dir, "snap"));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim()).news, 2000);
    const refused = cli("serve", "--model", SIAMESE_BUNDLE, "--snapshot", join(dir, "snap"), "--port", "0", "--grpc-port", "0");
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /made by model fingerprint .* but the loaded model is/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the write-ahead log: a torn tail is cut, corruption in the middle refuses to load", async () => {
  const { readWal, WriteAheadLog } = await import("../../src/catalog/wal.ts");
  const { appendFileSync, readFileSync: read, writeFileSync: write } = await import("node:fs");
  const dir = tmp();
  try {
    const path = join(dir, "wal.log");
    const wal = await WriteAheadLog.open(path);
    // Two records in one group commit, then one alone: each keeps its own frame.
    await wal.append([1, 2].map((i) => ({ seq: i, op: "delete" as const, id: `n${i}` })));
    await wal.append([{ seq: 3, op: "delete", id: "n3" }]);
    await wal.close();
    const whole = read(path);
    appendFileSync(path, whole.subarray(0, 12)); // half of a fourth record
    const torn = readWal(path);
    assert.deepEqual(
      torn.records.map((r) => r.seq),
      [1, 2, 3],
    );
    assert.equal(torn.droppedBytes, 12);
    assert.equal(read(path).length, whole.length, "the torn tail is cut off the file");
    const bad = Buffer.from(whole);
    bad[10] = bad[10]! ^ 0xff; // the first record's payload checksum
    write(path, bad);
    assert.throws(() => readWal(path), /wal\.log is damaged at byte 0 /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
