import { test } from "node:test";
import assert from "node:assert/strict";
import { MicroBatcher } from "../../src/model/batcher.ts";
import type { NewsrecError } from "../../src/errors.ts";

test("concurrent submissions are gathered into one run, up to maxBatch", async () => {
  const sizes: number[] = [];
  const b = new MicroBatcher<number, number>({ maxBatch: 4, maxWaitMs: 20, maxQueue: 100, concurrency: 1, name: "t" }, async (xs) => {
    sizes.push(xs.length);
    return xs.map((x) => x * 2);
  });
  const out = await Promise.all([1, 2, 3, 4, 5, 6].map((x) => b.submit(x)));
  assert.deepEqual(out, [2, 4, 6, 8, 10, 12]);
  assert.deepEqual(sizes, [4, 2]);
});

test("a lone item is flushed after maxWaitMs", async () => {
  const b = new MicroBatcher<number, number>({ maxBatch: 64, maxWaitMs: 5, maxQueue: 100, concurrency: 1, name: "t" }, async (xs) => xs);
  assert.equal(await b.submit(7), 7);
});

test("a full queue refuses at once with OVERLOADED", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const b = new MicroBatcher<number, number>({ maxBatch: 1, maxWaitMs: 0, maxQueue: 2, concurrency: 1, name: "user" }, async (xs) => {
    await gate;
    return xs;
  });
  const first = b.submit(1); // in flight
  const queued = [b.submit(2), b.submit(3)];
  await assert.rejects(b.submit(4), (e: NewsrecError) => e.code === "OVERLOADED" && e.retryAfter === 1);
  release();
  assert.deepEqual(await Promise.all([first, ...queued]), [1, 2, 3]);
});

test("a failed run rejects every item of its batch", async () => {
  const b = new MicroBatcher<number, number>({ maxBatch: 8, maxWaitMs: 1, maxQueue: 100, concurrency: 1, name: "t" }, async () => {
    throw new Error("boom");
  });
  const rs = await Promise.allSettled([b.submit(1), b.submit(2)]);
  assert.ok(rs.every((r) => r.status === "rejected"));
});

test("items whose deadline passed while queued are dropped unrun with DEADLINE_EXCEEDED", async () => {
  const ran: number[] = [];
  const b = new MicroBatcher<number, number>({ maxBatch: 8, maxWaitMs: 30, maxQueue: 100, concurrency: 1, name: "user" }, async (xs) => {
    ran.push(...xs);
    return xs;
  });
  const now = performance.now();
  const late = b.submit(1, now + 5);
  const fine = b.submit(2, now + 10_000);
  await assert.rejects(late, (e: NewsrecError) => e.code === "DEADLINE_EXCEEDED");
  assert.equal(await fine, 2);
  assert.deepEqual(ran, [2]);
});

// Batchers below hold items for an hour (maxWaitMs); the test timeouts only stop a hang from
// stalling the suite, nothing is timed.
const HOLD = 3_600_000;
const GUARD = { timeout: 60_000 };

test("a held item is rejected with DEADLINE_EXCEEDED when its deadline passes, and never runs", GUARD, async () => {
  const ran: number[] = [];
  const b = new MicroBatcher<number, number>({ maxBatch: 2, maxWaitMs: HOLD, maxQueue: 100, concurrency: 1, name: "user" }, async (xs) => {
    ran.push(...xs);
    return xs;
  });
  await assert.rejects(
    b.submit(1, performance.now() + 10),
    (e: NewsrecError) => e.code === "DEADLINE_EXCEEDED" && /waiting for the user encoder/.test(e.message),
  );
  // The expired item left the queue: the next two form a batch of their own.
  assert.deepEqual(await Promise.all([b.submit(2), b.submit(3)]), [2, 3]);
  assert.deepEqual(ran, [2, 3]);
});

test("an item whose deadline passes during its run is rejected at the deadline; its late result is dropped", GUARD, async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const b = new MicroBatcher<number, number>({ maxBatch: 2, maxWaitMs: 0, maxQueue: 100, concurrency: 1, name: "user" }, async (xs) => {
    await gate;
    return xs.map((x) => x * 10);
  });
  const late = b.submit(1, performance.now() + 10);
  await assert.rejects(late, (e: NewsrecError) => e.code === "DEADLINE_EXCEEDED");
  const next = b.submit(2);
  release();
  assert.equal(await next, 20);
});

test("an aborted signal drops a queued item unrun and rejects it with the signal's reason", GUARD, async () => {
  const ran: number[] = [];
  const b = new MicroBatcher<number, number>({ maxBatch: 2, maxWaitMs: HOLD, maxQueue: 100, concurrency: 1, name: "user" }, async (xs) => {
    ran.push(...xs);
    return xs;
  });
  const ac = new AbortController();
  const gone = b.submit(1, Infinity, ac.signal);
  const reason = new Error("the client went away");
  ac.abort(reason);
  await assert.rejects(gone, (e) => e === reason);
  await assert.rejects(b.submit(9, Infinity, AbortSignal.abort(reason)), (e) => e === reason);
  assert.deepEqual(await Promise.all([b.submit(2), b.submit(3)]), [2, 3]);
  assert.deepEqual(ran, [2, 3]);
});
