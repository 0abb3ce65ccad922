/**
 * Pre-training and FUM end to end, so that they cannot rot: on a tiny synthetic corpus with
 * unlabeled histories, each objective pre-trains one epoch and its loss falls, train.py fine-tunes
 * from the checkpoint and exports, and the served model reproduces the trainer's metrics through
 * `newsrec eval` (FUM included: the catalog keeps each news item's token ids for its user encoder).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PYTHON, ROOT } from "../helpers.ts";
import { checkGolden } from "../model/golden.ts";

const torchOk = spawnSync(PYTHON, ["-c", "import torch, onnx"]).status === 0;
// CI installs PyTorch from Debian, so there a missing toolchain is a failure, not a skip.
const SKIP = torchOk || process.env.CI ? false : `${PYTHON} has no torch/onnx (apt-get install python3-torch python3-onnx)`;
const CLI = join(ROOT, "bin/newsrec.mjs");
const TRAINING = join(ROOT, "models/training");

function lastJson(out: string): Record<string, any> {
  const lines = out.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

function python(script: string, args: string[]): { status: number | null; json: Record<string, any> | null; stderr: string } {
  const r = spawnSync(PYTHON, [join(TRAINING, script), ...args], { encoding: "utf8", maxBuffer: 64 << 20 });
  return { status: r.status, json: r.status === 0 ? lastJson(r.stdout) : null, stderr: r.stderr };
}

function ok(script: string, args: string[]): { json: Record<string, any>; stderr: string } {
  const r = python(script, args);
  assert.equal(r.status, 0, r.stderr);
  return { json: r.json!, stderr: r.stderr };
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
}

const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

describe("pre-training (PTUM, UserBERT, PUNR) and FUM: pretrain.py → train.py --init → ONNX", { skip: SKIP }, () => {
  const work = mkdtempSync(join(tmpdir(), "newsrec-pretrain-"));
  after(() => rmSync(work, { recursive: true, force: true }));
  const corpus = join(work, "corpus");
  const trainDir = join(corpus, "train");
  const validDir = join(corpus, "valid");
  const common = ["--threads", "1", "--seed", "3"];
  const checkpoints: Record<string, string> = {};

  before(() => {
    execFileSync(
      process.execPath,
      [CLI, "synth", "--out", corpus, "--news", "1500", "--users", "400", "--unlabeled-users", "1200", "--entities", "40", "--seed", "5"],
      {
        stdio: "ignore",
      },
    );
  });

  function pretrain(objective: string, arch: string): Record<string, any> {
    const ckpt = join(work, `${objective}-${arch}.ckpt`);
    const { json } = ok("pretrain.py", [
      "--objective",
      objective,
      "--arch",
      arch,
      "--data",
      trainDir,
      "--out",
      ckpt,
      "--epochs",
      "1",
      "--dim",
      "32",
      ...common,
    ]);
    checkpoints[`${objective}-${arch}`] = ckpt;
    assert.equal(json.objective, objective);
    assert.equal(json.arch, arch);
    // The labelled users' histories and the unlabeled ones, each user once.
    assert.ok(json.histories.fromBehaviors > 300 && json.histories.fromHistoriesFile > 1000, JSON.stringify(json.histories));
    assert.equal(json.histories.used, json.histories.fromBehaviors + json.histories.fromHistoriesFile);
    assert.ok(sum(json.losses) < sum(json.initialLosses), `loss ${JSON.stringify(json.initialLosses)} -> ${JSON.stringify(json.losses)}`);
    return json;
  }

  /** train.py for one epoch from a checkpoint pretrain() wrote. */
  const fineTune = (arch: string, checkpoint: string, out: string) =>
    ok("train.py", ["--train", trainDir, "--valid", validDir, "--out", out, "--arch", arch, "--init", checkpoints[checkpoint]!, "--epochs", "1", ...common]);

  for (const [objective, arch, tasks] of [
    ["ptum", "hierarchical", ["mbp", "nbp"]],
    ["userbert", "hierarchical", ["mbp", "bsm"]],
    ["punr", "siamese", ["ubm", "ubg"]],
  ] as const) {
    test(`${objective} (${arch}): one epoch lowers its loss; fine-tuned from the checkpoint, exported, eval reproduces the trainer`, async () => {
      const summary = pretrain(objective, arch);
      assert.deepEqual(Object.keys(summary.losses).sort(), [...tasks].sort());
      const out = join(work, `bundle-${objective}`);
      const { json: metrics, stderr } = fineTune(arch, `${objective}-${arch}`, out);
      assert.match(stderr, new RegExp(`encoders from .*: ${objective} `));
      // The checkpoint's settings, not the trainer's defaults (dimension 64).
      const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
      assert.equal(manifest.dimension, 32);
      assert.deepEqual(
        readdirSync(out)
          .filter((f) => f.endsWith(".onnx"))
          .sort(),
        arch === "siamese" ? ["text_encoder.onnx"] : ["news_encoder.onnx", "user_encoder.onnx"],
      );
      assert.ok((await checkGolden(out)) >= 20);
      assertParity(metrics, evalCli(out, validDir));
    });
  }

  test("fum: ptum pre-training, fine-tuning and export; ONNX and FUM tokenizer inputs match PyTorch; eval reproduces the trainer", async () => {
    pretrain("ptum", "fum");
    const out = join(work, "bundle-fum");
    const { json: metrics } = fineTune("fum", "ptum-fum", out);
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    assert.equal(manifest.architecture, "fum");
    assert.deepEqual(manifest.encoders.user.tokens, { fields: ["title", "category"], maxLength: 16, maxNews: 10 });
    assert.ok((await checkGolden(out)) >= 20);
    // Served: the catalog keeps each news item's token ids, and the user encoder reads them.
    assertParity(metrics, evalCli(out, validDir));
  });

  test("a hierarchical checkpoint starts FUM's news and coarse user encoders; --label-fraction trains on a seeded share, validation unchanged", () => {
    const ckpt = checkpoints["ptum-hierarchical"]!;
    assert.ok(ckpt, "the ptum test wrote it");
    const run = (fraction: string) =>
      ok("train.py", [
        "--train",
        trainDir,
        "--valid",
        validDir,
        "--out",
        join(work, `fum-${fraction}`),
        "--arch",
        "fum",
        "--init",
        ckpt,
        "--epochs",
        "1",
        "--label-fraction",
        fraction,
        ...common,
      ]);
    const part = run("0.25");
    assert.match(part.stderr, /ptum news encoder and FUM's coarse user encoder/);
    const m = /label fraction 0\.25: (\d+) of (\d+) training impressions/.exec(part.stderr);
    assert.ok(m, part.stderr);
    assert.equal(Number(m[1]), Math.round(0.25 * Number(m[2])));
    const all = run("1");
    assert.doesNotMatch(all.stderr, /label fraction/);
    assert.equal(part.json.impressions, all.json.impressions, "the same validation impressions");
    const samples = (s: string) => Number(/(\d+) training samples/.exec(s)![1]);
    assert.ok(samples(part.stderr) < samples(all.stderr) / 2, `${samples(part.stderr)} vs ${samples(all.stderr)} samples`);
  });

  test("objectives that do not fit an architecture, and checkpoints that do not fit the trainer, are refused with the reason", () => {
    const refusals: [string, string[], RegExp][] = [
      ["pretrain.py", ["--objective", "userbert", "--arch", "siamese"], /--objective userbert does not fit --arch siamese: .*\(it fits hierarchical\)/],
      ["pretrain.py", ["--objective", "userbert", "--arch", "fum"], /--objective userbert does not fit --arch fum: .*pre-train FUM with ptum/],
      ["pretrain.py", ["--objective", "punr", "--arch", "hierarchical"], /--objective punr does not fit --arch hierarchical: .*\(it fits siamese\)/],
      ["pretrain.py", ["--objective", "ptum", "--arch", "siamese"], /--objective ptum does not fit --arch siamese: .*\(it fits hierarchical, fum\)/],
    ];
    for (const [script, args, reason] of refusals) {
      const r = python(script, [...args, "--data", trainDir, "--out", join(work, "never.ckpt")]);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr.trim().split("\n").pop()!, reason);
    }
    assert.ok(!existsSync(join(work, "never.ckpt")));
    const trainArgs = ["--train", trainDir, "--valid", validDir, "--out", join(work, "never")];
    const siamese = checkpoints["punr-siamese"]!;
    const hier = checkpoints["ptum-hierarchical"]!;
    assert.ok(siamese && hier, "the punr and ptum tests wrote them");
    const wrong: [string[], RegExp][] = [
      [["--arch", "hierarchical", "--init", siamese], /holds siamese encoders, which do not fit --arch hierarchical \(it fits siamese\)/],
      [["--arch", "siamese", "--init", hier], /holds hierarchical encoders, which do not fit --arch siamese \(it fits hierarchical, fum\)/],
      [["--init", hier, "--dim", "64"], /--dim 64 differs from the checkpoint's 32/],
      [["--init", join(trainDir, "news.tsv")], /cannot read it|not a pretrain\.py checkpoint/],
      [["--label-fraction", "0"], /--label-fraction must be in \(0, 1\]/],
    ];
    for (const [args, reason] of wrong) {
      const r = python("train.py", [...trainArgs, ...args]);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr.trim().split("\n").pop()!, reason);
    }
    assert.ok(!existsSync(join(work, "never")));
  });
});
