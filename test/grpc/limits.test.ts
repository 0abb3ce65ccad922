/** gRPC has the same limits as HTTP: message size, a server-side deadline, a cap on streams. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { startServer, type Running } from "../helpers.ts";
import { call, grpcClient } from "./client.ts";

describe("gRPC limits", () => {
  let s: Running;
  let ids: string[];
  before(async () => {
    // Batches wait up to 1 s for company, so a cache miss lasts that long unless a deadline ends it.
    s = await startServer({ demoNews: 300, bodyLimitBytes: 64 * 1024, requestTimeoutMs: 200, maxWaitMs: 1000, maxBatch: 1000, maxStreams: 4 });
    ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
  });
  after(() => s.close());

  test("a message over the HTTP body limit is refused before it is decoded", async () => {
    const client = grpcClient(s.grpcAddress, { "grpc.max_send_message_length": 16 << 20 });
    try {
      const history = Array.from({ length: 20_000 }, (_, i) => `N${i}-${"x".repeat(8)}`);
      await assert.rejects(call(client, "Rank", { history }), (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED);
      // The connection is still good for normal calls.
      const ok = await call<any>(client, "Rank", { history: [] });
      assert.equal(ok.coldStart, true);
    } finally {
      client.close();
    }
  });

  test("a call without a client deadline gets the server's requestTimeoutMs", { timeout: 30_000 }, async () => {
    const client = grpcClient(s.grpcAddress);
    try {
      const t0 = performance.now();
      await assert.rejects(
        call(client, "Rank", { userId: "no-deadline", history: ids.slice(0, 3) }),
        (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED,
      );
      // Not a timing threshold on speed: a call that waited out the 1 s batch would have succeeded.
      assert.ok(performance.now() - t0 < 1000, "ended by the server's deadline, not by the batch");
    } finally {
      client.close();
    }
  });

  test("one connection runs at most maxStreams calls at once; the rest wait their turn", { timeout: 60_000 }, async () => {
    const client = grpcClient(s.grpcAddress);
    let peak = 0;
    const watch = setInterval(() => (peak = Math.max(peak, s.app.admission.inFlight)), 1);
    try {
      const calls = Array.from({ length: 12 }, (_, i) =>
        call<any>(client, "Rank", { userId: `stream-${i}`, history: ids.slice(i, i + 2) }, { deadline: new Date(Date.now() + 20_000) }).then(
          () => "ok",
          (e: grpc.ServiceError) => e.code,
        ),
      );
      const outcomes = await Promise.all(calls);
      assert.ok(peak > 0 && peak <= 4, `at most 4 calls in the server at once, saw ${peak}`);
      assert.equal(outcomes.length, 12);
    } finally {
      clearInterval(watch);
      client.close();
    }
  });
});
