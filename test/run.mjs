// Runs every test file under test/ with node's test runner (TypeScript through tsx).
// Node 20's runner does not expand globs, so the list is built here.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const only = process.argv.slice(2);
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".test.ts")) files.push(relative(root, p));
  }
};
walk(join(root, "test"));
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...selected], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
