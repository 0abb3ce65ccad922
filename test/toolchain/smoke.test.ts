/**
 * The model toolchain end to end, so that it cannot rot: synthesise a corpus, train one
 * epoch, export, then check golden parity through onnxruntime-node and that `newsrec eval`
 * reproduces the trainer's own validation metrics.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MIND_SAMPLE, PYTHON, ROOT, SHARED_SKIP } from "../helpers.ts";
import { checkGolden } from "../model/golden.ts";

const torchOk = spawnSync(PYTHON, ["-c", "import torch, onnx"]).status === 0;
// CI installs PyTorch from Debian, so there a missing toolchain is a failure, not a skip.
const SKIP = torchOk || process.env.CI ? false : `${PYTHON} has no torch/onnx (apt-get install python3-torch python3-onnx)`;
const CLI = join(ROOT, "bin/newsrec.mjs");

function lastJson(out: string): Record<string, any> {
  const lines = out.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

function train(args: string[]): { metrics: Record<string, any>; stderr: string } {
  const r = spawnSync(PYTHON, [join(ROOT, "models/training/train.py"), ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, r.stderr);
  return { metrics: lastJson(r.stdout), stderr: r.stderr };
}

function evalCli(bundle: string, dir: string): Record<string, any> {
  const out = execFileSync(process.execPath, [CLI, "eval", "--model", bundle, "--news", join(dir, "news.tsv"), "--behaviors", join(dir, "behaviors.tsv")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  return lastJson(out);
}

function assertParity(trainer: Record<string, any>, served: Record<string, any>): void {
  for (const k of ["auc", "mrr", "ndcg5", "ndcg10"]) assert.ok(Math.abs(trainer[k] - served[k]) <= 0.001, `${k}: trainer ${trainer[k]} vs eval ${served[k]}`);
  assert.equal(served.impressions, trainer.impressions);
  assert.equal(served.skipped.emptyHistory, trainer.skipped.emptyHistory);
}

describe("model toolchain smoke (PyTorch → ONNX → TypeScript)", { skip: SKIP }, () => {
  const work = mkdtempSync(join(tmpdir(), "newsrec-smoke-"));
  after(() => rmSync(work, { recursive: true, force: true }));
  const corpus = join(work, "corpus");

  test("synth, train 1 epoch (hierarchical), golden parity and eval parity", () => {
    execFileSync(process.execPath, [CLI, "synth", "--out", corpus, "--news", "1500", "--users", "400", "--seed", "5"], { stdio: "ignore" });
    const out = join(work, "hier");
    const { metrics } = train([
      "--train",
      join(corpus, "train"),
      "--valid",
      join(corpus, "valid"),
      "--out",
      out,
      "--epochs",
      "1",
      "--dim",
      "32",
      "--seed",
      "3",
    ]);
    assert.ok(metrics.impressions > 300);
    return checkGolden(out).then((n) => {
      assert.ok(n >= 20);
      assertParity(metrics, evalCli(out, join(corpus, "valid")));
    });
  });

  test("siamese text architecture: golden parity and eval parity", async () => {
    const out = join(work, "siamese");
    const { metrics } = train([
      "--train",
      join(corpus, "train"),
      "--valid",
      join(corpus, "valid"),
      "--out",
      out,
      "--arch",
      "siamese",
      "--epochs",
      "1",
      "--dim",
      "32",
      "--fields",
      "title,abstract",
      "--max-user-len",
      "64",
    ]);
    assert.ok((await checkGolden(out)) >= 20);
    assertParity(metrics, evalCli(out, join(corpus, "valid")));
  });

  test("the same seed trains the same model", () => {
    const run = (out: string) =>
      train([
        "--train",
        join(corpus, "train"),
        "--valid",
        join(corpus, "valid"),
        "--out",
        join(work, out),
        "--epochs",
        "1",
        "--dim",
        "16",
        "--heads",
        "2",
        "--seed",
        "9",
      ]);
    const a = run("r1");
    const b = run("r2");
    assert.deepEqual(a.metrics, b.metrics);
  });

  test("the trainer reads the real MIND sample, reporting skipped ids", { skip: SHARED_SKIP }, () => {
    const { metrics, stderr } = train([
      "--train",
      MIND_SAMPLE,
      "--valid",
      MIND_SAMPLE,
      "--out",
      join(work, "mind"),
      "--epochs",
      "1",
      "--dim",
      "16",
      "--heads",
      "2",
      "--min-word-count",
      "1",
    ]);
    const m = /skipped (\{.*\})/.exec(stderr);
    assert.ok(m, stderr);
    const skipped = JSON.parse(m[1]!);
    assert.ok(skipped.unknownHistoryIds > 0 && skipped.unknownCandidateIds > 0, m[1]);
    assert.equal(typeof metrics.auc, "number");
  });
});
