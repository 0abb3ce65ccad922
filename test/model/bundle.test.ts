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

function editManifest(dir: string, edit: (m: any) => void): void {
  const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  edit(m);
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(m, null, 2));
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

// Each of these changes what the vectors mean (or how they are read), so snapshots of the original
// must not be accepted for the copy: the copy, keeping the old fingerprint, is refused.
const settingEdits: [string, (m: any) => void][] = [
  ["newsInput.fields", (m) => (m.newsInput.fields = ["title"])],
  ["newsInput.maxLength", (m) => (m.newsInput.maxLength = 16)],
  ["userInput.maxHistory", (m) => (m.userInput.maxHistory = 20)],
  ["userInput.maxLength", (m) => (m.userInput.maxLength = 64)],
  ["tokenizer.unkId", (m) => (m.tokenizer.unkId = 3)],
  ["tokenizer.sepId", (m) => (m.tokenizer.sepId = 1)],
  ["encoders.news.inputs.ids", (m) => (m.encoders.news.inputs.ids = "ids")],
  ["encoders.user.outputs.vector", (m) => (m.encoders.user.outputs.vector = "attention")],
  ["dimension", (m) => (m.dimension = 32)],
];

for (const [what, edit] of settingEdits) {
  test(`a copy with another ${what} and the old fingerprint is refused`, () => {
    const dir = copy();
    try {
      editManifest(dir, edit);
      assert.throws(
        () => loadBundle(dir),
        (e: Error) => e instanceof BundleError && /fingerprint does not match its files and settings/.test(e.message) && e.message.includes(dir),
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
}

test("name, version and validation metrics are not part of the fingerprint", () => {
  const dir = copy();
  try {
    editManifest(dir, (m) => {
      m.name = "renamed";
      m.version = "9.9.9";
      m.validation = { auc: 0.5 };
      m.newsVectorNorm = { max: 5, p99: 4 };
    });
    assert.equal(loadBundle(dir).manifest.fingerprint, loadBundle(DEFAULT_BUNDLE).manifest.fingerprint);
  } finally {
    rmSync(dir, { recursive: true });
  }
});
