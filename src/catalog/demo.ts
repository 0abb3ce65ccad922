/**
 * The demo catalog that `npm start` serves when no snapshot is given: synthetic news from
 * the same generator as the training corpus, embedded at start, dated in the last two weeks.
 */
import { makeNews } from "../synth/corpus.ts";
import { Random } from "../synth/random.ts";
import type { NewsMeta } from "./store.ts";

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
