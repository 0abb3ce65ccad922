/**
 * The fingerprint is computed twice, by the exporter (Python) and by the server (TypeScript); a
 * byte of difference would make every freshly exported bundle unloadable, so the two are held equal
 * here on every shipped bundle and on settings chosen to trip a naive canonical form.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadBundle } from "../../src/model/bundle.ts";
import { canonicalSettings, fingerprint, fingerprintedFiles } from "../../src/model/fingerprint.ts";
import { PYTHON, ROOT } from "../helpers.ts";

const SCRIPT = join(ROOT, "models/training/fingerprint.py");
const pythonOk = spawnSync(PYTHON, ["-c", "import json, hashlib"]).status === 0;
// CI has python3; elsewhere its absence skips only the cross-language half.
const PY_SKIP = pythonOk || process.env.CI ? false : `${PYTHON} is absent`;

function shippedBundles(): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== "training" && !e.name.startsWith(".")) walk(join(d, e.name));
      else if (e.name === "manifest.json") found.push(dirname(join(d, e.name)));
    }
  };
  walk(join(ROOT, "models"));
  return found.sort();
}

function recompute(dir: string, manifest: Record<string, any>): string {
  const hashes = fingerprintedFiles(manifest as any).map((f) =>
    createHash("sha256")
      .update(readFileSync(join(dir, f)))
      .digest("hex"),
  );
  return fingerprint(hashes, manifest);
}

function python(args: string[], input?: string): string {
  const r = spawnSync(PYTHON, args, { encoding: "utf8", input, cwd: join(ROOT, "models/training") });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test("every shipped bundle loads and its manifest fingerprint is the recomputed one", () => {
  const bundles = shippedBundles();
  assert.ok(bundles.length >= 2, bundles.join(", "));
  for (const dir of bundles) {
    const m = loadBundle(dir).manifest;
    assert.equal(recompute(dir, m), m.fingerprint, dir);
  }
});

test("another setting recomputes to another fingerprint", () => {
  const dir = join(ROOT, "models/default");
  const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  const changed = structuredClone(m);
  changed.userInput.maxHistory = 20;
  assert.notEqual(recompute(dir, changed), m.fingerprint);
});

test("the exporter's fingerprint (Python) equals the server's on every shipped bundle", { skip: PY_SKIP }, () => {
  const bundles = shippedBundles();
  const lines = python([SCRIPT, ...bundles])
    .trim()
    .split("\n");
  assert.equal(lines.length, bundles.length);
  bundles.forEach((dir, i) => {
    assert.equal(lines[i], `${loadBundle(dir).manifest.fingerprint}  ${dir}`);
  });
});

test("Python and TypeScript write the same canonical settings for awkward values", { skip: PY_SKIP }, () => {
  const m = JSON.parse(readFileSync(join(ROOT, "models/default/manifest.json"), "utf8"));
  // Non-ASCII, astral and control characters, DEL, quotes; integer-like keys (JavaScript objects
  // put them first); an extra encoder key; 64.0, which Python reads as a float.
  m.encoders.news.outputs.vector = 'vec-é-😀-\u0001-\u007f-"q"-\\-/';
  m.encoders.news.extra = { "10": 1, "2": [true, null], b: "ü", a: -0, Z: "\u2028" };
  m.newsInput.fields = ["title", "abstract"];
  const text = JSON.stringify(m).replace('"dimension":64', '"dimension":64.0');
  const code = "import json, sys; from fingerprint import canonical_settings; sys.stdout.write(canonical_settings(json.load(sys.stdin)))";
  const py = python(["-c", code], text);
  assert.equal(canonicalSettings(JSON.parse(text)), py);
  assert.match(py, /^[\x20-\x7e]+$/);
});

test("a float-valued setting is refused rather than written two ways", { skip: PY_SKIP }, () => {
  const m = JSON.parse(readFileSync(join(ROOT, "models/default/manifest.json"), "utf8"));
  m.newsInput.maxLength = 32.5;
  assert.throws(() => canonicalSettings(m), /newsInput\/maxLength is 32\.5/);
  const r = spawnSync(PYTHON, ["-c", "import json, sys; from fingerprint import canonical_settings; canonical_settings(json.load(sys.stdin))"], {
    input: JSON.stringify(m),
    cwd: join(ROOT, "models/training"),
    encoding: "utf8",
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /only integers, not 32\.5/);
});
