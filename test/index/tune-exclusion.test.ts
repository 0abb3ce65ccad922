// Tuning measures recall as /rank retrieves: a user's own clicks are left out of a retrieve's
// results by default, so they are left out of the exact answer and of the graph's too
// (src/index/tune.ts). Counted, they inflate recall: a user's vector lies near what it clicked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildGraph, exactTruth, graphSearcher, measure, shardsSearcher, type TuneInput } from "../../src/index/tune.ts";
import { Random } from "../../src/synth/random.ts";

const DIM = 16;
const N = 3000;

function input(): TuneInput {
  const rng = new Random(11);
  const vectors = new Float32Array(N * DIM);
  for (let i = 0; i < vectors.length; i++) vectors[i] = rng.next() * 2 - 1;
  for (let s = 0; s < N; s++) {
    const row = vectors.subarray(s * DIM, (s + 1) * DIM);
    const norm = Math.hypot(...row);
    for (let j = 0; j < DIM; j++) row[j]! /= norm;
  }
  // Each user's vector is the mean of its history: its clicks are among its nearest items.
  const queries = Array.from({ length: 40 }, () => {
    const history = Array.from({ length: rng.int(3, 8) }, () => rng.int(0, N - 1));
    const vector = new Float32Array(DIM);
    for (const s of history) for (let j = 0; j < DIM; j++) vector[j]! += vectors[s * DIM + j]! / history.length;
    return { vector, history };
  });
  return { vectors, dim: DIM, slots: N, isLive: () => true, phi: 1.01, queries };
}

test("the exact answer and the graph's leave each user's history out, and recall is measured between them", () => {
  const t = input();
  const { truth } = exactTruth(t, 10);
  t.queries.forEach((q, i) => {
    const clicked = new Set(q.history);
    assert.equal(truth[i]!.size, 10);
    assert.deepEqual(
      [...truth[i]!].filter((s) => clicked.has(s)),
      [],
      `query ${i}: no clicked item in the exact answer`,
    );
  });
  const graph = buildGraph(t, 16, 100);
  const split = [buildGraph({ ...t, isLive: (s) => s % 2 === 0 }, 16, 100), buildGraph({ ...t, isLive: (s) => s % 2 === 1 }, 16, 100)];
  for (const search of [graphSearcher(graph), shardsSearcher(split, t)]) {
    t.queries.forEach((q) => {
      const found = search(q.vector, 10, 200, new Set(q.history));
      assert.equal(found.length, 10);
      assert.ok(!found.some((s) => q.history.includes(s)), "no clicked item in the graph's answer");
    });
    const p = measure(search, t, truth, exactTruth(t, 100).truth, 400);
    // A wide beam on a small graph finds nearly all of the exact answer, clicks left out on both sides.
    assert.ok(p.recall10 > 0.9, `recall@10 ${p.recall10}`);
  }
});
