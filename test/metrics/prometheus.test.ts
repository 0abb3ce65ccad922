/**
 * A real Prometheus scrapes the server on loopback; its HTTP API answers a histogram_quantile
 * over the rank latency histogram; promtool accepts the exposition.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { json, post, startServer, type Running } from "../helpers.ts";

const hasProm = spawnSync("prometheus", ["--version"]).status === 0;
// CI installs Debian's prometheus package, so there its absence is a failure, not a skip.
const SKIP = hasProm || process.env.CI ? false : "prometheus is not installed (apt-get install prometheus)";

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function query(base: string, q: string): Promise<any[]> {
  const body = await json(await fetch(`${base}/api/v1/query?query=${encodeURIComponent(q)}`));
  assert.equal(body.status, "success", JSON.stringify(body));
  return body.data.result;
}

describe("Prometheus scrapes the server", { skip: SKIP }, () => {
  let s: Running;
  let prom: ChildProcess;
  let promUrl: string;
  const dir = mkdtempSync(join(tmpdir(), "newsrec-prom-"));
  before(async () => {
    s = await startServer({ demoNews: 1000 });
    const target = new URL(s.url).host;
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: newsrec\n    static_configs:\n      - targets: ["${target}"]\n`,
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(
      "prometheus",
      [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: "ignore" },
    );
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`${promUrl}/-/ready`)).ok) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    prom?.kill("SIGTERM");
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("rank latency quantiles are queryable after traffic", { timeout: 60_000 }, async () => {
    const ids = [...s.app.catalog.entries()].map((e) => e.meta.id);
    // Traffic keeps flowing while we wait for scrapes: rate() needs an increase inside its window.
    let result: any[] = [];
    for (let round = 0; round < 60 && !result.length; round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => post(`${s.url}/rank`, { userId: `p${i % 7}`, history: ids.slice(i, i + 10 + (round % 5)) })));
      await new Promise((r) => setTimeout(r, 500));
      result = await query(
        promUrl,
        'histogram_quantile(0.99, sum by (le) (rate(newsrec_request_duration_seconds_bucket{transport="http",method="POST /rank"}[1m])))',
      );
      if (result.length && result[0].value[1] === "NaN") result = [];
    }
    assert.equal(result.length, 1);
    const p99 = Number(result[0].value[1]);
    assert.ok(p99 > 0 && p99 <= 10, `p99 ${p99}`);
    const stages = await query(promUrl, "sum by (stage) (newsrec_rank_stage_duration_seconds_count)");
    const names = new Set(stages.map((r: any) => r.metric.stage));
    for (const st of ["history_lookup", "cache_lookup", "user_encoding", "retrieval", "serialization"]) assert.ok(names.has(st), st);
    // The same users asked again with the same histories: answered from kept answers, and scraped as such.
    const reused = await query(promUrl, 'sum(newsrec_kept_answers_total{result="reused"})');
    assert.ok(Number(reused[0]?.value[1]) > 0, JSON.stringify(reused));
    const up = await query(promUrl, 'up{job="newsrec"}');
    assert.equal(up[0].value[1], "1");
  });

  test("promtool check metrics accepts the exposition", async () => {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const r = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
