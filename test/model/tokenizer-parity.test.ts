import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBundle } from "../../src/model/bundle.ts";
import { TextTokenizer } from "../../src/model/tokenizer.ts";
import { DEFAULT_BUNDLE, MIND_SAMPLE, ROOT, SHARED_SKIP } from "../helpers.ts";

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
