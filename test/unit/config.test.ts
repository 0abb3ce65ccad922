import { test } from "node:test";
import assert from "node:assert/strict";
import { buildConfig, ConfigError, fromEnv } from "../../src/config.ts";
import { asNewsrecError, NewsrecError } from "../../src/errors.ts";

test("defaults are the documented contract", () => {
  const c = buildConfig();
  assert.equal(c.host, "127.0.0.1");
  assert.equal(c.port, 8080);
  assert.equal(c.grpcPort, 50051);
  assert.deepEqual(c.providers, ["cpu"]);
});

test("environment: PORT, HOST, GRPC_PORT and NEWSREC_<KEY>; unknown NEWSREC_ variables are refused", () => {
  const c = buildConfig(fromEnv({ PORT: "9000", HOST: "0.0.0.0", GRPC_PORT: "9001", NEWSREC_MAX_BATCH: "8", NEWSREC_PROVIDERS: "cuda,cpu" }));
  assert.equal(c.port, 9000);
  assert.equal(c.host, "0.0.0.0");
  assert.equal(c.grpcPort, 9001);
  assert.equal(c.maxBatch, 8);
  assert.deepEqual(c.providers, ["cuda", "cpu"]);
  assert.throws(() => fromEnv({ NEWSREC_MAX_BATHC: "8" }), ConfigError);
});

test("unknown keys and bad values are refused with the key's name", () => {
  assert.throws(() => buildConfig({ maxBatchSize: 3 }), /unknown configuration key "maxBatchSize"/);
  assert.throws(() => buildConfig({ port: 70000 }), /configuration port/);
  assert.throws(() => buildConfig(fromEnv({ NEWSREC_WORKERS: "two" })), /configuration workers/);
  assert.throws(() => buildConfig({ providers: ["tpu"] }), /configuration providers/);
});

test("later sources win", () => {
  assert.equal(buildConfig({ port: 1 }, { port: 2 }).port, 2);
});

test("unknown errors become INTERNAL without leaking their text", () => {
  const e = asNewsrecError(new Error("secret detail"));
  assert.equal(e.code, "INTERNAL");
  assert.equal(e.httpStatus, 500);
  assert.doesNotMatch(e.message, /secret/);
  const n = new NewsrecError("NOT_FOUND", "x");
  assert.equal(asNewsrecError(n), n);
  assert.equal(n.grpcStatus, 5);
});
