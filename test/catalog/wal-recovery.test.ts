/**
 * Damage in the middle of a real server's write-ahead log: the server refuses to start,
 * naming the offset and the recovery command; `newsrec wal check` reports it; `newsrec wal
 * repair` keeps every intact record, and the server then starts and serves them all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspectWal } from "../../src/catalog/wal-repair.ts";
import { cli, putNews, serveOnce, startServer, status } from "../server-process.ts";

test("a flipped length bit mid-log: the start refuses, wal check reports it, wal repair keeps every intact record", { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "newsrec-walrec-"));
  const ids = Array.from({ length: 200 }, (_, i) => `R${i}`);
  try {
    const s = await startServer(dir, ["--demo-news", "20"]);
    try {
      // One request at a time: one record each.
      for (const id of ids) assert.equal((await putNews(s.url, [{ id, title: `Harbour festival ${id}`, category: "travel" }])).status, 200);
    } finally {
      await s.kill9();
    }
    const wal = join(dir, "wal.log");
    const report = inspectWal(wal);
    assert.equal(report.records.length, 200);
    const victim = report.records[100]!;
    const victimId = victim.record.op === "upsert" ? victim.record.items[0]!.meta.id : "";
    const bytes = readFileSync(wal);
    bytes[victim.offset + 6] = bytes[victim.offset + 6]! ^ 0x08; // the length's third byte
    writeFileSync(wal, bytes);

    const refused = await serveOnce(dir, ["--demo-news", "20"]);
    assert.equal(refused.status, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`damaged at byte ${victim.offset} `));
    assert.match(refused.stderr, /newsrec wal repair --data-dir /);
    assert.deepEqual(readFileSync(wal), bytes, "a refused start cuts nothing");

    const check = cli("wal", "check", "--data-dir", dir);
    assert.equal(check.status, 1, check.stdout + check.stderr);
    assert.match(check.stdout, new RegExp(`damaged: bytes ${victim.offset}-${report.records[101]!.offset} `));
    assert.match(check.stdout, /records: 199 intact, seq \d+ to \d+; last seq: \d+/);

    const repair = cli("wal", "repair", "--data-dir", dir);
    assert.equal(repair.status, 0, repair.stdout + repair.stderr);
    const moved = /the original is at (\S+)/.exec(repair.stdout)?.[1];
    assert.ok(moved && existsSync(moved), repair.stdout);
    assert.deepEqual(readFileSync(moved), bytes);
    const clean = cli("wal", "check", "--data-dir", dir);
    assert.equal(clean.status, 0, clean.stdout);
    assert.match(clean.stdout, /clean/);

    const again = await startServer(dir, ["--demo-news", "20"]);
    try {
      for (const id of ids) assert.equal(await status(`${again.url}/news/${id}`), id === victimId ? 404 : 200, id);
      assert.equal(await status(`${again.url}/news/${ids[0]}`), 200);
    } finally {
      await again.kill9();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("newsrec wal: --help, and a one-line reason for a missing data dir", () => {
  for (const sub of ["check", "repair"]) {
    const help = cli("wal", sub, "--help");
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--data-dir <dir>/);
    const bad = cli("wal", sub, "--data-dir", "/nonexistent/newsrec-data");
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
    assert.match(bad.stderr, /data dir \/nonexistent\/newsrec-data does not exist/);
  }
});
