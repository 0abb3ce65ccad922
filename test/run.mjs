// Runs the test files under test/ with node's test runner (TypeScript through tsx).
// Node 20's runner does not expand globs, so the list is built here.
//
//   node test/run.mjs                      every test (npm test)
//   node test/run.mjs unit|integration|model   one group (npm run test:unit, ...)
//   node test/run.mjs <substring>...       files whose path contains one of the substrings
//   node test/run.mjs unit <substring>     both: the group's files that match
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

// A file belongs to the first group one of whose prefixes starts its path; the rest is integration.
// unit: no server, no encoder worker, no ONNX session, no socket; well under a second a file.
// model: real ONNX models (the shipped bundle run through the encoders) and the Python toolchain
// (the trainer's readers and exporter).
// integration: real servers and processes on port 0, real disks.
// A pure test written beside the integration tests of its stage is named here.
const GROUPS = {
  unit: [
    "test/unit/",
    "test/api/proto-schema.test.ts",
    "test/catalog/wal-framing.test.ts",
    "test/index/catalog.test.ts",
    "test/index/freshness.test.ts",
    "test/index/shared-matrix.test.ts",
  ],
  model: [
    "test/model/",
    "test/toolchain/",
    "test/catalog/mind-rules.test.ts",
    "test/index/filter.test.ts",
    "test/index/onnx-exact.test.ts",
    "test/index/recall.test.ts",
  ],
  integration: [""],
};
const groupOf = (file) => Object.keys(GROUPS).find((g) => GROUPS[g].some((p) => file.startsWith(p)));

const root = fileURLToPath(new URL("..", import.meta.url));
const args = process.argv.slice(2);
const isGroup = (a) => Object.hasOwn(GROUPS, a);
const groups = args.filter(isGroup);
const only = args.filter((a) => !isGroup(a));
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".test.ts")) files.push(relative(root, p).split("\\").join("/"));
  }
};
walk(join(root, "test"));
const selected = files.filter((f) => (!groups.length || groups.includes(groupOf(f))) && (!only.length || only.some((o) => f.includes(o))));
// An empty selection would make the runner pass having run nothing.
if (!selected.length) {
  process.stderr.write(`test/run.mjs: no test file matches ${args.join(" ")}\n`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...selected], { cwd: root, stdio: "inherit" });
process.exit(r.status ?? 1);
