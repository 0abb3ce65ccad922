import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";

const CLI = join(ROOT, "bin/newsrec.mjs");
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });

test("newsrec synth writes a deterministic MIND-format corpus that looks like news", () => {
  const dir = mkdtempSync(join(tmpdir(), "synth-"));
  try {
    assert.equal(run("synth", "--out", join(dir, "a"), "--news", "3000", "--users", "500", "--seed", "4").status, 0);
    assert.equal(run("synth", "--out", join(dir, "b"), "--news", "3000", "--users", "500", "--seed", "4").status, 0);
    assert.equal(run("synth", "--out", join(dir, "c"), "--news", "3000", "--users", "500", "--seed", "5").status, 0);
    for (const f of ["train/news.tsv", "train/behaviors.tsv", "valid/behaviors.tsv"]) {
      assert.equal(readFileSync(join(dir, "a", f), "utf8"), readFileSync(join(dir, "b", f), "utf8"), `${f} is identical for one seed`);
    }
    assert.notEqual(readFileSync(join(dir, "a/train/behaviors.tsv"), "utf8"), readFileSync(join(dir, "c/train/behaviors.tsv"), "utf8"));
    const news = readFileSync(join(dir, "a/train/news.tsv"), "utf8")
      .trim()
      .split("\n")
      .map((l) => l.split("\t"));
    assert.ok(news.every((c) => c.length === 8 && c[3]!.trim()));
    const cats = new Set(news.map((c) => c[1]));
    const subs = new Set(news.map((c) => c[2]));
    assert.ok(cats.size >= 12, `${cats.size} categories`);
    assert.ok(subs.size >= 2 * cats.size, `${subs.size} subcategories`);
    const category = new Map(news.map((c) => [c[0]!, c[1]!]));
    let offInterest = 0;
    let clicks = 0;
    for (const line of readFileSync(join(dir, "a/train/behaviors.tsv"), "utf8").trim().split("\n")) {
      const c = line.split("\t");
      assert.equal(c.length, 5);
      assert.match(c[2]!, /^\d+\/\d+\/2019 \d+:\d\d:\d\d [AP]M$/);
      const imps = c[4]!.split(" ");
      assert.ok(imps.length >= 5 && imps.length <= 30, `${imps.length} candidates`);
      const clicked = imps.filter((x) => x.endsWith("-1")).map((x) => x.slice(0, -2));
      assert.ok(clicked.length >= 1 && clicked.length < imps.length);
      const histCats = new Set(
        c[3]!
          .split(" ")
          .filter(Boolean)
          .map((id) => category.get(id)),
      );
      if (histCats.size) {
        for (const id of clicked) {
          clicks++;
          if (!histCats.has(category.get(id))) offInterest++;
        }
      }
    }
    // Clicks outside every category of the user's history: the noise that keeps the task honest.
    assert.ok(offInterest / clicks >= 0.15, `off-interest share ${offInterest / clicks}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("CLI commands exit non-zero with a one-line reason on bad arguments", () => {
  const bad = run("synth", "--out", "/tmp/x", "--news", "-3");
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--news must be an integer/);
  const missing = run("eval", "--model", "models/default", "--news", "/nonexistent.tsv", "--behaviors", "/nonexistent.tsv");
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr.trim().split("\n").pop()!, /^newsrec: /);
  const help = run("--help");
  assert.equal(help.status, 0);
  for (const c of ["serve", "eval", "synth"]) assert.match(help.stdout, new RegExp(c));
});
