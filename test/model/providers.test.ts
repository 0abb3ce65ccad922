import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openSession } from "../../src/model/onnx.ts";
import { DEFAULT_BUNDLE } from "../helpers.ts";

test("CUDA asked for but absent: one clear log line, then the CPU provider", async (t) => {
  const logs: string[] = [];
  const r = await openSession(readFileSync(join(DEFAULT_BUNDLE, "news_encoder.onnx")), "news_encoder.onnx", {
    providers: ["cuda", "cpu"],
    intraOpThreads: 1,
    log: (l) => logs.push(l),
  });
  if (r.provider === "cuda") {
    t.diagnostic("this machine has onnxruntime-node's CUDA provider; the fallback was not exercised");
    assert.equal(logs.length, 0);
    return;
  }
  assert.equal(r.provider, "cpu");
  assert.equal(logs.length, 1);
  assert.match(logs[0]!, /execution provider cuda is not available .*falling back to cpu/);
});

test("no usable provider is an error naming the model file", async () => {
  const notAModel = new TextEncoder().encode("not an ONNX model");
  await assert.rejects(openSession(notAModel, "broken.onnx", { providers: ["cpu"], intraOpThreads: 1, log: () => {} }), /cannot open broken\.onnx/);
});
