/**
 * The bound histogram writes what prom-client's own Histogram writes for the same observations.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import client from "prom-client";
import { BoundHistogram } from "../../src/bound-histogram.ts";

const BUCKETS = [0.001, 0.01, 0.1, 1];
const STAGES = ["a", "b", "c"] as const;

test("same exposition as prom-client's Histogram, series by series", async () => {
  const ours = new client.Registry();
  const theirs = new client.Registry();
  const h = new BoundHistogram("x_seconds", "help text", "stage", STAGES, BUCKETS, ours);
  const p = new client.Histogram({ name: "x_seconds", help: "help text", labelNames: ["stage"], buckets: BUCKETS, registers: [theirs] });
  assert.equal(await ours.metrics(), await theirs.metrics(), "nothing observed: no series");
  // Values on the bounds, between them, past the last, and zero; stage "b" stays empty.
  const observed: [(typeof STAGES)[number], number][] = [
    ["a", 0.001],
    ["a", 0.0005],
    ["a", 0.5],
    ["a", 7],
    ["c", 0],
    ["c", 0.01],
    ["c", 0.0100001],
  ];
  for (const [stage, v] of observed) {
    h.observe(h.indexOf(stage), v);
    p.observe({ stage }, v);
  }
  const lines = (text: string) => text.split("\n").sort();
  assert.deepEqual(lines(await ours.metrics()), lines(await theirs.metrics()));
  assert.match(await ours.metrics(), /x_seconds_bucket\{le="0.01",stage="c"\} 2/);
  ours.resetMetrics();
  theirs.resetMetrics();
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.throws(() => h.indexOf("d" as never), /no stage "d"/);
});
