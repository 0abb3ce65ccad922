// Chunked synchronous reads of snapshot files (src/catalog/sync-read.ts), on a real file, with
// chunks small enough that lines and multi-byte characters straddle every boundary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileLineBytes, readInto } from "../../src/catalog/sync-read.ts";

function withFile<T>(bytes: string | Uint8Array, f: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "sync-read-"));
  try {
    const path = join(dir, "f");
    writeFileSync(path, bytes);
    return f(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const lines = (text: string, chunk: number) =>
  withFile(text, (path) => {
    const fd = openSync(path, "r");
    try {
      const got: { at: number; text: string }[] = [];
      for (const { at, line } of fileLineBytes(fd, chunk)) got.push({ at, text: line.toString("utf8") });
      return got;
    } finally {
      closeSync(fd);
    }
  });

test("fileLineBytes gives every line whole with its byte offset, whatever the chunk: multi-byte characters, lines longer than a chunk, empty lines, no final newline", () => {
  const rows = ['{"id":"N1","title":"Zürich – 東京 🚀"}', "", "x".repeat(50), '{"id":"N2","title":"ß"}', "last without newline"];
  const text = rows.join("\n");
  let at = 0;
  const want = rows.map((r) => {
    const line = { at, text: r };
    at += Buffer.byteLength(r) + 1;
    return line;
  });
  for (const chunk of [1, 2, 3, 7, 16, 1 << 20]) assert.deepEqual(lines(text, chunk), want, `chunk ${chunk}`);
  assert.deepEqual(lines(`${rows.join("\n")}\n`, 5), want, "a final newline adds no line");
  assert.deepEqual(lines("", 4), []);
});

test("readInto fills the whole view from the file, and names a file that ends too soon", () => {
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255);
  withFile(bytes, (path) => {
    const into = new Uint8Array(1000);
    readInto(path, into);
    assert.deepEqual(into, bytes);
    assert.throws(() => readInto(path, new Uint8Array(1001)), /f ended after 1000 bytes/);
  });
});
