/** Readiness tells the truth: not ready, with the reason, whenever the server cannot do its job. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { post, startServer, type Running } from "../helpers.ts";

const require = createRequire(import.meta.url);
const healthPkg = grpc.loadPackageDefinition(protoLoader.loadSync(require.resolve("grpc-health-check/proto/health/v1/health.proto"), { enums: String })) as any;

async function until<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, limitMs = 30_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > end) assert.fail(`still not ${what} after ${limitMs} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readyz = async (url: string) => {
  const r = await fetch(`${url}/readyz`);
  return { status: r.status, body: (await r.json()) as { ready: boolean; reasons: string[]; checks: Record<string, string> } };
};

const grpcHealth = (address: string) => {
  const client = new healthPkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  return {
    check: () =>
      new Promise<string>((res, rej) => client.Check({ service: "newsrec.v1.Recommender" }, (e: Error | null, v: any) => (e ? rej(e) : res(v.status)))),
    close: () => client.close(),
  };
};

describe("readiness with no live encoder worker", () => {
  let s: Running;
  before(async () => {
    // One worker, replaced only after an hour: the dead state holds still while it is looked at.
    s = await startServer({ demoNews: 200, workers: 1, encoderRestartDelayMs: 3_600_000 });
  });
  after(() => s.close());

  test("/readyz, gRPC health and the metrics say why, and cache misses fail at once", { timeout: 60_000 }, async () => {
    const health = grpcHealth(s.grpcAddress);
    try {
      assert.equal((await readyz(s.url)).status, 200);
      assert.equal(await health.check(), "SERVING");
      const [thread] = s.app.encoders.workerThreadIds;
      await s.app.encoders.terminateWorker(thread!);
      const r = await readyz(s.url);
      assert.equal(r.status, 503);
      assert.equal(r.body.ready, false);
      assert.match(r.body.checks.encoders!, /no live encoder worker/);
      assert.ok(r.body.reasons.some((x) => x.startsWith("encoders: ")));
      await until(
        "NOT_SERVING over gRPC",
        () => health.check(),
        (v) => v === "NOT_SERVING",
      );
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      assert.match(metrics, /newsrec_health_check\{check="encoders"\} 0/);
      assert.match(metrics, /newsrec_ready 0/);
      const miss = await post(`${s.url}/rank`, { userId: "after-death", history: ["N1", "N2"] });
      assert.equal(miss.status, 503);
      assert.equal(miss.body.error.code, "UNAVAILABLE");
    } finally {
      health.close();
    }
  });
});

describe("readiness with admission wedged", () => {
  let s: Running;
  before(async () => {
    s = await startServer({ demoNews: 50, maxInFlight: 4, requestTimeoutMs: 100 });
  });
  after(() => s.close());

  test("every slot held and none freed for 5 × requestTimeoutMs turns readiness false, and back", { timeout: 60_000 }, async () => {
    // The beam in use is visible to operators: the size-aware default's floor on 50 items.
    const before = await readyz(s.url);
    assert.equal((before.body as unknown as { efSearch: number }).efSearch, 100);
    assert.match(await (await fetch(`${s.url}/metrics`)).text(), /^newsrec_index_ef_search 100$/m);
    // Slots held by something that never finishes: the state a lost release would leave.
    const held = Array.from({ length: 4 }, () => s.app.admission.tryEnter("http")!);
    const r = await until(
      "not ready",
      () => readyz(s.url),
      (v) => v.status === 503,
    );
    assert.match(r.body.checks.admission!, /all 4 request slots held/);
    for (const t of held) t.release();
    await until(
      "ready again",
      () => readyz(s.url),
      (v) => v.status === 200,
    );
  });
});
