import { test } from "node:test";
import assert from "node:assert/strict";
import { auc, impressionMetrics, meanMetrics, mrr, ndcg } from "../../src/eval/metrics.ts";

test("AUC counts ties as one half", () => {
  assert.equal(auc([1, 0, 0], [0.9, 0.5, 0.1]), 1);
  assert.equal(auc([1, 0, 0], [0.1, 0.5, 0.9]), 0);
  assert.equal(auc([1, 0], [0.5, 0.5]), 0.5);
  assert.equal(auc([1, 1, 0, 0], [0.9, 0.2, 0.5, 0.1]), 0.75);
});

test("impressions with one label class, or one candidate, have no metrics", () => {
  assert.equal(impressionMetrics([0, 0, 0], [0.3, 0.2, 0.1]), null);
  assert.equal(impressionMetrics([1, 1], [0.3, 0.2]), null);
  assert.equal(impressionMetrics([1], [0.3]), null);
});

test("MRR and nDCG by hand", () => {
  // Ranked: c(0) a(1) b(0): the click is second.
  assert.equal(mrr([1, 0, 0], [0.5, 0.1, 0.9]), 0.5);
  // Two clicks ranked first and third: (1 + 1/3) / 2.
  assert.ok(Math.abs(mrr([1, 0, 1], [0.9, 0.5, 0.1]) - 2 / 3) < 1e-12);
  // nDCG@5 with a click at rank 2 of 3: (1/log2(3)) / 1.
  assert.ok(Math.abs(ndcg([1, 0, 0], [0.5, 0.1, 0.9], 5) - 1 / Math.log2(3)) < 1e-12);
  // nDCG@k cuts at k: the only click at rank 3 with k = 2 scores 0.
  assert.equal(ndcg([0, 0, 1], [0.9, 0.8, 0.1], 2), 0);
  // Ties keep candidate order (a stable sort), as the Python trainer does.
  assert.equal(mrr([0, 1], [0.5, 0.5]), 0.5);
});

test("the mean is taken over impressions", () => {
  const m = meanMetrics([impressionMetrics([1, 0], [1, 0])!, impressionMetrics([1, 0], [0, 1])!]);
  assert.equal(m.auc, 0.5);
  assert.equal(m.impressions, 2);
  assert.equal(meanMetrics([]).impressions, 0);
});
