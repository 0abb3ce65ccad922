/**
 * Supervised encoder workers, with the real default bundle in real worker threads.
 *
 * Faults come from test/model/fixtures/faulty-worker.mjs: the real worker plus a poison input
 * that throws an uncaught exception in the worker thread (how any bug in the worker kills its
 * thread; a native crash would take the whole process, which no supervisor inside it can
 * survive), and one that blocks the thread for good (a stuck native call). The server-level
 * test has no fixture: it ends the server's own worker through the pool, which the pool sees
 * through the thread's exit event exactly as it sees a crash.
 *
 * Timeouts on the tests below only stop a hang from stalling the suite; nothing is timed.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { loadBundle } from "../../src/model/bundle.ts";
import { Encoders, type EncoderOptions, type UserInput } from "../../src/model/encoders.ts";
import { NewsrecError } from "../../src/errors.ts";
import { DEFAULT_BUNDLE, post, startServer } from "../helpers.ts";

const FAULTY = new URL("./fixtures/faulty-worker.mjs", import.meta.url);
const CRASH_AT = 13;
const HANG_AT = 17;
const GUARD = { timeout: 120_000 };

const bundle = loadBundle(DEFAULT_BUNDLE);
const dim = bundle.manifest.dimension;

function history(n: number): UserInput {
  return { kind: "vectors", vectors: Array.from({ length: n }, (_, i) => Float32Array.from({ length: dim }, (_, j) => Math.sin(i + j))) };
}

function unavailable(pattern: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof NewsrecError, `a NewsrecError, got ${String(e)}`);
    assert.equal(e.code, "UNAVAILABLE");
    assert.match(e.message, pattern);
    return true;
  };
}

/** Encoders on the faulty worker; restarted() resolves on the next replacement worker. */
async function open(o: Partial<EncoderOptions>): Promise<{ enc: Encoders; restarted: () => Promise<void>; logs: string[] }> {
  const logs: string[] = [];
  let onRestart: (() => void) | null = null;
  const enc = await Encoders.open(bundle, {
    workers: 1,
    intraOpThreads: 1,
    providers: ["cpu"],
    maxBatch: 1,
    maxWaitMs: 0,
    maxQueue: 100,
    log: (l) => logs.push(l),
    workerEntry: FAULTY,
    onWorkerRestart: () => onRestart?.(),
    ...o,
  });
  return { enc, logs, restarted: () => new Promise<void>((r) => (onRestart = r)) };
}

describe("encoder worker supervision", () => {
  test("a worker that dies mid-batch fails the batch at once with UNAVAILABLE and is replaced", GUARD, async () => {
    // Two items held until they form one batch, so the crash takes a run of two callers.
    const { enc, restarted, logs } = await open({ workers: 2, maxBatch: 2, maxWaitMs: 3_600_000 });
    try {
      const replaced = restarted();
      const died = /^encoder worker \d+ died \(.+\); retry$/;
      await Promise.all([assert.rejects(enc.encodeUser(history(CRASH_AT)), unavailable(died)), assert.rejects(enc.encodeUser(history(3)), unavailable(died))]);
      await replaced;
      assert.equal(enc.alive, 2);
      assert.deepEqual(enc.health(), { ok: true });
      assert.ok(
        logs.some((l) => /encoder worker \d+ died/.test(l)),
        "the death is logged",
      );
      assert.ok(
        logs.some((l) => /restarted/.test(l)),
        "the restart is logged",
      );
      const [a, b] = await Promise.all([enc.encodeUser(history(3)), enc.encodeUser(history(5))]);
      assert.equal(a.vector.length, dim);
      assert.equal(b.vector.length, dim);
    } finally {
      await enc.close();
    }
  });

  test("with its only worker dead, encodeUser fails at once with UNAVAILABLE and health says why", GUARD, async () => {
    // The replacement is held back for an hour so that the dead state is there to look at.
    const { enc } = await open({ workers: 1, restartDelayMs: 3_600_000, maxBatch: 8, maxWaitMs: 3_600_000 });
    try {
      // maxBatch 8 would hold one item for an hour; a batch of 8 goes at once.
      const batch = [history(CRASH_AT), ...Array.from({ length: 7 }, () => history(2))].map((h) => enc.encodeUser(h));
      for (const p of batch) await assert.rejects(p, unavailable(/^encoder worker \d+ died/));
      assert.equal(enc.alive, 0);
      assert.deepEqual(enc.health(), { ok: false, reason: "no live encoder worker (0 of 1; restarting)" });
      // Settled before the event loop turns: refused, not queued behind the dead worker.
      const p = enc.encodeUser(history(3));
      const first = await Promise.race([
        p.then(
          () => "resolved",
          (e: unknown) => e,
        ),
        new Promise((r) => setImmediate(() => r("still pending"))),
      ]);
      assert.ok(unavailable(/no live encoder worker/)(first));
    } finally {
      await enc.close();
    }
    assert.deepEqual(enc.health(), { ok: false, reason: "encoders are closed" });
  });

  test("a worker that does not answer within runTimeoutMs fails the run with UNAVAILABLE and is replaced", GUARD, async () => {
    const { enc, restarted } = await open({ workers: 1, runTimeoutMs: 300 });
    try {
      const replaced = restarted();
      await assert.rejects(enc.encodeUser(history(HANG_AT)), unavailable(/^encoder worker \d+ did not answer within 300 ms; retry$/));
      await replaced;
      assert.equal((await enc.encodeUser(history(4))).vector.length, dim);
    } finally {
      await enc.close();
    }
  });

  test("a cache-miss rank after the server's encoder worker died gets 503 UNAVAILABLE or a result, never a hang", GUARD, async () => {
    const s = await startServer({ workers: 1, demoNews: 300, requestTimeoutMs: 60_000 });
    try {
      const ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
      const [threadId] = s.app.encoders.workerThreadIds;
      await s.app.encoders.terminateWorker(threadId!);
      const r = await post(`${s.url}/rank`, { userId: "after-death", history: ids.slice(0, 5) });
      // A restart may win the race with this request; a hang (or a 504 at the deadline) never passes.
      assert.ok(r.status === 503 || r.status === 200, `status ${r.status}: ${JSON.stringify(r.body)}`);
      if (r.status === 503) assert.equal(r.body.error.code, "UNAVAILABLE");
      await s.app.encoders.whenAllAlive();
      const again = await post(`${s.url}/rank`, { userId: "after-restart", history: ids.slice(5, 10) });
      assert.equal(again.status, 200);
      assert.equal(again.body.userCache, "miss");
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /^newsrec_encoder_worker_restarts_total 1$/m);
      assert.match(metrics, /^newsrec_encoder_workers_alive 1$/m);
    } finally {
      await s.close();
    }
  });
});
