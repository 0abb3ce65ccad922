/**
 * SIGTERM on a real process: not ready at once, in-flight requests finish (and the drain ends
 * with them, keep-alive connections included), the catalog is compacted, exit 0.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers.ts";
import { spawnServer } from "../server-process.ts";
import { tracked, untilInFlight } from "../wait.ts";

test("SIGTERM drains in-flight requests, compacts the catalog and exits 0", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "newsrec-drain-"));
  try {
    // Misses wait for their encoder batch for up to --max-wait-ms (1000, the most it can be):
    // that is what keeps them in flight while the test sees them admitted and sends SIGTERM.
    const { proc, url, exited, log } = await spawnServer([
      process.execPath,
      join(ROOT, "bin/newsrec.mjs"),
      "serve",
      ...["--port", "0", "--grpc-port", "0", "--data-dir", dir, "--demo-news", "500", "--shutdown-grace-seconds", "30"],
      ...["--max-wait-ms", "1000", "--max-batch", "1000", "--request-timeout-ms", "60000"],
    ]);
    const put = await fetch(`${url}/news`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ items: [{ id: "D1", title: "Storm forecast for the weekend" }] }),
    });
    assert.equal(put.status, 200);
    assert.ok(statSync(join(dir, "wal.log")).size > 0, "the write is in the log");
    const inFlight = Array.from({ length: 5 }, (_, i) =>
      tracked(
        fetch(`${url}/rank`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ userId: `d${i}`, history: [`N${i + 1}`, `N${i + 20}`] }),
        }),
      ),
    );
    // The server's own count says all five are admitted; none has its answer yet.
    await untilInFlight(url, 5);
    assert.ok(
      inFlight.every((r) => !r.settled()),
      "all five are unanswered when SIGTERM is sent",
    );
    proc.kill("SIGTERM");
    const statuses = await Promise.all(inFlight.map((r) => r.promise.then((res) => res.status)));
    assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
    assert.equal(await exited, 0);
    assert.match(log(), /SIGTERM: draining/);
    assert.doesNotMatch(log(), /grace period .* over/, "the drain ended with the last answer, not with the grace period");
    assert.match(log(), /stopped/);
    assert.equal(statSync(join(dir, "wal.log")).size, 0, "the log was compacted into the snapshot");
    assert.ok(existsSync(join(dir, readFileSync(join(dir, "CURRENT"), "utf8").trim(), "manifest.json")), "the pointer names a whole snapshot");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
