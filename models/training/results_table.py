"""The results table of models/RESULTS.md from experiments.sh's results.jsonl (and its pre-training summaries).

    python3 models/training/results_table.py WORK/results.jsonl [WORK/pre-*.json...]
    python3 models/training/results_table.py models/results/pretraining-grid.jsonl models/results/pretraining-summaries.jsonl

Per method and label share: the mean and the sample standard deviation over seeds of each validation
metric, and the AUC gain over the method's baseline, paired by seed (the same seed draws the same
labelled share for every method). No torch here.
"""
import json
import os
import statistics
import sys
from collections import defaultdict

METRICS = (("auc", "AUC"), ("mrr", "MRR"), ("ndcg5", "nDCG@5"), ("ndcg10", "nDCG@10"))
BASELINE = {"nrms+ptum": "nrms", "nrms+userbert": "nrms", "fum": "nrms", "nrms-6epochs": "nrms", "siamese+punr": "siamese"}
ORDER = ["nrms", "nrms-6epochs", "nrms+ptum", "nrms+userbert", "fum", "siamese", "siamese+punr"]


def spread(xs):
    mean = statistics.fmean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return mean, sd


def fmt(xs, scale=100.0, signed=False):
    mean, sd = spread([x * scale for x in xs])
    return f"{mean:+.2f} ± {sd:.2f}" if signed else f"{mean:.2f} ± {sd:.2f}"


def table(rows):
    runs = defaultdict(dict)  # (method, fraction) -> seed -> metrics
    seconds = defaultdict(list)
    for r in rows:
        runs[(r["method"], r["fraction"])][r["seed"]] = r["metrics"]
        seconds[(r["method"], r["fraction"])].append(r["seconds"])
    fractions = sorted({f for _, f in runs})
    methods = sorted({m for m, _ in runs}, key=lambda m: (ORDER.index(m) if m in ORDER else len(ORDER), m))
    out = ["| method | labels | seeds | " + " | ".join(name for _, name in METRICS) + " | ΔAUC vs baseline | s per run |",
           "| --- | --- | --- | " + " | ".join("---" for _ in METRICS) + " | --- | --- |"]
    for m in methods:
        for f in fractions:
            by_seed = runs.get((m, f))
            if not by_seed:
                continue
            cells = [fmt([x[k] for x in by_seed.values()]) for k, _ in METRICS]
            base = runs.get((BASELINE.get(m), f), {})
            paired = [by_seed[s]["auc"] - base[s]["auc"] for s in by_seed if s in base]
            delta = f"{fmt(paired, signed=True)} ({BASELINE[m]})" if m in BASELINE and paired else ""
            out.append(f"| {m} | {f * 100:g}% | {len(by_seed)} | " + " | ".join(cells) + f" | {delta} | {statistics.fmean(seconds[(m, f)]):.0f} |")
    return "\n".join(out)


def pretraining(paths):
    runs = defaultdict(list)
    for p in paths:  # each pretrain.py's last stdout line; a file may hold several, one per line
        with open(p) as f:
            for line in f:
                if line.strip():
                    s = json.loads(line)
                    runs[(s["objective"], s["arch"])].append(s)
    out = ["| objective | arch | seeds | histories | loss per task, first → last steps (mean over seeds) | s per run |",
           "| --- | --- | --- | --- | --- | --- |"]
    for (obj, arch), ss in sorted(runs.items()):
        tasks = ", ".join(f"{t} {statistics.fmean(s['initialLosses'][t] for s in ss):.3f} → {statistics.fmean(s['losses'][t] for s in ss):.3f}"
                          for t in ss[0]["losses"])
        out.append(f"| {obj} | {arch} | {len(ss)} | {ss[0]['histories']['used']} | {tasks} | {statistics.fmean(s['seconds'] for s in ss):.0f} |")
    return "\n".join(out)


def main(argv):
    if not argv:
        sys.exit("usage: results_table.py RESULTS.jsonl [PRETRAIN_SUMMARY.json...]")
    with open(argv[0]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    print("Validation metrics ×100, mean ± sample standard deviation over seeds:\n")
    print(table(rows))
    pre = [p for p in argv[1:] if os.path.getsize(p) > 0]
    if pre:
        print("\nPre-training:\n")
        print(pretraining(pre))


if __name__ == "__main__":
    main(sys.argv[1:])
