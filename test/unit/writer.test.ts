/**
 * The write path (NewsWriter) over a real catalog, a fake news encoder and an in-memory log:
 * group commit, a failed append failing its whole group, deletes of absent ids, and the order
 * of apply and acknowledgement. Writes queue up behind an append held open on purpose, never
 * behind a timer.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Catalog } from "../../src/catalog/store.ts";
import { WalWriteError } from "../../src/catalog/wal.ts";
import { NewsWriter, type Durability } from "../../src/catalog/writer.ts";
import { Metrics } from "../../src/metrics.ts";
import { catalogOf, fakeEncoders, FakeWal } from "./fakes.ts";

function setup(o: { durable?: boolean } = {}) {
  const catalog = catalogOf(2, [[{ id: "OLD", title: "already there" }, [1, 1]]]);
  const wal = new FakeWal();
  const lines: string[] = [];
  const durable: Durability = { wal: wal.asWal, dataDir: "/nonexistent", lastSeq: 0, hnsw: { m: 8, efConstruction: 32 }, log: (l) => lines.push(l) };
  const writer = new NewsWriter(catalog, fakeEncoders().encoders, new Metrics({ defaultMetrics: false }), o.durable === false ? null : durable);
  return { catalog, wal, durable, writer, lines };
}

const item = (id: string, title = `title ${id}`) => ({ id, title });

/**
 * An upsert joins the commit queue once its text is encoded; the fake encoder answers within
 * the current turn of the event loop, so after this every write made so far is queued.
 */
const queued = () => new Promise((r) => setImmediate(r));

/** Starts a write whose append is held, so that the writes after it form one group. */
async function holdFirst(s: ReturnType<typeof setup>): Promise<{ first: Promise<number> }> {
  s.wal.hold();
  const first = s.writer.upsert([item("FIRST")]);
  await s.wal.whenAppends(1);
  // Wrapped: an async function returning the promise itself would wait for it.
  return { first };
}

test("writes that arrive while the log is busy are committed together: one append for the group", async () => {
  const s = setup();
  const { first } = await holdFirst(s);
  const a = s.writer.upsert([item("A")]);
  await queued();
  const bc = s.writer.upsert([item("B"), item("C")]);
  await queued();
  const group = [a, bc, s.writer.delete("OLD")];
  s.wal.release();
  assert.deepEqual(await Promise.all([first, ...group]), [1, 1, 2, true]);
  assert.equal(s.wal.appends.length, 2, "one append for FIRST, one for the three writes after it");
  assert.deepEqual(
    s.wal.appends[1]!.map((r) => (r.op === "upsert" ? r.items.map((i) => i.meta.id).join("+") : `-${r.id}`)),
    ["A", "B+C", "-OLD"],
  );
  assert.deepEqual(
    s.wal.appends.flat().map((r) => r.seq),
    [1, 2, 3, 4],
    "sequence numbers follow the log's order",
  );
  assert.deepEqual(
    ["FIRST", "A", "B", "C", "OLD"].map((id) => s.catalog.has(id)),
    [true, true, true, true, false],
  );
});

test("a failed append fails every write of its group, applies none, and frees its sequence numbers", async () => {
  const s = setup();
  const { first } = await holdFirst(s);
  const group = [s.writer.upsert([item("A")]), s.writer.delete("OLD"), s.writer.upsert([item("B")])];
  await queued();
  s.wal.failWith(new WalWriteError("ENOSPC", "no space left on device", 100, null));
  s.wal.release();
  const results = await Promise.allSettled([first, ...group]);
  assert.ok(results.every((r) => r.status === "rejected" && (r.reason as WalWriteError).errno === "ENOSPC"));
  assert.deepEqual(
    ["FIRST", "A", "B", "OLD"].map((id) => s.catalog.has(id)),
    [false, false, false, true],
  );
  assert.equal(s.durable.lastSeq, 0);
  assert.deepEqual(s.writer.health(), { ok: false, reason: "durable writes are failing: no space left on device" });
  // The disk takes writes again: the next write succeeds with the freed numbers, and health recovers.
  s.wal.failWith(null);
  assert.equal(await s.writer.upsert([item("A")]), 1);
  assert.deepEqual(
    s.wal.appends.at(-1)!.map((r) => r.seq),
    [1],
  );
  assert.deepEqual(s.writer.health(), { ok: true });
  assert.equal(s.lines.length, 2, `one line when writes fail, one when they recover: ${s.lines.join(" | ")}`);
  await s.writer.close();
});

test("a delete of an absent id answers false and logs nothing; of a present one, once", async () => {
  const s = setup();
  assert.equal(await s.writer.delete("NOPE"), false);
  assert.equal(s.wal.appends.length, 0, "nothing to log, no append at all");
  const { first } = await holdFirst(s);
  // In one group: the second delete of OLD finds it gone, and so does a delete of NOPE.
  const dels = [s.writer.delete("OLD"), s.writer.delete("OLD"), s.writer.delete("NOPE")];
  s.wal.release();
  await first;
  assert.deepEqual(await Promise.all(dels), [true, false, false]);
  assert.deepEqual(
    s.wal.appends[1]!.map((r) => r.op === "delete" && r.id),
    ["OLD"],
  );
});

test("writes are applied in the order they are acknowledged, which is the order they were made", async () => {
  const s = setup();
  const events: string[] = [];
  const catalog: Catalog = s.catalog;
  const upsert = catalog.upsert.bind(catalog);
  const del = catalog.delete.bind(catalog);
  catalog.upsert = (meta, vector, indexIt) => (events.push(`apply ${meta.title}`), upsert(meta, vector, indexIt));
  catalog.delete = (id) => (events.push(`apply delete ${id}`), del(id));

  const { first } = await holdFirst(s);
  // Made one at a time, each reaching the commit queue before the next: the order they were made.
  const writes: [string, Promise<unknown>][] = [];
  const make = async (name: string, p: Promise<unknown>) => {
    writes.push([name, p]);
    void p.then(() => events.push(`ack ${name}`));
    await queued();
  };
  await make("x1", s.writer.upsert([item("X", "x1")]));
  await make("delete X", s.writer.delete("X"));
  await make("x2", s.writer.upsert([item("X", "x2")]));
  await make("x3", s.writer.upsert([item("X", "x3")]));
  s.wal.release();
  await Promise.all([first, ...writes.map(([, p]) => p)]);
  const names = writes.map(([n]) => n);
  assert.deepEqual(
    s.wal.appends[1]!.map((r) => (r.op === "upsert" ? r.items[0]!.meta.title : `delete ${r.id}`)),
    names,
    "logged in that order",
  );
  assert.deepEqual(
    events.filter((e) => e.startsWith("apply") && e !== "apply title FIRST"),
    names.map((n) => `apply ${n}`),
    "applied in that order",
  );
  assert.deepEqual(
    events.filter((e) => e.startsWith("ack")),
    names.map((n) => `ack ${n}`),
    "acknowledged in that order",
  );
  assert.equal(s.catalog.get("X")!.title, "x3", "the last write wins");
});

test("without a data dir (in memory) writes apply at once, and an absent delete is false", async () => {
  const s = setup({ durable: false });
  assert.equal(await s.writer.upsert([item("A"), item("B")]), 2);
  assert.equal(await s.writer.delete("A"), true);
  assert.equal(await s.writer.delete("A"), false);
  assert.deepEqual(
    ["A", "B"].map((id) => s.catalog.has(id)),
    [false, true],
  );
  assert.equal(s.wal.appends.length, 0);
  assert.equal(await s.writer.compact(), false, "nothing to compact");
});
