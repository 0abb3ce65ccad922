import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
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

const rows = (path: string): string[][] =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("\t"));

test("--unlabeled-users writes histories without impressions after the labelled users, leaving the labelled corpus as it was", () => {
  const dir = mkdtempSync(join(tmpdir(), "synth-unlabeled-"));
  try {
    const base = ["--news", "2000", "--users", "300", "--seed", "6"];
    assert.equal(run("synth", "--out", join(dir, "plain"), ...base).status, 0);
    assert.equal(run("synth", "--out", join(dir, "a"), ...base, "--unlabeled-users", "1500").status, 0);
    assert.equal(run("synth", "--out", join(dir, "b"), ...base, "--unlabeled-users", "1500").status, 0);
    assert.ok(!existsSync(join(dir, "plain/train/histories.tsv")), "no histories file unless asked for");
    for (const f of ["train/news.tsv", "train/behaviors.tsv", "valid/behaviors.tsv"]) {
      assert.equal(readFileSync(join(dir, "a", f), "utf8"), readFileSync(join(dir, "plain", f), "utf8"), `${f} unchanged by --unlabeled-users`);
    }
    const hist = readFileSync(join(dir, "a/train/histories.tsv"), "utf8");
    assert.equal(hist, readFileSync(join(dir, "b/train/histories.tsv"), "utf8"), "deterministic");
    const h = rows(join(dir, "a/train/histories.tsv"));
    const labelled = rows(join(dir, "a/train/behaviors.tsv"));
    assert.equal(h.length, 1500);
    assert.ok(h.length > labelled.length, "more unlabeled users than labelled impressions");
    const news = new Set(rows(join(dir, "a/train/news.tsv")).map((c) => c[0]));
    const labelledUsers = new Set(labelled.map((c) => c[1]));
    const rowIds = new Set(labelled.map((c) => c[0]));
    for (const c of h) {
      assert.equal(c.length, 5);
      assert.equal(c[4], "", "impressions column empty");
      assert.ok(!labelledUsers.has(c[1]) && !rowIds.has(c[0]), `${c[0]} ${c[1]} is new`);
      const clicks = c[3]!.split(" ");
      assert.ok(clicks.length >= 1 && clicks.every((id) => news.has(id)));
    }
    assert.equal(new Set(h.map((c) => c[1])).size, h.length, "one row per user");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("--entities: names recur across categories, and users click the entities of their history beyond their categories", () => {
  const dir = mkdtempSync(join(tmpdir(), "synth-entities-"));
  try {
    assert.equal(run("synth", "--out", dir, "--news", "4000", "--users", "1500", "--entities", "90", "--seed", "3").status, 0);
    const news = rows(join(dir, "train/news.tsv"));
    const entityOf = new Map<string, string>();
    const categoriesOf = new Map<string, Set<string>>();
    for (const c of news) {
      const mentions = JSON.parse(c[6]!) as { Label: string; WikidataId: string; OccurrenceOffsets: number[] }[];
      for (const m of mentions) {
        assert.equal(c[3]!.slice(m.OccurrenceOffsets[0], m.OccurrenceOffsets[0]! + m.Label.length), m.Label, "the offset points at the name in the title");
        entityOf.set(c[0]!, m.WikidataId);
        if (!categoriesOf.has(m.WikidataId)) categoriesOf.set(m.WikidataId, new Set());
        categoriesOf.get(m.WikidataId)!.add(c[1]!);
      }
    }
    assert.ok(entityOf.size > 0.4 * news.length && entityOf.size < 0.6 * news.length, `${entityOf.size} of ${news.length} news mention an entity`);
    assert.equal(categoriesOf.size, 90);
    const spread = [...categoriesOf.values()].filter((s) => s.size >= 3).length;
    assert.ok(spread >= 80, `${spread} of 90 entities appear in 3 or more categories`);

    const category = new Map(news.map((c) => [c[0]!, c[1]!]));
    // Clicked and non-clicked candidates that mention an entity of the user's history; and clicks
    // on such news outside every category of the history (what only the entity explains).
    const rate = { clicked: [0, 0], skipped: [0, 0] };
    let crossCategory = 0;
    for (const c of [...rows(join(dir, "train/behaviors.tsv")), ...rows(join(dir, "valid/behaviors.tsv"))]) {
      const hist = c[3]!.split(" ").filter(Boolean);
      const followed = new Set(hist.map((id) => entityOf.get(id)).filter(Boolean));
      const histCats = new Set(hist.map((id) => category.get(id)));
      for (const tok of c[4]!.split(" ")) {
        const id = tok.slice(0, -2);
        const hit = followed.has(entityOf.get(id));
        const r = tok.endsWith("-1") ? rate.clicked : rate.skipped;
        r[0]! += hit ? 1 : 0;
        r[1]! += 1;
        if (hit && tok.endsWith("-1") && !histCats.has(category.get(id))) crossCategory++;
      }
    }
    const clicked = rate.clicked[0]! / rate.clicked[1]!;
    const skipped = rate.skipped[0]! / rate.skipped[1]!;
    assert.ok(clicked > 2 * skipped, `clicked ${clicked.toFixed(3)} vs not clicked ${skipped.toFixed(3)} mention a history entity`);
    assert.ok(crossCategory >= 30, `${crossCategory} clicks explained by an entity outside the history's categories`);
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
