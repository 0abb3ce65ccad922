/**
 * MIND impression metrics, the definitions of models/training/metrics.py: AUC (ties count
 * one half), MRR, nDCG@5 and nDCG@10 with gain 2^label - 1, ranks breaking ties by candidate
 * order; the mean is taken over impressions.
 */
export interface ImpressionMetrics {
  auc: number;
  mrr: number;
  ndcg5: number;
  ndcg10: number;
}

export function auc(labels: number[], scores: number[]): number | null {
  let pairs = 0;
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      total += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return pairs ? total / pairs : null;
}

function order(scores: number[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
}

export function mrr(labels: number[], scores: number[]): number {
  const o = order(scores);
  let s = 0;
  o.forEach((i, rank) => (s += labels[i]! / (rank + 1)));
  const pos = labels.reduce((a, b) => a + b, 0);
  return s / Math.max(pos, 1);
}

function dcg(labels: number[], scores: number[], k: number): number {
  return order(scores)
    .slice(0, k)
    .reduce((s, i, rank) => s + (2 ** labels[i]! - 1) / Math.log2(rank + 2), 0);
}

export function ndcg(labels: number[], scores: number[], k: number): number {
  const best = dcg(labels, labels, k);
  return best > 0 ? dcg(labels, scores, k) / best : 0;
}

export function impressionMetrics(labels: number[], scores: number[]): ImpressionMetrics | null {
  const a = auc(labels, scores);
  if (a === null) return null;
  return { auc: a, mrr: mrr(labels, scores), ndcg5: ndcg(labels, scores, 5), ndcg10: ndcg(labels, scores, 10) };
}

export function meanMetrics(rows: ImpressionMetrics[]): ImpressionMetrics & { impressions: number } {
  const n = rows.length;
  const mean = (k: keyof ImpressionMetrics) => (n ? rows.reduce((s, r) => s + r[k], 0) / n : 0);
  return { auc: mean("auc"), mrr: mean("mrr"), ndcg5: mean("ndcg5"), ndcg10: mean("ndcg10"), impressions: n };
}
