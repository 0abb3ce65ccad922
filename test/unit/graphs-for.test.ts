// How many graphs newsrec embed builds by default (src/catalog/hnsw-settings.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { GRAPH_ITEMS, graphsFor } from "../../src/catalog/hnsw-settings.ts";

test("newsrec embed's default graph count: one graph up to GRAPH_ITEMS news, then one more per GRAPH_ITEMS or part of it", () => {
  assert.equal(GRAPH_ITEMS, 100_000);
  for (const [n, graphs] of [
    [0, 1],
    [1, 1],
    [5_000, 1],
    [100_000, 1],
    [100_001, 2],
    [1_000_000, 10],
    [1_000_001, 11],
  ] as const)
    assert.equal(graphsFor(n), graphs, `${n} news`);
});
