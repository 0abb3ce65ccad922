/**
 * Offline evaluation through the serving path: every impression is reranked by the same
 * RankService that answers /rank, then scored with the MIND metrics.
 */
import type { RankService } from "../rank/service.ts";
import type { Impression } from "./behaviors.ts";
import { impressionMetrics, meanMetrics, type ImpressionMetrics } from "./metrics.ts";

export interface EvalResult extends ImpressionMetrics {
  impressions: number;
  skipped: { emptyHistory: number; singleClass: number; unknownCandidates: number };
}

export async function evaluate(
  rank: RankService,
  impressions: Impression[],
  opts: { concurrency: number; onProgress?: (done: number) => void },
): Promise<EvalResult> {
  const skipped = { emptyHistory: 0, singleClass: 0, unknownCandidates: 0 };
  const rows: (ImpressionMetrics | null)[] = new Array(impressions.length).fill(null);
  let next = 0;
  let done = 0;
  const one = async (i: number) => {
    const imp = impressions[i]!;
    const res = await rank.rank({
      userId: imp.userId,
      history: imp.history,
      candidates: imp.candidates,
      k: Math.min(Math.max(imp.candidates.length, 1), 1000),
      excludeHistory: false,
    });
    skipped.unknownCandidates += res.unknownCandidates.length;
    if (res.coldStart) {
      skipped.emptyHistory++;
      return;
    }
    const score = new Map(res.items.map((it) => [it.newsId, it.score]));
    const labels: number[] = [];
    const scores: number[] = [];
    imp.candidates.forEach((id, j) => {
      const s = score.get(id);
      if (s === undefined) return;
      labels.push(imp.labels[j]!);
      scores.push(s);
    });
    const m = impressionMetrics(labels, scores);
    if (!m) skipped.singleClass++;
    rows[i] = m;
  };
  const workers = Array.from({ length: Math.max(1, opts.concurrency) }, async () => {
    while (next < impressions.length) {
      const i = next++;
      await one(i);
      done++;
      opts.onProgress?.(done);
    }
  });
  await Promise.all(workers);
  return { ...meanMetrics(rows.filter((r): r is ImpressionMetrics => r !== null)), skipped };
}
