import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BundleError, loadBundle } from "../../src/model/bundle.ts";
import { Encoders } from "../../src/model/encoders.ts";
import { DEFAULT_BUNDLE, SIAMESE_BUNDLE } from "../helpers.ts";

function copy(from = DEFAULT_BUNDLE): string {
  const dir = mkdtempSync(join(tmpdir(), "bundle-"));
  cpSync(from, dir, { recursive: true });
  return dir;
}

function editManifest(dir: string, edit: (m: any) => void): void {
  const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  edit(m);
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(m, null, 2));
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

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
    assert.throws(
      () => loadBundle(dir),
      (e: Error) => e instanceof BundleError && /news_encoder\.onnx is corrupt/.test(e.message),
    );
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

test("a symlink inside the bundle to a file outside it is refused, naming the file", () => {
  const dir = copy();
  const outside = mkdtempSync(join(tmpdir(), "outside-"));
  try {
    // Same bytes, so the hash matches: only the real-path check can catch it.
    renameSync(join(dir, "tokenizer.json"), join(outside, "tokenizer.json"));
    symlinkSync(join(outside, "tokenizer.json"), join(dir, "tokenizer.json"));
    assert.throws(
      () => loadBundle(dir),
      (e: Error) => e instanceof BundleError && /file "tokenizer\.json" lies outside the bundle folder/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true });
    rmSync(outside, { recursive: true });
  }
});

test("symlinks that stay inside are fine: a linked bundle folder, a file linked to another inside", () => {
  const dir = copy();
  const links = mkdtempSync(join(tmpdir(), "links-"));
  try {
    renameSync(join(dir, "user_encoder.onnx"), join(dir, "user.onnx"));
    symlinkSync("user.onnx", join(dir, "user_encoder.onnx"));
    symlinkSync(dir, join(links, "bundle"));
    const b = loadBundle(join(links, "bundle"));
    assert.equal(sha256(b.userEncoderBytes), b.manifest.files["user_encoder.onnx"]);
  } finally {
    rmSync(dir, { recursive: true });
    rmSync(links, { recursive: true });
  }
});

test("the encoders run the bytes that were verified, not whatever the path holds later", async () => {
  const dir = copy();
  try {
    const bundle = loadBundle(dir);
    assert.equal(sha256(bundle.newsEncoderBytes), bundle.manifest.files["news_encoder.onnx"]);
    assert.equal(sha256(bundle.userEncoderBytes), bundle.manifest.files["user_encoder.onnx"]);
    // Swap the news encoder on disk after the check: a reopen by path would load the user encoder.
    writeFileSync(join(dir, "news_encoder.onnx"), readFileSync(join(dir, "user_encoder.onnx")));
    const golden = JSON.parse(readFileSync(join(DEFAULT_BUNDLE, "golden.json"), "utf8"));
    const enc = await Encoders.open(bundle, { workers: 1, intraOpThreads: 1, providers: ["cpu"], maxBatch: 8, maxWaitMs: 1, maxQueue: 10, log: () => {} });
    try {
      const [v] = await enc.encodeNewsBatch([golden.news[0].ids]);
      const worst = Math.max(...golden.news[0].vector.map((x: number, i: number) => Math.abs(x - v![i]!)));
      assert.ok(worst <= golden.tolerance, `max abs difference ${worst}`);
    } finally {
      await enc.close();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("one file for news and user (siamese) is one bytes object", () => {
  const b = loadBundle(SIAMESE_BUNDLE);
  assert.ok(b.newsEncoderBytes instanceof Uint8Array);
  assert.equal(sha256(b.newsEncoderBytes), b.manifest.files["text_encoder.onnx"]);
  // The worker opens one session when both fields hold the same object.
  assert.equal(b.newsEncoderBytes, b.userEncoderBytes);
});
