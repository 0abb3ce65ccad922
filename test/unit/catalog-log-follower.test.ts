/**
 * The catalog log's apply side without a server: messages are applied in stream order and
 * answer the writer waiting for them; a redelivered message is skipped; a gap (the stream
 * trimmed past the replica) or a message of another model stops the follower for good and
 * says why; a batch too large for one message is split and every item arrives.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Catalog } from "../../src/catalog/store.ts";
import { LogFollower, MSG_ID_HEADER } from "../../src/catalog/replication/follower.ts";
import { decodeWrite, encodeDelete, encodeUpsert, FINGERPRINT_HEADER, FORMAT, FORMAT_HEADER } from "../../src/catalog/replication/log-message.ts";
import type { LogMessage } from "../../src/catalog/replication/nats-log.ts";

const params = { m: 8, efConstruction: 64, efSearch: 32, exactMaxItems: 0, maxAgeHours: 0, phi: 4 };
const expect = { fingerprint: "fp", dimension: 2 };
const headers = (id: string, fp = "fp") => ({ [FORMAT_HEADER]: FORMAT, [FINGERPRINT_HEADER]: fp, [MSG_ID_HEADER]: id });
const msg = (seq: number, data: Uint8Array, id = `m${seq}`, fp = "fp"): LogMessage => ({
  seq,
  data,
  headers: headers(id, fp),
  publishedAt: Date.now(),
  pending: 0,
});
const upsert = (ids: string[]) =>
  encodeUpsert(
    ids.map((id) => ({ id, title: `t ${id}` })),
    ids.map((_, i) => Float32Array.of(1, i)),
    1 << 20,
  )[0]!;

test("messages are applied in order and answer the writer that waits for them; redeliveries are skipped", async () => {
  const c = new Catalog(2, "fp", params, 16);
  const f = new LogFollower(c, expect, 10);
  const waiting = f.expectMessage("mine");
  await f.apply(msg(11, upsert(["a", "b"])));
  await f.apply(msg(12, encodeDelete("a"), "mine"));
  assert.deepEqual(await waiting.applied, { seq: 12, result: true });
  const again = f.expectMessage("gone");
  await f.apply(msg(13, encodeDelete("a"), "gone"));
  assert.deepEqual(await again.applied, { seq: 13, result: false }, "deleting what is not there is applied and says so");
  await f.apply(msg(11, upsert(["a"])));
  assert.equal(c.has("a"), false, "a redelivered message is not applied twice");
  assert.equal(f.appliedSeq, 13);
  assert.equal(c.size, 1);
  await f.until(13);
});

test("a gap in the sequence stops the follower, fails the waiting writers and names the restart", async () => {
  const c = new Catalog(2, "fp", params, 16);
  const f = new LogFollower(c, expect, 5);
  const waiting = f.expectMessage("x");
  const caughtUp = f.until(9);
  await f.apply(msg(8, upsert(["late"])));
  assert.equal(c.size, 0, "nothing applied out of order");
  assert.match(f.stalled!, /continues at sequence 8, but this replica has applied up to 5: the stream was trimmed past it/);
  await assert.rejects(waiting.applied, /trimmed past it/);
  await assert.rejects(caughtUp, /trimmed past it/);
});

test("a message of another model is refused: the follower stops rather than mix vectors", async () => {
  const c = new Catalog(2, "fp", params, 16);
  const f = new LogFollower(c, expect, 0);
  await f.apply(msg(1, upsert(["a"]), "m1", "other-model"));
  assert.equal(c.size, 0);
  assert.match(f.stalled!, /holds vectors of model fingerprint other-model.*every replica of one stream must serve the same model/);
});

test("a batch larger than one message is split, and each part decodes whole", () => {
  const ids = Array.from({ length: 50 }, (_, i) => `n${i}`);
  const parts = encodeUpsert(
    ids.map((id) => ({ id, title: `a title long enough to matter ${id}` })),
    ids.map((_, i) => Float32Array.of(i, -i)),
    1000,
  );
  assert.ok(parts.length > 1);
  const seen: string[] = [];
  for (const [i, p] of parts.entries()) {
    assert.ok(p.byteLength <= 1000, `part ${i} is ${p.byteLength} bytes`);
    const w = decodeWrite(i + 1, p, headers(`p${i}`), expect);
    assert.equal(w.op, "upsert");
    if (w.op === "upsert") for (const it of w.items) seen.push(it.meta.id);
  }
  assert.deepEqual(seen, ids);
});
