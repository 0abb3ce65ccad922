/** The shipped exact-scoring graph is what its generator makes, and has the documented interface. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readTopKModel, TOPK_MODEL } from "../../src/model/scoring.ts";
import { PYTHON, ROOT } from "../helpers.ts";

const hasOnnx = spawnSync(PYTHON, ["-c", "import onnx"]).status === 0;

test("models/scoring/topk.onnx is byte for byte what models/training/topk_graph.py writes", {
  skip: hasOnnx || process.env.CI ? false : "python3-onnx is not installed",
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "topk-"));
  try {
    const r = spawnSync(PYTHON, [join(ROOT, "models/training/topk_graph.py"), "--out", join(dir, "topk.onnx")], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(
      readFileSync(join(dir, "topk.onnx")).equals(readFileSync(TOPK_MODEL)),
      "regenerate it: /usr/bin/python3 models/training/topk_graph.py --out models/scoring/topk.onnx",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the README records the shipped graph's sha256", async () => {
  const { createHash } = await import("node:crypto");
  const sha = createHash("sha256").update(readFileSync(TOPK_MODEL)).digest("hex");
  assert.match(readFileSync(join(ROOT, "models/scoring/README.md"), "utf8"), new RegExp(sha));
});

test("without the graph file the server runs on, saying that exact ONNX scoring and recall monitoring are off", () => {
  const lines: string[] = [];
  assert.equal(
    readTopKModel((l) => lines.push(l), "/nonexistent/topk.onnx"),
    null,
  );
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /recall monitoring are off/);
  assert.ok(readTopKModel(() => assert.fail("no log for a present file"))!.byteLength > 0);
});
