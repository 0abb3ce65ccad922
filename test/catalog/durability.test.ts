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
  const proc = spawn(
    process.execPath,
    [join(ROOT, "bin/newsrec.mjs"), "serve", "--port", "0", "--grpc-port", "0", "--data-dir", dataDir, "--demo-news", "200", "--compact-interval-seconds", "1"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
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
  let totalUpserts = 0;
  try {
    for (let round = 0; round < 4; round++) {
      const s = await start(dir);
      // Everything acknowledged in earlier rounds survived the kill.
      for (const id of present) assert.equal((await fetch(`${s.url}/news/${id}`)).status, 200, `round ${round}: ${id} is back`);
      for (const id of deleted) assert.equal((await fetch(`${s.url}/news/${id}`)).status, 404, `round ${round}: ${id} stays deleted`);
      // Each round is killed once the server has acknowledged a given number of writes (more
      // each round, so the log and the compactions differ), while the writers go on sending.
      const target = { upserts: 10 + 10 * round, deletes: 1 + round };
      const acked = { upserts: 0, deletes: 0 };
      let reached!: () => void;
      const enough = new Promise<void>((r) => (reached = r));
      const count = (kind: "upserts" | "deletes") => {
        acked[kind]++;
        totalUpserts += kind === "upserts" ? 1 : 0;
        if (acked.upserts >= target.upserts && acked.deletes >= target.deletes) reached();
      };
      let stop = false;
      const writers = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const id = `W${n++}`;
          try {
            const res = await fetch(`${s.url}/news`, {
              method: "PUT",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ items: [{ id, title: `Storm forecast update ${id}`, category: "weather" }] }),
            });
            if (res.status === 200) {
              present.add(id);
              count("upserts");
            }
            if (present.size > 5 && n % 3 === 0) {
              const victim = [...present][Math.floor(present.size / 2)]!;
              // Until its delete is acknowledged, the victim may or may not survive a kill.
              present.delete(victim);
              const del = await fetch(`${s.url}/news/${victim}`, { method: "DELETE" });
              if (del.status === 200) {
                deleted.add(victim);
                count("deletes");
              }
            }
          } catch {
            return; // the connection died with the process: that write was never acknowledged
          }
        }
      });
      await enough;
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
    // What the rounds were made to reach (10+20+30+40 upserts, 1+2+3+4 deletes) was checked above.
    assert.ok(totalUpserts >= 100 && deleted.size >= 10, `${totalUpserts} upserts and ${deleted.size} deletes acknowledged`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// How writes share fsyncs (group commit) depends on how they interleave; test/unit/writer.test.ts
// makes the groups on purpose. Here: what any interleaving must give.
test("concurrent writes are each logged once, keep their order, and survive SIGKILL", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "newsrec-group-"));
  // 60 requests at once: under the default maxInFlight (64), so none is refused.
  const ids = Array.from({ length: 30 }, (_, i) => `G${i}`);
  const s = await start(dir);
  try {
    const put = (id: string) =>
      fetch(`${s.url}/news`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ items: [{ id, title: `Election results ${id}`, category: "news" }] }),
      });
    assert.deepEqual(new Set((await Promise.all(ids.map(put))).map((r) => r.status)), new Set([200]));
    // Every id deleted twice at once: exactly one of the two deletes finds it.
    const dels = await Promise.all([...ids, ...ids].map((id) => fetch(`${s.url}/news/${id}`, { method: "DELETE" })));
    assert.deepEqual(dels.map((r) => r.status).sort(), [...Array(30).fill(200), ...Array(30).fill(404)]);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);
    assert.equal(value("newsrec_wal_commit_records_sum"), 60, "30 upserts and 30 effective deletes were logged");
  } finally {
    s.proc.kill("SIGKILL");
    await s.exited;
  }
  const again = await start(dir);
  try {
    for (const id of ids) assert.equal((await fetch(`${again.url}/news/${id}`)).status, 404, `${id} stays deleted`);
    assert.equal((await json(await fetch(`${again.url}/readyz`))).catalogItems, 200);
  } finally {
    again.proc.kill("SIGTERM");
    await again.exited;
    rmSync(dir, { recursive: true, force: true });
  }
});
