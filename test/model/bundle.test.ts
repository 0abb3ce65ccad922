import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BundleError, loadBundle } from "../../src/model/bundle.ts";
import { DEFAULT_BUNDLE } from "../helpers.ts";

function copy(): string {
  const dir = mkdtempSync(join(tmpdir(), "bundle-"));
  cpSync(DEFAULT_BUNDLE, dir, { recursive: true });
  return dir;
}

test("the default bundle loads and describes itself", () => {
  const b = loadBundle(DEFAULT_BUNDLE);
  assert.equal(b.manifest.architecture, "hierarchical");
  assert.equal(b.manifest.similarity, "dot");
  assert.match(b.manifest.fingerprint, /^[0-9a-f]{64}$/);
});

test("a truncated encoder file is refused at load, naming the file", () => {
  const dir = copy();
  try {
    truncateSync(join(dir, "news_encoder.onnx"), 100);
    assert.throws(() => loadBundle(dir), (e: Error) => e instanceof BundleError && /news_encoder\.onnx is corrupt/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("manifest paths cannot escape the bundle folder", () => {
  const dir = copy();
  try {
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    m.encoders.news.file = "../../etc/passwd";
    m.files["../../etc/passwd"] = "0".repeat(64);
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(m));
    assert.throws(() => loadBundle(dir), /outside the bundle folder/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("a malformed manifest names the bad field", () => {
  const dir = copy();
  try {
    const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    m.dimension = "sixty-four";
    writeFileSync(join(dir, "manifest.json"), JSON.stringify(m));
    assert.throws(() => loadBundle(dir), /manifest\.json is invalid at \/dimension/);
    assert.throws(() => loadBundle(join(dir, "missing")), /cannot read manifest\.json/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
