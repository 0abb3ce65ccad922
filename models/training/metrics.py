"""MIND impression metrics: AUC, MRR, nDCG@5, nDCG@10 (gain 2^label - 1), averaged per impression.

The TypeScript evaluator (src/eval/metrics.ts) implements the same definitions; ties
in AUC count one half, ranks break ties by candidate order (a stable sort).
"""
import math


def auc(labels, scores):
    pos = [s for s, l in zip(scores, labels) if l == 1]
    neg = [s for s, l in zip(scores, labels) if l == 0]
    if not pos or not neg:
        return None
    total = 0.0
    for p in pos:
        for n in neg:
            total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(pos) * len(neg))


def _order(scores):
    return sorted(range(len(scores)), key=lambda i: -scores[i])


def mrr(labels, scores):
    order = _order(scores)
    rr = [labels[i] / (rank + 1) for rank, i in enumerate(order)]
    return sum(rr) / max(sum(labels), 1)


def dcg(labels, scores, k):
    order = _order(scores)[:k]
    return sum((2 ** labels[i] - 1) / math.log2(rank + 2) for rank, i in enumerate(order))


def ndcg(labels, scores, k):
    best = dcg(labels, labels, k)
    return dcg(labels, scores, k) / best if best > 0 else 0.0


def impression_metrics(labels, scores):
    a = auc(labels, scores)
    if a is None:
        return None
    return {"auc": a, "mrr": mrr(labels, scores), "ndcg5": ndcg(labels, scores, 5), "ndcg10": ndcg(labels, scores, 10)}


def mean_metrics(rows):
    n = len(rows)
    keys = ("auc", "mrr", "ndcg5", "ndcg10")
    out = {k: (sum(r[k] for r in rows) / n if n else 0.0) for k in keys}
    out["impressions"] = n
    return out
