/**
 * The demo catalog that `npm start` serves when no snapshot is given: synthetic news from
 * the same generator as the training corpus, embedded at start, dated in the last two weeks.
 */
import { makeNews } from "../synth/corpus.ts";
import { Random } from "../synth/random.ts";
import type { Encoders } from "../model/encoders.ts";
import type { Catalog, NewsMeta } from "./store.ts";

export function demoNews(n: number, seed = 1, now = Date.now()): NewsMeta[] {
  const rng = new Random(seed);
  const out: NewsMeta[] = [];
  for (let i = 0; i < n; i++) {
    const s = makeNews(rng, i, n);
    const publishedAt = new Date(now - (n - i) * Math.floor((14 * 86400_000) / Math.max(n, 1))).toISOString();
    out.push({ id: s.id, title: s.title, abstract: s.abstract, category: s.category, subcategory: s.subcategory, publishedAt });
  }
  return out;
}

/** Embeds items in fixed batches straight through the worker pool. */
export async function embedInto(catalog: Catalog, encoders: Encoders, items: NewsMeta[], batch = 256, onProgress?: (done: number) => void, indexIt = true): Promise<void> {
  for (let i = 0; i < items.length; i += batch) {
    const chunk = items.slice(i, i + batch);
    const vecs = await encoders.encodeNewsBatch(chunk.map((n) => encoders.tokenizer.news(n)));
    chunk.forEach((n, j) => catalog.upsert(n, vecs[j]!, indexIt));
    onProgress?.(Math.min(i + batch, items.length));
  }
}
