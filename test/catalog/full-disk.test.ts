/**
 * A full data disk (a 2 MiB tmpfs filled up) and a file-size limit (prlimit --fsize) under a
 * real server: writes the disk does not take answer 503 UNAVAILABLE naming the cause, reads
 * go on, writes resume by themselves when space returns, and after kill -9 every
 * acknowledged write is there and none of the refused ones. Node ignores SIGXFSZ, so a
 * write past the size limit fails with EFBIG instead of killing the process.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { putNews, startServer, status, type ServerProcess } from "../server-process.ts";
import { fill, smallDisk } from "./small-disk.ts";

const disk = smallDisk();
const item = (id: string) => ({ id, title: `Heatwave grips the northern coast as officials urge caution ${id}`, category: "weather" });
/** A batch whose record (about 5 KiB) is larger than the free end of the log's last page. */
const batch = (prefix: string) => Array.from({ length: 8 }, (_, i) => item(`${prefix}-${i}`));

/** PUTs batches until one is refused; records which were acknowledged. */
async function putUntilRefused(s: ServerProcess, tag: string, acked: Set<string>, refused: Set<string>, most: number): Promise<{ status: number; body: any }> {
  for (let i = 0; i < most; i++) {
    const items = batch(`${tag}${i}`);
    const r = await putNews(s.url, items);
    if (r.status === 200) items.forEach((x) => acked.add(x.id));
    else {
      items.forEach((x) => refused.add(x.id));
      return r;
    }
  }
  throw new Error(`${most} batches were all acknowledged`);
}

async function assertRestored(dataDir: string, acked: Set<string>, refused: Set<string>): Promise<void> {
  const s = await startServer(dataDir, ["--demo-news", "20"]);
  try {
    for (const id of acked) assert.equal(await status(`${s.url}/news/${id}`), 200, `acknowledged ${id} survived`);
    for (const id of refused) assert.equal(await status(`${s.url}/news/${id}`), 404, `refused ${id} is absent`);
  } finally {
    await s.kill9();
  }
}

test("a full data disk: 503 UNAVAILABLE naming ENOSPC, reads go on, writes recover without traffic, nothing refused survives kill -9", {
  timeout: 240_000,
}, async (t) => {
  if (!disk.mounted) return t.skip(disk.why);
  const dataDir = join(disk.dir, "server");
  const filler = join(disk.dir, "filler");
  const acked = new Set<string>();
  const refused = new Set<string>();
  const s = await startServer(dataDir, ["--demo-news", "20"]);
  try {
    for (let i = 0; i < 3; i++) assert.equal((await putNews(s.url, batch(`before${i}`))).status, 200);
    batch("before0")
      .concat(batch("before1"), batch("before2"))
      .forEach((x) => acked.add(x.id));
    fill(filler);
    const r = await putUntilRefused(s, "full", acked, refused, 5);
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "UNAVAILABLE");
    assert.match(r.body.error.message, /the data disk is full \(ENOSPC\)/);
    for (let i = 0; i < 3; i++) {
      const again = await putNews(s.url, batch(`still${i}`));
      assert.equal(again.status, 503);
      batch(`still${i}`).forEach((x) => refused.add(x.id));
    }
    await s.waitFor(/write-ahead log: write not saved: the data disk is full \(ENOSPC\)/);
    // Reads go on.
    assert.equal(await status(`${s.url}/news/before0-0`), 200);
    const rank = await fetch(`${s.url}/rank`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ history: ["before0-0", "before1-3"], k: 5 }),
    });
    assert.equal(rank.status, 200, await rank.text());
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.ok(Number(/^newsrec_wal_write_failures_total\{cause="ENOSPC"\} (\d+)$/m.exec(metrics)?.[1]) >= 4, "failures counted by cause");
    // Space returns: the probe notices without any write.
    rmSync(filler);
    await s.waitFor(/writes recovered/);
    for (let i = 0; i < 3; i++) {
      assert.equal((await putNews(s.url, batch(`after${i}`))).status, 200);
      batch(`after${i}`).forEach((x) => acked.add(x.id));
    }
  } finally {
    await s.kill9();
    rmSync(filler, { force: true });
  }
  await assertRestored(dataDir, acked, refused);
});

test("a file-size limit: 503 UNAVAILABLE naming EFBIG, the server lives on, nothing refused survives kill -9", { timeout: 240_000 }, async (t) => {
  try {
    execFileSync("prlimit", ["--fsize=1000000", "--", "true"], { stdio: "pipe" });
  } catch {
    return t.skip("prlimit is not available");
  }
  const dataDir = mkdtempSync(join(tmpdir(), "newsrec-fsize-"));
  const acked = new Set<string>();
  const refused = new Set<string>();
  try {
    // 64 KiB: room for the first snapshot's files (20 news), not for many writes.
    const s = await startServer(dataDir, ["--demo-news", "20"], ["prlimit", "--fsize=65536", "--"]);
    try {
      const r = await putUntilRefused(s, "lim", acked, refused, 30);
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.error.code, "UNAVAILABLE");
      assert.match(r.body.error.message, /file-size limit \(EFBIG\)/);
      assert.ok(acked.size > 0);
      assert.equal(await status(`${s.url}/news/${[...acked][0]}`), 200, "reads go on");
      assert.equal(await status(`${s.url}/healthz`), 200, "the process lives (SIGXFSZ did not kill it)");
    } finally {
      await s.kill9();
    }
    await assertRestored(dataDir, acked, refused);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
