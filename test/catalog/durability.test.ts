/**
 * No acknowledged write is lost: a real server process with a data dir takes a stream of
 * upserts and deletes and is killed with SIGKILL mid-stream, several times; after each
 * restart every acknowledged write is there.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { json, ROOT } from "../helpers.ts";

function start(dataDir: string): Promise<{ proc: ChildProcess; url: string; log: () => string; exited: Promise<unknown> }> {
  const proc = spawn(process.execPath, [join(ROOT, "bin/newsrec.mjs"), "serve", "--port", "0", "--grpc-port", "0", "--data-dir", dataDir, "--demo-news", "200", "--compact-interval-seconds", "1"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const exited = new Promise((r) => proc.once("exit", r));
  return new Promise((resolve, reject) => {
    proc.stderr!.on("data", (b: Buffer) => {
      log += b.toString();
      const m = /HTTP on (http:\/\/\S+?);/.exec(log);
      if (m) resolve({ proc, url: m[1]!, log: () => log, exited });
    });
    proc.once("exit", (code) => reject(new Error(`server exited ${code}: ${log}`)));
  });
}

test("SIGKILL in the middle of a stream of writes loses no acknowledged write", { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "newsrec-durable-"));
  const present = new Set<string>();
  const deleted = new Set<string>();
  let n = 0;
  try {
    for (let round = 0; round < 4; round++) {
      const s = await start(dir);
      // Everything acknowledged in earlier rounds survived the kill.
      for (const id of present) assert.equal((await fetch(`${s.url}/news/${id}`)).status, 200, `round ${round}: ${id} is back`);
      for (const id of deleted) assert.equal((await fetch(`${s.url}/news/${id}`)).status, 404, `round ${round}: ${id} stays deleted`);
      let stop = false;
      const writers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const id = `W${n++}`;
          try {
            const res = await fetch(`${s.url}/news`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ items: [{ id, title: `Storm forecast update ${id}`, category: "weather" }] }) });
            if (res.status === 200) present.add(id);
            if (present.size > 5 && n % 3 === 0) {
              const victim = [...present][Math.floor(present.size / 2)]!;
              // Until its delete is acknowledged, the victim may or may not survive a kill.
              present.delete(victim);
              const del = await fetch(`${s.url}/news/${victim}`, { method: "DELETE" });
              if (del.status === 200) deleted.add(victim);
            }
          } catch {
            return; // the connection died with the process: that write was never acknowledged
          }
        }
      });
      await new Promise((r) => setTimeout(r, 400 + round * 350));
      s.proc.kill("SIGKILL");
      stop = true;
      await Promise.all(writers);
      await s.exited;
    }
    // A torn record at the end of the log (a crash mid-append) is dropped, not fatal.
    appendFileSync(join(dir, "wal.log"), Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 123, 34]));
    const s = await start(dir);
    try {
      for (const id of present) assert.equal((await fetch(`${s.url}/news/${id}`)).status, 200, `final: ${id}`);
      for (const id of deleted) assert.equal((await fetch(`${s.url}/news/${id}`)).status, 404);
      assert.match(s.log(), /dropped a torn last record/);
      const body = await json(await fetch(`${s.url}/readyz`));
      assert.ok(body.catalogItems >= 200 + present.size);
    } finally {
      s.proc.kill("SIGTERM");
      await s.exited;
    }
    assert.ok(present.size >= 20, `${present.size} acknowledged upserts survived`);
    assert.ok(deleted.size >= 3, `${deleted.size} acknowledged deletes survived`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
