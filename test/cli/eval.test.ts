import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_BUNDLE, FUM_BUNDLE, MIND_SAMPLE, PUNR_BUNDLE, ROOT, SHARED_SKIP } from "../helpers.ts";

const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/newsrec.mjs"), ...args], { encoding: "utf8" });
const last = (out: string) => JSON.parse(out.trim().split("\n").pop()!);

test("newsrec eval runs on the real MIND sample, counting what it skips, and a snapshot gives the same numbers", { skip: SHARED_SKIP }, () => {
  const news = join(MIND_SAMPLE, "news.tsv");
  const behaviors = join(MIND_SAMPLE, "behaviors.tsv");
  const r = cli("eval", "--model", DEFAULT_BUNDLE, "--news", news, "--behaviors", behaviors);
  assert.equal(r.status, 0, r.stderr);
  const m = last(r.stdout);
  assert.ok(m.impressions > 0);
  assert.ok(m.skipped.emptyHistory > 0 && m.skipped.singleClass > 0 && m.skipped.unknownCandidates > 0, JSON.stringify(m.skipped));
  assert.equal(m.impressions + m.skipped.emptyHistory + m.skipped.singleClass, 5000);
  assert.match(r.stderr, /auc\s+mrr\s+ndcg5\s+ndcg10/);
  const dir = mkdtempSync(join(tmpdir(), "eval-"));
  try {
    assert.equal(cli("embed", "--news", news, "--out", join(dir, "snap")).status, 0);
    const s = cli("eval", "--model", DEFAULT_BUNDLE, "--snapshot", join(dir, "snap"), "--behaviors", behaviors);
    assert.equal(s.status, 0, s.stderr);
    const ms = last(s.stdout);
    for (const k of ["auc", "mrr", "ndcg5", "ndcg10", "impressions"]) assert.ok(Math.abs(ms[k] - m[k]) < 1e-9, k);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("newsrec eval --compare puts two bundles side by side with the difference", { skip: SHARED_SKIP }, () => {
  const r = cli(
    "eval",
    "--model",
    DEFAULT_BUNDLE,
    "--compare",
    DEFAULT_BUNDLE,
    "--news",
    join(MIND_SAMPLE, "news.tsv"),
    "--behaviors",
    join(MIND_SAMPLE, "behaviors.tsv"),
    "--limit",
    "2000",
  );
  assert.equal(r.status, 0, r.stderr);
  const m = last(r.stdout);
  assert.equal(m.compare.auc, m.auc);
  assert.match(r.stderr, /difference \(second - first\)\s+0\.0000/);
});

test("newsrec eval on the FUM and pre-trained siamese fixtures reproduces the trainer's metrics; embed writes FUM's token ids and eval --snapshot agrees", () => {
  const dir = mkdtempSync(join(tmpdir(), "eval-fum-"));
  try {
    // The fixtures' own corpus (models/training/build-fixtures.sh): the same seed gives the same bytes.
    const s = cli("synth", "--out", join(dir, "corpus"), "--news", "1500", "--users", "500", "--unlabeled-users", "1500", "--entities", "30", "--seed", "4");
    assert.equal(s.status, 0, s.stderr);
    const news = join(dir, "corpus", "valid", "news.tsv");
    const behaviors = join(dir, "corpus", "valid", "behaviors.tsv");
    const metrics = ["auc", "mrr", "ndcg5", "ndcg10"] as const;
    const fum = { dir: FUM_BUNDLE, m: {} as Record<string, number> };
    for (const b of [fum, { dir: PUNR_BUNDLE, m: {} as Record<string, number> }]) {
      const trainer = JSON.parse(readFileSync(join(b.dir, "manifest.json"), "utf8")).validation;
      const r = cli("eval", "--model", b.dir, "--news", news, "--behaviors", behaviors);
      assert.equal(r.status, 0, r.stderr);
      b.m = last(r.stdout);
      assert.equal(b.m.impressions, trainer.impressions);
      for (const k of metrics) assert.ok(Math.abs(b.m[k]! - trainer[k]) <= 0.001, `${b.dir} ${k}: eval ${b.m[k]} vs trainer ${trainer[k]}`);
    }
    const snap = join(dir, "snap");
    const e = cli("embed", "--model", FUM_BUNDLE, "--news", news, "--out", snap, "--workers", "1");
    assert.equal(e.status, 0, e.stderr);
    const manifest = JSON.parse(readFileSync(join(snap, "manifest.json"), "utf8"));
    assert.deepEqual(manifest.tokens, { width: 16, bytesPerId: 2 });
    assert.equal(statSync(join(snap, "tokens.bin")).size, manifest.slots * 17 * 2);
    const r = cli("eval", "--model", FUM_BUNDLE, "--snapshot", snap, "--behaviors", behaviors);
    assert.equal(r.status, 0, r.stderr);
    const ms = last(r.stdout);
    for (const k of [...metrics, "impressions"] as const) assert.ok(Math.abs(ms[k] - fum.m[k]!) < 1e-9, k);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
