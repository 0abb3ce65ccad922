import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readNewsFile } from "../../src/catalog/newsfile.ts";
import { loadBundle } from "../../src/model/bundle.ts";
import { TextTokenizer } from "../../src/model/tokenizer.ts";
import { DEFAULT_BUNDLE, FUM_BUNDLE, MIND_SAMPLE, ROOT, SHARED_SKIP } from "../helpers.ts";

// The Python side needs only the standard library, so any python3 runs it.
const PY = process.env.NEWSREC_TOKENIZER_PYTHON ?? "python3";

test("Python and TypeScript tokenize every real MIND title to the same ids", { skip: SHARED_SKIP }, () => {
  // A vocabulary of every word of the sample, so that real words, not only [UNK], are compared.
  const dir = mkdtempSync(join(tmpdir(), "tok-"));
  try {
    const tokPath = join(dir, "tokenizer.json");
    const out = execFileSync(PY, [join(ROOT, "models/training/tokenize_titles.py"), tokPath, join(MIND_SAMPLE, "news.tsv"), "--build"], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    const manifest = { ...loadBundle(DEFAULT_BUNDLE).manifest };
    const tok = new TextTokenizer(JSON.parse(readFileSync(tokPath, "utf8")), manifest);
    const rows = out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id: string; ids: number[] });
    const titles = new Map(
      readFileSync(join(MIND_SAMPLE, "news.tsv"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => {
          const c = l.split("\t");
          return [c[0]!, c[3]!];
        }),
    );
    assert.ok(rows.length >= 1900, `compared ${rows.length} titles`);
    let nonAscii = 0;
    let known = 0;
    for (const r of rows) {
      const title = titles.get(r.id)!;
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the range names every ASCII code point, control characters included.
      if (/[^\x00-\x7f]/.test(title)) nonAscii++;
      const ids = tok.ids(title);
      assert.deepEqual(ids, r.ids, `title of ${r.id}: ${title}`);
      known += ids.filter((i) => i !== 1).length;
    }
    assert.ok(nonAscii > 0, "the sample includes non-ASCII titles");
    assert.ok(known > rows.length * 5, "ids are mostly real words");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("tricky text tokenizes identically on both sides", () => {
  const bundle = loadBundle(DEFAULT_BUNDLE);
  const tok = new TextTokenizer(bundle.tokenizerJson, bundle.manifest);
  const texts = [
    "Beyoncé's « Renaissance » tour",
    "naïve café — 10% off!!",
    "ΣΊΣΥΦΟΣ and İstanbul",
    "tabs\tand\u00a0nbsp\u2003em-space",
    "emoji 🎉 party",
    "[SEP] [UNK] ##word",
    "",
  ];
  const script = `import json,sys\nsys.path.insert(0, ${JSON.stringify(join(ROOT, "models/training"))})\nfrom text_tokenizer import WordTokenizer\nt=WordTokenizer.load(${JSON.stringify(join(DEFAULT_BUNDLE, "tokenizer.json"))})\nfor s in json.load(sys.stdin): print(json.dumps(t.tokenize(s)))`;
  const out = execFileSync(PY, ["-c", script], { input: JSON.stringify(texts), encoding: "utf8" });
  const py = out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  texts.forEach((t, i) => assert.deepEqual(tok.ids(t), py[i], JSON.stringify(t)));
});

/**
 * FUM's history inputs: the token ids the catalog computes and keeps for each news item (the
 * user encoder's tokens.fields joined by [SEP], cut to tokens.maxLength, never empty), against
 * the trainer's rule for the same rows (train.py Model.fum_news_ids: WordTokenizer.encode_fields
 * over the fields, on mind.py's reading of news.tsv). Returns how many items were compared.
 */
async function fumParity(tokenizerPath: string, newsPath: string): Promise<number> {
  const bundle = loadBundle(FUM_BUNDLE);
  const user = bundle.manifest.encoders.user;
  assert.equal(user.input, "news_tokens_and_vectors");
  if (user.input !== "news_tokens_and_vectors") return 0;
  const script = [
    "import json, sys",
    `sys.path.insert(0, ${JSON.stringify(join(ROOT, "models/training"))})`,
    "from mind import Skips, read_news",
    "from text_tokenizer import WordTokenizer",
    "tok = WordTokenizer.load(sys.argv[1])",
    "fields, max_len = json.loads(sys.argv[3])",
    "for nid, n in read_news(sys.argv[2], Skips()).items():",
    "    print(json.dumps({'id': nid, 'ids': tok.encode_fields([getattr(n, f) for f in fields], max_len)}))",
  ].join("\n");
  const out = execFileSync(PY, ["-c", script, tokenizerPath, newsPath, JSON.stringify([user.tokens.fields, user.tokens.maxLength])], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  const py = new Map(
    out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id: string; ids: number[] })
      .map((r) => [r.id, r.ids]),
  );
  const tok = new TextTokenizer(JSON.parse(readFileSync(tokenizerPath, "utf8")), bundle.manifest);
  const { items } = await readNewsFile(newsPath);
  assert.equal(items.length, py.size, "both sides read the same rows");
  for (const n of items) assert.deepEqual(tok.clickedNews(n), py.get(n.id), `${n.id}: ${n.title} / ${n.category}`);
  return items.length;
}

test("FUM history inputs: the token ids kept per news equal the trainer's, on the bundle's vocabulary and tricky rows", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tok-fum-"));
  try {
    const corpus = join(dir, "corpus");
    execFileSync(
      process.execPath,
      [join(ROOT, "bin/newsrec.mjs"), "synth", "--out", corpus, "--news", "400", "--users", "20", "--entities", "20", "--seed", "9"],
      {
        stdio: "ignore",
      },
    );
    const tricky = [
      // A title longer than tokens.maxLength: cut, [SEP] and category never reached.
      ["T-long", "sports", "football_nfl", Array(30).fill("team win").join(" "), ""],
      // Exactly filling tokens.maxLength with the title, so the [SEP] would be the 17th id.
      ["T-full", "news", "newsus", Array(16).fill("storm").join(" "), ""],
      ["T-unicode", "entertainment", "music", "Beyoncé's « Renaissance » tour: naïve café — 10%?", "x"],
      ["T-unknown", "zzqx", "", "Qwzx vbnm plokij", ""],
      ["T-nocat", "", "", "Breaking", "only abstract words here"],
      ["T-spaces", "lifestyle", "", "  nbsp\u00a0and\u2003em  spaces  ", ""],
    ].map((c) => [...c, "", "[]", "[]"].join("\t"));
    const news = join(dir, "news.tsv");
    writeFileSync(news, `${readFileSync(join(corpus, "train", "news.tsv"), "utf8")}${tricky.join("\n")}\n`);
    assert.ok((await fumParity(join(FUM_BUNDLE, "tokenizer.json"), news)) >= 406);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("FUM history inputs: the token ids kept per news equal the trainer's on every real MIND row", { skip: SHARED_SKIP }, async () => {
  // A vocabulary of every title word of the sample, so that real words, not only [UNK], are compared.
  const dir = mkdtempSync(join(tmpdir(), "tok-fum-mind-"));
  try {
    const tokPath = join(dir, "tokenizer.json");
    execFileSync(PY, [join(ROOT, "models/training/tokenize_titles.py"), tokPath, join(MIND_SAMPLE, "news.tsv"), "--build"], { stdio: "ignore" });
    assert.ok((await fumParity(tokPath, join(MIND_SAMPLE, "news.tsv"))) >= 1900);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
