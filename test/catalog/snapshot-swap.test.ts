/**
 * A compaction killed (SIGKILL, in a real process) before each step of its snapshot swap:
 * a real server started on that data dir afterwards serves every write (from the old
 * snapshot and the log, or from the new snapshot), never the demo news.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, startServer, status } from "../server-process.ts";

const FIXTURE = join(ROOT, "test/catalog/fixtures/swap-crash.ts");
const crashAt = (dataDir: string, step: number) =>
  spawnSync(process.execPath, ["--import", "tsx", FIXTURE, dataDir, String(step)], { cwd: ROOT, encoding: "utf8" });
const ids = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);

test("a crash before any step of a snapshot swap leaves a data dir that serves every write, never demo news", { timeout: 600_000 }, async () => {
  const root = mkdtempSync(join(tmpdir(), "newsrec-swap-"));
  try {
    const dry = crashAt(join(root, "dry"), -1);
    assert.equal(dry.status, 0, dry.stderr);
    const steps = JSON.parse(dry.stdout) as string[];
    assert.ok(steps.includes("rename folder") && steps.includes("rename pointer") && steps.includes("prune"), dry.stdout);
    for (let n = 0; n <= steps.length; n++) {
      const label = n < steps.length ? `killed before "${steps[n]}"` : "not killed";
      const dataDir = join(root, `n${n}`);
      const r = crashAt(dataDir, n);
      if (n < steps.length) assert.equal(r.signal, "SIGKILL", `${label}: ${r.stderr}`);
      else assert.equal(r.status, 0, r.stderr);
      const s = await startServer(dataDir, ["--demo-news", "30"]);
      try {
        for (const id of [...ids("A", 100), ...ids("B", 50)]) assert.equal(await status(`${s.url}/news/${id}`), 200, `${label}: ${id}`);
        assert.equal(await status(`${s.url}/news/N1`), 404, `${label}: no demo news`);
        assert.doesNotMatch(s.log(), /demo catalog/, label);
        const snapshots = join(dataDir, "snapshots");
        assert.deepEqual(
          readdirSync(snapshots).filter((f) => f.includes(".tmp-")),
          [],
          `${label}: leftovers removed`,
        );
        assert.ok(
          existsSync(join(dataDir, readFileSync(join(dataDir, "CURRENT"), "utf8").trim(), "manifest.json")),
          `${label}: CURRENT names a whole snapshot`,
        );
      } finally {
        await s.kill9();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
