/**
 * A snapshot folder rewritten in place, killed (SIGKILL, in a real process) before each step:
 * the folder is then read whole, the old snapshot or the new, never missing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkSnapshot, readSnapshot } from "../../src/catalog/snapshot.ts";
import { catalogOptions } from "../../src/catalog/store.ts";
import { buildConfig } from "../../src/config.ts";
import { ROOT } from "../server-process.ts";

const FIXTURE = join(ROOT, "test/catalog/fixtures/folder-swap-crash.ts");
const crashAt = (dir: string, step: number) => spawnSync(process.execPath, ["--import", "tsx", FIXTURE, dir, String(step)], { cwd: ROOT, encoding: "utf8" });

test("a snapshot folder rewritten in place and killed before any step is read afterwards whole: the old snapshot or the new", { timeout: 300_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), "newsrec-folder-swap-"));
  try {
    const dry = crashAt(join(root, "dry", "snap"), -1);
    assert.equal(dry.status, 0, dry.stderr);
    const steps = JSON.parse(dry.stdout) as string[];
    assert.ok(steps.includes("rename old folder aside") && steps.includes("rename new folder into place"), dry.stdout);
    for (let n = 0; n <= steps.length; n++) {
      const label = n < steps.length ? `killed before "${steps[n]}"` : "not killed";
      const dir = join(root, `n${n}`, "snap");
      const r = crashAt(dir, n);
      if (n < steps.length) assert.equal(r.signal, "SIGKILL", `${label}: ${r.stderr}`);
      else assert.equal(r.status, 0, r.stderr);
      const m = checkSnapshot(dir);
      assert.ok(m.items === 100 || m.items === 150, `${label}: ${m.items} items`);
      const { catalog } = readSnapshot(dir, { fingerprint: m.fingerprint, dimension: m.dimension }, catalogOptions(buildConfig(), m.hnsw.phi));
      assert.equal(catalog.size, m.items, label);
      assert.ok(catalog.get("A99"), label);
      if (m.items === 150) assert.ok(catalog.get("B49"), label);
      // Once read, nothing of the interrupted write is left beside the folder but what was being written.
      assert.deepEqual(
        readdirSync(join(root, `n${n}`)).filter((f) => f.endsWith(".old")),
        [],
        `${label}: no old folder left`,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
