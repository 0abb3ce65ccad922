/**
 * The manifest has one schema, models/manifest.schema.json, read by the exporter (Python,
 * jsonschema) before it writes a bundle and by the server (ajv) when it loads one. These tests hold
 * the TypeScript mirror equal to the file, every shipped manifest valid in both languages, and a
 * wrong field refused by both, naming the same field.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { BundleError, loadBundle } from "../../src/model/bundle.ts";
import { MANIFEST_SCHEMA_PATH, ManifestSchema, manifestProblem } from "../../src/model/manifest.ts";
import { DEFAULT_BUNDLE, PYTHON, ROOT, SIAMESE_BUNDLE } from "../helpers.ts";

const TRAINING = join(ROOT, "models/training");
const hasJsonschema = spawnSync(PYTHON, ["-c", "import jsonschema"]).status === 0;
// CI installs python3-jsonschema (.ci/run); elsewhere its absence skips only the Python half.
const PY_SKIP = hasJsonschema || process.env.CI ? false : `${PYTHON} has no jsonschema (apt-get install python3-jsonschema)`;
const hasTorch = spawnSync(PYTHON, ["-c", "import torch, onnx, jsonschema"]).status === 0;

function shippedManifests(): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== "training" && !e.name.startsWith(".")) walk(join(d, e.name));
      else if (e.name === "manifest.json") found.push(join(d, e.name));
    }
  };
  walk(join(ROOT, "models"));
  return found.sort();
}

const read = (p: string): any => JSON.parse(readFileSync(p, "utf8"));

/** Annotations say nothing about validity; the file documents, the mirror need not. */
function keywords(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(keywords);
  if (!v || typeof v !== "object") return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (["$schema", "title", "description", "$comment"].includes(k)) continue;
    out[k] = k === "properties" || k === "patternProperties" ? Object.fromEntries(Object.entries(x as object).map(([p, s]) => [p, keywords(s)])) : keywords(x);
  }
  return out;
}

/** Python's verdict on each manifest: null (valid) or "at /field: ...". */
function pythonProblems(manifests: unknown[]): (string | null)[] {
  const code = "import json, sys; from manifest_schema import problem; print(json.dumps([problem(m) for m in json.load(sys.stdin)]))";
  const r = spawnSync(PYTHON, ["-c", code], { cwd: TRAINING, input: JSON.stringify(manifests), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("the TypeScript mirror (ManifestSchema) is the schema file, keyword for keyword", () => {
  assert.deepEqual(keywords(JSON.parse(JSON.stringify(ManifestSchema))), keywords(read(MANIFEST_SCHEMA_PATH)));
});

test("every shipped bundle's manifest validates on the server", () => {
  const manifests = shippedManifests();
  assert.ok(manifests.length >= 2, manifests.join(", "));
  for (const p of manifests) {
    assert.equal(manifestProblem(read(p)), null, p);
    loadBundle(dirname(p));
  }
});

test("every shipped bundle's manifest validates in the exporter", { skip: PY_SKIP }, () => {
  const manifests = shippedManifests();
  const r = spawnSync(PYTHON, [join(TRAINING, "manifest_schema.py"), ...manifests], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.stdout.trim().split("\n").length, manifests.length);
});

// [what is wrong, bundle, edit, the field both must name]
const wrong: [string, string, (m: any) => void, string][] = [
  ["a string dimension", DEFAULT_BUNDLE, (m) => (m.dimension = "sixty-four"), "/dimension"],
  ["a negative token id", DEFAULT_BUNDLE, (m) => (m.tokenizer.padId = -1), "/tokenizer/padId"],
  ["a missing fingerprint", DEFAULT_BUNDLE, (m) => delete m.fingerprint, "/fingerprint"],
  ["a misspelt top-level key", DEFAULT_BUNDLE, (m) => (m.dimensions = 64), "/dimensions"],
  ["an unknown news field", DEFAULT_BUNDLE, (m) => (m.newsInput.fields = ["title", "body"]), "/newsInput/fields/1"],
  ["an unknown setting", DEFAULT_BUNDLE, (m) => (m.userInput.lowercase = true), "/userInput/lowercase"],
  ["a missing history mask name (hierarchical user encoder)", DEFAULT_BUNDLE, (m) => delete m.encoders.user.inputs.mask, "/encoders/user/inputs/mask"],
  ["a numeric output name (siamese user encoder)", SIAMESE_BUNDLE, (m) => (m.encoders.user.outputs.vector = 5), "/encoders/user/outputs/vector"],
  ["a file hash that is not sha256", DEFAULT_BUNDLE, (m) => (m.files["tokenizer.json"] = "abc"), "/files/tokenizer.json"],
  ["an AUC above 1", SIAMESE_BUNDLE, (m) => (m.validation.auc = 1.5), "/validation/auc"],
  ["an unknown architecture", DEFAULT_BUNDLE, (m) => (m.architecture = "two-tower"), "/architecture"],
  [
    "a FUM user encoder that reads no clicked news",
    DEFAULT_BUNDLE,
    (m) => {
      m.architecture = "fum";
      m.encoders.user.input = "news_tokens_and_vectors";
      Object.assign(m.encoders.user.inputs, { tokenIds: "history_ids", tokenMask: "history_ids_mask" });
      m.encoders.user.tokens = { fields: ["title", "category"], maxLength: 16, maxNews: 0 };
    },
    "/encoders/user/tokens/maxNews",
  ],
];

// Where the message is the project's own text (not the validator library's), it is word for word.
const SAME_WORDS: Record<string, string> = {
  "/fingerprint": "at /fingerprint: is required",
  "/dimensions": "at /dimensions: is not a known field",
  "/userInput/lowercase": "at /userInput/lowercase: is not a known field",
  "/encoders/user/inputs/mask": "at /encoders/user/inputs/mask: is required",
  "/architecture": 'at /architecture: must be one of "hierarchical", "siamese", "fum"',
};

test("a manifest with a wrong field is refused on load, naming the field", () => {
  for (const [what, bundle, edit, field] of wrong) {
    const dir = mkdtempSync(join(tmpdir(), "manifest-"));
    try {
      cpSync(bundle, dir, { recursive: true });
      const m = read(join(dir, "manifest.json"));
      edit(m);
      writeFileSync(join(dir, "manifest.json"), JSON.stringify(m, null, 2));
      assert.throws(
        () => loadBundle(dir),
        (e: Error) => e instanceof BundleError && e.message.includes(`manifest.json is invalid at ${field}: `),
        what,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test("the exporter refuses the same manifests, naming the same fields", { skip: PY_SKIP }, () => {
  const manifests = wrong.map(([, bundle, edit]) => {
    const m = read(join(bundle, "manifest.json"));
    edit(m);
    return m;
  });
  const py = pythonProblems(manifests);
  wrong.forEach(([what, , , field], i) => {
    assert.ok(py[i]?.startsWith(`at ${field}: `), `${what}: Python says ${py[i]}`);
    assert.ok(manifestProblem(manifests[i])!.startsWith(`at ${field}: `), `${what}: TypeScript says ${manifestProblem(manifests[i])}`);
    if (SAME_WORDS[field]) assert.deepEqual([py[i], manifestProblem(manifests[i])], [SAME_WORDS[field], SAME_WORDS[field]], what);
  });
});

test("the exporter's validate() raises before anything is written, and refuses NaN norms", { skip: PY_SKIP }, () => {
  const code = [
    "import json, sys, math",
    "from manifest_schema import ManifestError, validate",
    "m = json.load(sys.stdin)",
    "validate(m)",
    "out = []",
    "for edit in ('dim', 'nan'):",
    "    bad = json.loads(json.dumps(m))",
    "    if edit == 'dim': bad['dimension'] = 0",
    "    else: bad['newsVectorNorm']['max'] = math.nan",
    "    try:",
    "        validate(bad); out.append(None)",
    "    except ManifestError as e:",
    "        out.append(str(e))",
    "print(json.dumps(out))",
  ].join("\n");
  const r = spawnSync(PYTHON, ["-c", code], { cwd: TRAINING, input: readFileSync(join(DEFAULT_BUNDLE, "manifest.json")), encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const [dim, nan] = JSON.parse(r.stdout);
  assert.match(dim, /^manifest is invalid at \/dimension: /);
  assert.match(nan, /not writable as JSON/);
});

test("export.manifest() builds no manifest the schema refuses (needs torch and onnx)", {
  skip: hasTorch ? false : "torch, onnx or jsonschema is absent",
}, () => {
  const code = [
    "import json, types",
    "import export",
    "from manifest_schema import ManifestError",
    "args = types.SimpleNamespace(arch='siamese', name=None, version='1.0.0', dim=32, fields=['title'], max_news_len=32, max_history=50, max_user_len=96)",
    "files, hashes = ['text_encoder.onnx', 'tokenizer.json'], ['0' * 64, '1' * 64]",
    "metrics = {'auc': 0.6, 'mrr': 0.3, 'ndcg5': 0.3, 'ndcg10': 0.4, 'impressions': 10}",
    "ok = export.manifest(args, files, hashes, 100, metrics, {'max': 3.0, 'p99': 2.5})",
    "args.fields = []",
    "try:",
    "    export.manifest(args, files, hashes, 100, metrics, {'max': 3.0, 'p99': 2.5}); print('built')",
    "except ManifestError as e:",
    "    print(e)",
  ].join("\n");
  const r = spawnSync(PYTHON, ["-c", code], { cwd: TRAINING, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^manifest is invalid at \/newsInput\/fields: /);
});
