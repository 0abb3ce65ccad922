import { test } from "node:test";
import assert from "node:assert/strict";
import { Catalog, catalogOptions } from "../../src/catalog/store.ts";
import { buildConfig } from "../../src/config.ts";
import { demoNews } from "../../src/catalog/demo.ts";
import { embedInto } from "../../src/catalog/embed.ts";
import { indexPhi, loadBundle } from "../../src/model/bundle.ts";
import { Encoders } from "../../src/model/encoders.ts";
import { DEFAULT_BUNDLE } from "../helpers.ts";

test("HNSW recall@10 against exact search on 10,000 real news vectors is at least 0.95 with the default parameters", async () => {
  const bundle = loadBundle(DEFAULT_BUNDLE);
  const enc = await Encoders.open(bundle, { workers: 1, intraOpThreads: 2, providers: ["cpu"], maxBatch: 64, maxWaitMs: 1, maxQueue: 1000, log: () => {} });
  try {
    const catalog = new Catalog(
      bundle.manifest.dimension,
      bundle.manifest.fingerprint,
      catalogOptions({ ...buildConfig(), exactMaxItems: 0 }, indexPhi(bundle.manifest)),
    );
    const items = demoNews(10_000, 11);
    await embedInto(catalog, enc, items, 512);
    assert.equal(catalog.size, 10_000);
    // Queries are real user vectors: histories of 5 to 40 random items.
    let hits = 0;
    let total = 0;
    for (let q = 0; q < 100; q++) {
      const len = 5 + ((q * 7) % 36);
      const hist = Array.from({ length: len }, (_, j) => catalog.vectorAt((q * 97 + j * 131) % 10_000));
      const { vector } = await enc.encodeUser({ kind: "vectors", vectors: hist });
      const approx = new Set(catalog.search(vector, 10).map((r) => r.slot));
      const exact = catalog.exactSearch(vector, 10);
      assert.equal(exact.length, 10);
      for (const r of exact) if (approx.has(r.slot)) hits++;
      total += 10;
    }
    const recall = hits / total;
    assert.ok(recall >= 0.95, `recall@10 = ${recall}`);
  } finally {
    await enc.close();
  }
});
