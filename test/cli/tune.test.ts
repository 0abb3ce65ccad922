import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../src/app.ts";
import { adoptSnapshotHnsw } from "../../src/catalog/hnsw-settings.ts";
import { demoNews } from "../../src/catalog/demo.ts";
import { checkSnapshot, readSnapshot } from "../../src/catalog/snapshot.ts";
import { catalogOptions } from "../../src/catalog/store.ts";
import { buildConfig } from "../../src/config.ts";
import { sampleQueries } from "../../src/index/tune-queries.ts";
import { DEFAULT_BUNDLE, FUM_BUNDLE, ROOT } from "../helpers.ts";

const cli = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, "bin/newsrec.mjs"), ...args], { encoding: "utf8" });
const last = (out: string) => JSON.parse(out.trim().split("\n").pop()!);

const NEWS = 3000; // above exactMaxItems (2000), so the server searches the graph
const QUERIES = 60;
const TARGET = 0.9;

/** A snapshot of NEWS demo news (seed `seed`) embedded into dir/snap by the CLI, with embed's extra arguments. */
function embedDemo(dir: string, seed: number, ...args: string[]): string {
  const newsFile = join(dir, "news.jsonl");
  writeFileSync(
    newsFile,
    demoNews(NEWS, seed)
      .map((n) => `${JSON.stringify(n)}\n`)
      .join(""),
  );
  const snap = join(dir, "snap");
  const e = cli("embed", "--news", newsFile, "--out", snap, "--workers", "1", ...args);
  assert.equal(e.status, 0, e.stderr);
  return snap;
}

test("newsrec tune writes the cheapest setting meeting the target into the snapshot, and the server searches with it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tune-"));
  try {
    const snap = embedDemo(dir, 5);
    // efConstruction 64 differs from embed's default, so the chosen graph must be rebuilt.
    const r = cli("tune", "--snapshot", snap, "--queries", String(QUERIES), "--target-recall", String(TARGET), "--grid", "m=8,16;efc=64;ef=10,40,200");
    assert.equal(r.status, 0, r.stderr);
    const s = last(r.stdout);
    assert.equal(s.points.length, 6);
    assert.ok(s.chosen.recall10 >= TARGET, JSON.stringify(s.chosen));
    assert.equal(s.rebuilt, true);
    assert.equal(s.written, true);
    const cheaper = s.points.filter((p: { recall10: number; p50Ms: number }) => p.recall10 >= TARGET && p.p50Ms < s.chosen.p50Ms);
    assert.deepEqual(cheaper, [], "no measured point meeting the target is faster");

    const manifest = checkSnapshot(snap); // whole: every file has the size the manifest records
    assert.equal(manifest.hnsw.m, s.chosen.m);
    assert.equal(manifest.hnsw.efConstruction, s.chosen.efConstruction);
    assert.equal(manifest.hnsw.efSearch, s.chosen.efSearch);
    assert.equal(manifest.hnsw.tuned?.recall10, s.chosen.recall10);
    assert.equal(manifest.items, NEWS);

    // The server on that snapshot searches with the tuned efSearch, and meets the target on the same sampled queries.
    const dataDir = join(dir, "data");
    const app = await createApp(
      buildConfig({ model: DEFAULT_BUNDLE, snapshot: snap, dataDir, demoNews: 0, recallSampleRate: 0, logLevel: "silent" }),
      () => {},
    );
    try {
      assert.equal(app.catalog.index.efSearch, s.chosen.efSearch);
      const c = app.catalog;
      const live = [...c.entries()].map((x) => x.slot);
      const queries = await sampleQueries(
        { vectors: c.matrix.vectors, dim: c.dim, live, isLive: (slot) => live.includes(slot), title: (slot) => c.metaAt(slot).title },
        app.encoders,
        QUERIES,
        1,
      );
      let hits = 0;
      for (const q of queries) {
        // As /rank retrieves: the user's own clicks left out.
        const filter = { exclude: new Set(q.history) };
        const found = new Set((await c.searchAsync(q.vector, 10, filter)).map((x) => x.slot));
        hits += c.exactSearch(q.vector, 10, filter).filter((x) => found.has(x.slot)).length;
      }
      assert.ok(hits / (10 * QUERIES) >= TARGET, `server recall@10 ${hits / (10 * QUERIES)}`);
    } finally {
      await app.close();
    }
    // The data dir's snapshots (seeded from it, then compacted at close) carry the tuned setting on.
    for (const name of readdirSync(join(dataDir, "snapshots"))) {
      const m = JSON.parse(readFileSync(join(dataDir, "snapshots", name, "manifest.json"), "utf8"));
      assert.deepEqual({ ...m.hnsw, phi: undefined }, { ...manifest.hnsw, phi: undefined }, name);
    }

    // An operator's efSearch outranks the snapshot's; the default does not.
    const expect = { fingerprint: manifest.fingerprint, dimension: manifest.dimension };
    for (const [config, want] of [
      [buildConfig({ efSearch: 77 }), 77],
      [buildConfig({}), s.chosen.efSearch],
    ] as const) {
      const { catalog } = readSnapshot(snap, expect, catalogOptions({ ...config, maxAgeHours: 0 }, manifest.hnsw.phi));
      const record = adoptSnapshotHnsw(catalog, manifest, config, () => {});
      assert.equal(catalog.index.efSearch, want);
      assert.equal(record.efSearch, s.chosen.efSearch, "the snapshot's record is carried to compactions unchanged");
    }

    // Too high a target for the grid: non-zero, one line, the snapshot untouched.
    const before = readFileSync(join(snap, "manifest.json"), "utf8");
    const none = cli("tune", "--snapshot", snap, "--queries", "20", "--target-recall", "1", "--grid", "m=4;efc=8;ef=8");
    assert.notEqual(none.status, 0);
    assert.match(none.stderr.trim().split("\n").pop()!, /no setting in the grid reaches recall@10 1/);
    assert.equal(last(none.stdout).written, false);
    assert.equal(readFileSync(join(snap, "manifest.json"), "utf8"), before);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("newsrec tune refuses bad arguments with a one-line reason", () => {
  for (const [args, reason] of [
    [[], /--snapshot/],
    [["--snapshot", "/nonexistent/snap"], /snapshot \/nonexistent\/snap: cannot read manifest\.json/],
    [["--snapshot", "x", "--target-recall", "1.5"], /--target-recall/],
    [["--snapshot", "x", "--grid", "m=abc"], /m: integers from 2 to 128/],
    [["--snapshot", "x", "--grid", "depth=3"], /is not m=LIST/],
    [["--snapshot", "x", "--queries", "0"], /--queries must be an integer/],
    [["--snapshot", "x", "--histories", "random"], /must be coherent or uniform/],
  ] as const) {
    const r = cli("tune", ...args);
    assert.notEqual(r.status, 0, args.join(" "));
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, reason);
  }
  const h = cli("tune", "--help");
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--target-recall/);
});

test("newsrec tune on a FUM snapshot samples FUM user vectors from the token ids it keeps, and the tuned snapshot keeps them", () => {
  const dir = mkdtempSync(join(tmpdir(), "tune-fum-"));
  try {
    const corpus = join(dir, "corpus");
    assert.equal(cli("synth", "--out", corpus, "--news", "400", "--users", "10", "--seed", "8").status, 0);
    const snap = join(dir, "snap");
    const e = cli("embed", "--model", FUM_BUNDLE, "--news", join(corpus, "train", "news.tsv"), "--out", snap, "--workers", "1");
    assert.equal(e.status, 0, e.stderr);
    const tokensBefore = readFileSync(join(snap, "tokens.bin"));
    const r = cli("tune", "--model", FUM_BUNDLE, "--snapshot", snap, "--queries", "20", "--target-recall", "0.5", "--grid", "m=8;efc=32;ef=10,50");
    assert.equal(r.status, 0, r.stderr);
    const m = checkSnapshot(snap);
    assert.equal(m.hnsw.m, 8, "the tuned setting was written");
    assert.deepEqual(m.tokens, { width: 16, bytesPerId: 2 });
    assert.deepEqual(readFileSync(join(snap, "tokens.bin")), tokensBefore, "the token ids are carried over unchanged");
    const ev = cli("eval", "--model", FUM_BUNDLE, "--snapshot", snap, "--behaviors", join(corpus, "valid", "behaviors.tsv"));
    assert.equal(ev.status, 0, ev.stderr);
    assert.ok(last(ev.stdout).impressions > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("newsrec tune --keep-graph sweeps efSearch on a sharded snapshot's own graphs, builds nothing, and writes the beam", () => {
  const dir = mkdtempSync(join(tmpdir(), "tune-keep-"));
  try {
    const snap = embedDemo(dir, 6, "--shards", "2");
    const graphs = ["index-0.hnsw", "index-1.hnsw"].map((f) => readFileSync(join(snap, f)));
    const before = checkSnapshot(snap);
    const r = cli(
      "tune",
      "--snapshot",
      snap,
      "--queries",
      String(QUERIES),
      "--target-recall",
      String(TARGET),
      "--keep-graph",
      "--grid",
      "m=8;efc=64;ef=10,40,400",
    );
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /building/);
    const s = last(r.stdout);
    assert.deepEqual(s.graph, { kept: true, graphs: 2 });
    // The snapshot's own M and efConstruction, whatever the grid says of them; one point per efSearch.
    assert.deepEqual(
      s.points.map((p: { m: number; efConstruction: number; efSearch: number }) => [p.m, p.efConstruction, p.efSearch]),
      [10, 40, 400].map((ef) => [before.hnsw.m, before.hnsw.efConstruction, ef]),
    );
    assert.ok(s.points[2].recall10 >= s.points[0].recall10, "a wider beam finds at least as much");
    assert.ok(s.chosen.recall10 >= TARGET, JSON.stringify(s.chosen));
    assert.equal(s.rebuilt, false);
    const after = checkSnapshot(snap);
    assert.equal(after.hnsw.efSearch, s.chosen.efSearch);
    assert.equal(after.hnsw.shards, 2);
    assert.equal(after.hnsw.m, before.hnsw.m);
    ["index-0.hnsw", "index-1.hnsw"].forEach((f, i) => assert.deepEqual(readFileSync(join(snap, f)), graphs[i], `${f} is kept as it was`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("newsrec tune on a sharded snapshot measures graphs split as the snapshot's, searched as the server searches them: what it records is what --keep-graph then measures on the written snapshot", () => {
  const dir = mkdtempSync(join(tmpdir(), "tune-shards-"));
  try {
    const snap = embedDemo(dir, 7, "--shards", "2");
    const before = checkSnapshot(snap);
    const own = `m=${before.hnsw.m};efc=${before.hnsw.efConstruction}`;
    // A different graph wins: it is rebuilt as two graphs, as the snapshot's were.
    const r = cli("tune", "--snapshot", snap, "--queries", String(QUERIES), "--target-recall", "0.5", "--grid", "m=8;efc=32;ef=10,40");
    assert.equal(r.status, 0, r.stderr);
    const s = last(r.stdout);
    assert.equal(s.rebuilt, true);
    const after = checkSnapshot(snap);
    assert.equal(after.hnsw.shards, 2, "still two graphs");
    assert.equal(after.hnsw.m, 8);
    const again = cli(
      "tune",
      "--snapshot",
      snap,
      "--queries",
      String(QUERIES),
      "--target-recall",
      "0.5",
      "--keep-graph",
      "--dry-run",
      "--grid",
      `ef=${s.chosen.efSearch}`,
    );
    assert.equal(again.status, 0, again.stderr);
    assert.equal(last(again.stdout).points[0].recall10, after.hnsw.tuned?.recall10, "the written graphs are the measured ones");

    // The snapshot's own M and efConstruction in the grid: its own graphs are measured there, not a build of one graph.
    mkdirSync(join(dir, "b"));
    const snap2 = embedDemo(join(dir, "b"), 7, "--shards", "2");
    const k = cli(
      "tune",
      "--snapshot",
      snap2,
      "--queries",
      String(QUERIES),
      "--target-recall",
      "0.5",
      "--dry-run",
      "--keep-graph",
      "--grid",
      `${own};ef=10,40`,
    );
    const t = cli("tune", "--snapshot", snap2, "--queries", String(QUERIES), "--target-recall", "0.5", "--grid", `${own};ef=10,40`);
    assert.equal(k.status, 0, k.stderr);
    assert.equal(t.status, 0, t.stderr);
    assert.doesNotMatch(t.stderr, /building/);
    const [kept, tuned] = [last(k.stdout), last(t.stdout)];
    assert.equal(tuned.rebuilt, false);
    assert.deepEqual(
      tuned.points.map((p: { recall10: number }) => p.recall10),
      kept.points.map((p: { recall10: number }) => p.recall10),
    );
    assert.equal(checkSnapshot(snap2).hnsw.shards, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("newsrec tune --snapshot . (run from inside the snapshot) writes it like any other path", () => {
  const dir = mkdtempSync(join(tmpdir(), "tune-here-"));
  try {
    const snap = embedDemo(dir, 8);
    const args = ["tune", "--snapshot", ".", "--queries", "20", "--target-recall", "0.5", "--keep-graph", "--grid", "ef=10,40"];
    const r = spawnSync(process.execPath, [join(ROOT, "bin/newsrec.mjs"), ...args], { encoding: "utf8", cwd: snap });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(checkSnapshot(snap).hnsw.efSearch, last(r.stdout).chosen.efSearch);
    assert.deepEqual(readdirSync(dir).sort(), ["news.jsonl", "snap"], "no folder left beside it");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
