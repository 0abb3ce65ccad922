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
import type { Manifest } from "../../src/model/manifest.ts";
import { type Feed, openSession, runSession } from "../../src/model/onnx.ts";
import { TextTokenizer } from "../../src/model/tokenizer.ts";
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

function close(actual: ArrayLike<number>, expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  assert.ok(worst <= tol, `${what}: max abs difference ${worst} > ${tol}`);
}

const int64 = (rows: number[][], width: number): BigInt64Array => {
  const out = new BigInt64Array(rows.length * width);
  rows.forEach((r, i) => r.forEach((x, j) => (out[i * width + j] = BigInt(x))));
  return out;
};
const maskOf = (rows: number[][], width: number): BigInt64Array =>
  int64(
    rows.map((r) => r.map(() => 1)),
    width,
  );

interface FumGolden {
  tolerance: number;
  news: { id: string; title: string; abstract: string; category: string; subcategory: string; ids: number[]; vector: number[] }[];
  users: { id: string; history: string[]; vector: number[]; attention: number[]; tokenIds: number[][] }[];
}

/**
 * A FUM bundle against PyTorch without the server (which refuses FUM bundles for now): the news and
 * the FUM history token ids from the bundle's tokenizer.json as the server tokenizes, and both ONNX
 * encoders through onnxruntime-node, each user alone and all in one padded batch.
 */
async function checkFumGolden(dir: string): Promise<number> {
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;
  const golden = JSON.parse(readFileSync(join(dir, "golden.json"), "utf8")) as FumGolden;
  const user = manifest.encoders.user;
  assert.equal(user.input, "news_tokens_and_vectors");
  if (user.input !== "news_tokens_and_vectors") return 0;
  const tokJson = JSON.parse(readFileSync(join(dir, manifest.tokenizer.file), "utf8"));
  const newsTok = new TextTokenizer(tokJson, manifest);
  // The FUM history inputs follow the news rule (fields joined by [SEP], cut, never empty) with the
  // user encoder's own fields and length.
  const fumTok = new TextTokenizer(tokJson, { ...manifest, newsInput: { fields: user.tokens.fields, maxLength: user.tokens.maxLength } });
  const o = { providers: ["cpu" as const], intraOpThreads: 1, log: () => {} };
  const newsSession = (await openSession(readFileSync(join(dir, manifest.encoders.news.file)), "news", o)).session;
  const userSession = (await openSession(readFileSync(join(dir, user.file)), "user", o)).session;
  const d = manifest.dimension;
  let compared = 0;
  try {
    const ids = golden.news.map((n) => newsTok.news(n));
    golden.news.forEach((n, i) => assert.deepEqual(ids[i], n.ids, `token ids of ${n.id}`));
    const width = Math.max(...ids.map((x) => x.length));
    const news = manifest.encoders.news;
    const out = await runSession(
      newsSession,
      {
        [news.inputs.ids]: { kind: "int64", data: int64(ids, width), dims: [ids.length, width] },
        [news.inputs.mask]: { kind: "int64", data: maskOf(ids, width), dims: [ids.length, width] },
      },
      [news.outputs.vector],
    );
    const vecs = new Map(golden.news.map((n, i) => [n.id, out[news.outputs.vector]!.data.slice(i * d, (i + 1) * d)]));
    golden.news.forEach((n) => {
      close(vecs.get(n.id)!, n.vector, golden.tolerance, `news ${n.id}`);
      compared++;
    });
    const meta = new Map(golden.news.map((n) => [n.id, n]));
    for (const u of golden.users) {
      const ids: number[][] = u.history.slice(-user.tokens.maxNews).map((h) => fumTok.news(meta.get(h)!));
      assert.deepEqual(ids, u.tokenIds, `FUM token ids of ${u.id}`);
    }
    const run = async (users: FumGolden["users"]) => {
      const h = Math.max(...users.map((u) => u.history.length));
      const tok = users.map((u) => u.tokenIds);
      const n = Math.max(...tok.map((t) => t.length));
      const t = Math.max(...tok.flat().map((x) => x.length));
      const vectors = new Float32Array(users.length * h * d);
      const mask = new Float32Array(users.length * h);
      const tokenIds = new BigInt64Array(users.length * n * t);
      const tokenMask = new BigInt64Array(users.length * n * t);
      users.forEach((u, i) => {
        u.history.forEach((id, j) => {
          vectors.set(vecs.get(id)!, (i * h + j) * d);
          mask[i * h + j] = 1;
        });
        u.tokenIds.forEach((row, j) =>
          row.forEach((x, k) => {
            tokenIds[(i * n + j) * t + k] = BigInt(x);
            tokenMask[(i * n + j) * t + k] = 1n;
          }),
        );
      });
      const feeds: Record<string, Feed> = {
        [user.inputs.vectors]: { kind: "float32", data: vectors, dims: [users.length, h, d] },
        [user.inputs.mask]: { kind: "float32", data: mask, dims: [users.length, h] },
        [user.inputs.tokenIds]: { kind: "int64", data: tokenIds, dims: [users.length, n, t] },
        [user.inputs.tokenMask]: { kind: "int64", data: tokenMask, dims: [users.length, n, t] },
      };
      const res = await runSession(userSession, feeds, [user.outputs.vector, user.outputs.attention!]);
      return users.map((u, i) => ({
        vector: res[user.outputs.vector]!.data.slice(i * d, (i + 1) * d),
        attention: res[user.outputs.attention!]!.data.slice(i * h, i * h + u.history.length),
      }));
    };
    // Alone, then all in one batch padded to the longest history: padding must not change a vector.
    const batched = await run(golden.users);
    for (const [i, u] of golden.users.entries()) {
      const [alone] = await run([u]);
      for (const [how, got] of [
        ["alone", alone!],
        ["batched", batched[i]!],
      ] as const) {
        close(got.vector, u.vector, golden.tolerance, `user ${u.id} (${how})`);
        close(got.attention, u.attention, golden.tolerance, `user ${u.id} attention (${how})`);
        compared++;
      }
    }
  } finally {
    await newsSession.release();
    await userSession.release();
  }
  return compared;
}

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

  for (const [objective, arch, tasks] of [
    ["ptum", "hierarchical", ["mbp", "nbp"]],
    ["userbert", "hierarchical", ["mbp", "bsm"]],
    ["punr", "siamese", ["ubm", "ubg"]],
  ] as const) {
    test(`${objective} (${arch}): one epoch lowers its loss; fine-tuned from the checkpoint, exported, eval reproduces the trainer`, async () => {
      const summary = pretrain(objective, arch);
      assert.deepEqual(Object.keys(summary.losses).sort(), [...tasks].sort());
      const out = join(work, `bundle-${objective}`);
      const { json: metrics, stderr } = ok("train.py", [
        "--train",
        trainDir,
        "--valid",
        validDir,
        "--out",
        out,
        "--arch",
        arch,
        "--init",
        checkpoints[`${objective}-${arch}`]!,
        "--epochs",
        "1",
        ...common,
      ]);
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
    const { json: metrics } = ok("train.py", [
      "--train",
      trainDir,
      "--valid",
      validDir,
      "--out",
      out,
      "--arch",
      "fum",
      "--init",
      checkpoints["ptum-fum"]!,
      "--epochs",
      "1",
      ...common,
    ]);
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    assert.equal(manifest.architecture, "fum");
    assert.deepEqual(manifest.encoders.user.tokens, { fields: ["title", "category"], maxLength: 16, maxNews: 10 });
    assert.ok((await checkFumGolden(out)) >= 18);
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
