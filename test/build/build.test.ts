/**
 * The production build (npm run build: TypeScript to dist/) is what the images run: its CLI
 * answers --help, and its server, started with the images' entry command, serves a rank
 * through its compiled encoder worker and stops cleanly on SIGTERM. No module of the build
 * imports TypeScript or tsx.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { post, ROOT } from "../helpers.ts";
import { spawnServer } from "../server-process.ts";

const MAIN = join(ROOT, "dist/cli/main.js");

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith(".js") ? [join(dir, e.name)] : [],
  );
}

test("npm run build compiles every source, and no compiled module imports TypeScript or tsx", { timeout: 120_000 }, () => {
  const r = spawnSync("npm", ["run", "build"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const files = jsFiles(join(ROOT, "dist"));
  assert.ok(
    files.some((f) => f.endsWith(join("model", "worker.js"))),
    "the encoder worker is compiled",
  );
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    assert.doesNotMatch(text, /\bfrom\s+["'][^"']+\.ts["']|import\(\s*["'][^"']+\.ts["']/, `${f} imports a .ts path`);
    assert.doesNotMatch(text, /["']tsx(\/[^"']*)?["']/, `${f} imports tsx`);
  }
});

test("the build's CLI answers --help", () => {
  const r = spawnSync(process.execPath, [MAIN, "--help"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: newsrec/);
  assert.match(r.stdout, /serve/);
});

test("the build's server (the images' entry command) is live, ranks, and stops on SIGTERM", { timeout: 120_000 }, async () => {
  const { proc, url, exited, log } = await spawnServer([process.execPath, MAIN, "serve", "--port", "0", "--grpc-port", "0", "--demo-news", "200"]);
  try {
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    // A history of known items needs the user encoder: the compiled worker thread runs it.
    const r = await post(`${url}/rank`, { userId: "b1", history: ["N1", "N2", "N3"], k: 3 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.userCache, "miss");
    assert.equal(r.body.items.length, 3);
  } finally {
    proc.kill("SIGTERM");
  }
  assert.equal(await exited, 0, log());
  assert.match(log(), /stopped/);
});
