/**
 * One set of MIND row rules (docs/mind-format.md), two readers: the trainer's (Python,
 * models/training/mind.py) and the server's (src/catalog/newsfile.ts, src/eval/behaviors.ts). A row
 * one accepts and the other skips is trained on and then missing from `embed` and `eval`, so both
 * read the same files here, one row per rule, and must return the same rows and the same refusals.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readNewsFile } from "../../src/catalog/newsfile.ts";
import { readBehaviors } from "../../src/eval/behaviors.ts";
import { MIND_SAMPLE, PYTHON, ROOT, SHARED_SKIP } from "../helpers.ts";

const FIXTURES = join(ROOT, "test/fixtures/mind-rules");
const TRAINING = join(ROOT, "models/training");
const pythonOk = spawnSync(PYTHON, ["-c", "pass"]).status === 0;
// CI has python3; elsewhere its absence skips only the Python half.
const PY_SKIP = pythonOk || process.env.CI ? false : `${PYTHON} is absent`;

interface Problem {
  line: number;
  reason: string;
}
interface NewsRow {
  id: string;
  category: string;
  subcategory: string;
  title: string;
  abstract: string;
}
interface BehaviorRow {
  id: string;
  userId: string;
  history: string[];
  candidates: string[];
  labels: number[];
}

async function tsNews(path: string): Promise<{ rows: NewsRow[]; problems: Problem[] }> {
  const r = await readNewsFile(path);
  const rows = r.items.map((n) => ({ id: n.id, category: n.category ?? "", subcategory: n.subcategory ?? "", title: n.title, abstract: n.abstract ?? "" }));
  return { rows, problems: r.problems };
}

async function tsBehaviors(path: string): Promise<{ rows: BehaviorRow[]; problems: Problem[] }> {
  const r = await readBehaviors(path);
  return { rows: r.impressions, problems: r.problems };
}

function python(kind: "news" | "behaviors", path: string): any {
  const r = spawnSync(PYTHON, ["mind.py", kind, path], { cwd: TRAINING, encoding: "utf8", maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function pyNews(path: string): { rows: NewsRow[]; problems: Problem[] } {
  const out = python("news", path);
  return { rows: out.rows.map(({ nid, ...n }: any) => ({ id: nid, ...n })), problems: out.problems };
}

function pyBehaviors(path: string): { rows: BehaviorRow[]; problems: Problem[] } {
  const out = python("behaviors", path);
  const rows = out.rows.map((i: any) => ({
    id: i.iid,
    userId: i.user,
    history: i.history,
    candidates: i.candidates.map((c: [string, number]) => c[0]),
    labels: i.candidates.map((c: [string, number]) => c[1]),
  }));
  return { rows, problems: out.problems };
}

const NEWS_PROBLEMS: Problem[] = [
  { line: 7, reason: "expected 8 tab-separated columns, found 7" },
  { line: 8, reason: "expected 8 tab-separated columns, found 9" },
  { line: 9, reason: "empty news id" },
  { line: 10, reason: "news id contains whitespace" },
  { line: 11, reason: "empty title" },
  { line: 12, reason: "title_entities is not a JSON array" },
  { line: 13, reason: "abstract_entities is not a JSON array" },
  { line: 14, reason: "title_entities is not a JSON array" },
  { line: 15, reason: "duplicate id N2 (first on line 2)" },
  { line: 16, reason: "empty title" },
  { line: 18, reason: "not valid UTF-8" },
];

const BEHAVIOR_PROBLEMS: Problem[] = [
  { line: 5, reason: "expected 5 tab-separated columns, found 4" },
  { line: 6, reason: "expected 5 tab-separated columns, found 6" },
  { line: 7, reason: "empty impression id" },
  { line: 8, reason: "empty user id" },
  { line: 9, reason: "empty impressions column" },
  ...["N3", "N2-2", "-1", "N2-01"].map((tok, i) => ({ line: 10 + i, reason: `impression token ${tok} is not of the form N123-1 (a news id, a dash, 0 or 1)` })),
  { line: 17, reason: "not valid UTF-8" },
];

test("the committed fixtures are what make.mjs writes", () => {
  const dir = mkdtempSync(join(tmpdir(), "mind-rules-"));
  try {
    const r = spawnSync(process.execPath, [join(FIXTURES, "make.mjs"), dir], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    for (const f of ["news.tsv", "behaviors.tsv"])
      assert.ok(readFileSync(join(dir, f)).equals(readFileSync(join(FIXTURES, f))), `${f} differs: run node test/fixtures/mind-rules/make.mjs`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("news.tsv rules: byte-order marks, CRLF and CR, trimming, refusals with reasons, the first of a duplicate id wins", async () => {
  const r = await tsNews(join(FIXTURES, "news.tsv"));
  assert.deepEqual(
    r.rows.map((n) => n.id),
    ["N1", "N2", "N3", "N4", "N12", "N14", "N15", "N16", "N-17"],
  );
  assert.deepEqual(r.problems, NEWS_PROBLEMS);
  const byId = new Map(r.rows.map((n) => [n.id, n]));
  assert.equal(byId.get("N2")!.title, "A CRLF line", "the CR of CRLF is not part of the last column");
  assert.deepEqual(byId.get("N3"), { id: "N3", category: "sports", subcategory: "newsus", title: "Padded title", abstract: "padded abstract" });
  assert.equal(byId.get("N15")!.title, "\u00a0Beyoncé\u2028tour — naïve café\u00a0", "only ASCII whitespace is trimmed");
});

test("behaviors.tsv rules: byte-order marks, CRLF and CR, empty history, token format, unknown ids kept", async () => {
  const r = await tsBehaviors(join(FIXTURES, "behaviors.tsv"));
  assert.deepEqual(r.problems, BEHAVIOR_PROBLEMS);
  assert.deepEqual(r.rows, [
    { id: "1", userId: "U1", history: ["N1", "N2"], candidates: ["N3", "N4"], labels: [1, 0] },
    { id: "2", userId: "U2", history: [], candidates: ["N1", "N2"], labels: [0, 1] },
    { id: "3", userId: "U3", history: ["N1", "N2"], candidates: ["N3", "N4"], labels: [1, 0] },
    { id: "13", userId: "U13", history: ["N-17"], candidates: ["N-17", "N1"], labels: [1, 0] },
    { id: "14", userId: "U14", history: ["N998", "N1"], candidates: ["N999", "N2", "N4"], labels: [1, 0, 1] },
    { id: "1", userId: "U1", history: ["N1"], candidates: ["N2"], labels: [1] },
    { id: "16", userId: "U16", history: ["N12"], candidates: ["N15", "N16"], labels: [1, 0] },
  ]);
});

test("the trainer's reader returns the same rows and refusals as the server's on the rule fixtures", { skip: PY_SKIP }, async () => {
  for (const f of ["news.tsv", "behaviors.tsv"]) {
    const p = join(FIXTURES, f);
    if (f === "news.tsv") assert.deepEqual(pyNews(p), await tsNews(p));
    else assert.deepEqual(pyBehaviors(p), await tsBehaviors(p));
  }
});

test("the trainer drops and counts ids missing from news.tsv, keeping the row", { skip: PY_SKIP }, () => {
  const code =
    "import json, sys; from mind import Skips, read_dir; s = Skips(); n, b = read_dir(sys.argv[1], s); print(json.dumps([s.as_dict(), [[i.iid, i.history, i.candidates] for i in b]]))";
  const r = spawnSync(PYTHON, ["-c", code, FIXTURES], { cwd: TRAINING, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const [skips, rows] = JSON.parse(r.stdout);
  assert.deepEqual(skips, { badNewsRows: 11, badBehaviorRows: 10, unknownHistoryIds: 1, unknownCandidateIds: 1 });
  assert.deepEqual(rows[4], [
    "14",
    ["N1"],
    [
      ["N2", 0],
      ["N4", 1],
    ],
  ]);
});

test("the trainer reads a spreadsheet-saved folder (byte-order marks, CRLF) and keeps the first of a duplicate id", { skip: PY_SKIP }, () => {
  const dir = mkdtempSync(join(tmpdir(), "mind-crlf-"));
  try {
    const row = (id: string, title: string) => [id, "news", "newsus", title, "", "", "[]", "[]"].join("\t");
    writeFileSync(
      join(dir, "news.tsv"),
      `\ufeff${[row("N1", "Storm hits the coast"), row("N2", "Markets rally"), row("N2", "A later duplicate"), ""].join("\r\n")}`,
    );
    writeFileSync(join(dir, "behaviors.tsv"), `\ufeff${["1\tU1\tt\tN1\tN2-1 N1-0", "2\tU2\tt\tN2\tN1-1 N2-0", ""].join("\r\n")}`);
    const code =
      "import json, sys; from mind import Skips, read_dir; s = Skips(); n, b = read_dir(sys.argv[1], s); print(json.dumps([s.as_dict(), {k: v.title for k, v in n.items()}, [i.candidates for i in b]]))";
    const r = spawnSync(PYTHON, ["-c", code, dir], { cwd: TRAINING, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const [skips, titles, candidates] = JSON.parse(r.stdout);
    assert.deepEqual(titles, { N1: "Storm hits the coast", N2: "Markets rally" });
    assert.deepEqual(candidates, [
      [
        ["N2", 1],
        ["N1", 0],
      ],
      [
        ["N1", 1],
        ["N2", 0],
      ],
    ]);
    assert.deepEqual(skips, { badNewsRows: 1, badBehaviorRows: 0, unknownHistoryIds: 0, unknownCandidateIds: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the trainer's reader imports no torch (the tests run it under a bare python3)", { skip: PY_SKIP }, () => {
  const r = spawnSync(PYTHON, ["-c", "import sys, mind; assert 'torch' not in sys.modules, 'mind imports torch'"], { cwd: TRAINING, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
});

test("both readers agree on every row of the real MIND sample", { skip: SHARED_SKIP || PY_SKIP }, async () => {
  const news = join(MIND_SAMPLE, "news.tsv");
  const ts = await tsNews(news);
  assert.equal(ts.rows.length, 2000);
  assert.deepEqual(pyNews(news), ts);
  const behaviors = join(MIND_SAMPLE, "behaviors.tsv");
  const tb = await tsBehaviors(behaviors);
  assert.equal(tb.rows.length, 5000);
  assert.deepEqual(pyBehaviors(behaviors), tb);
});
