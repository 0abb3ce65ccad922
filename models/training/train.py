"""Train a two-tower news recommender on MIND-format data and export it as a bundle.

python3 models/training/train.py --train DIR --valid DIR --out BUNDLE_DIR
    [--arch hierarchical|siamese] [--epochs N] [--seed S] [--dim D]

Objective: for every click, K non-clicked news of the same impression; softmax
cross-entropy over the 1+K dot-product scores. The last stdout line is one JSON
object with the validation metrics, averaged per impression.
"""
import argparse
import json
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

import export
from metrics import impression_metrics, mean_metrics
from mind import Skips, read_dir
from nets import NrmsNewsEncoder, NrmsUserEncoder, SiameseTextEncoder
from text_tokenizer import WordTokenizer


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--arch", choices=["hierarchical", "siamese"], default="hierarchical")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--negatives", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--fields", default="category,subcategory,title")
    p.add_argument("--max-news-len", type=int, default=32)
    p.add_argument("--max-history", type=int, default=50)
    p.add_argument("--max-user-len", type=int, default=128)
    p.add_argument("--train-history", type=int, default=20,
                   help="clicks per user read while training (the newest); serving reads --max-history")
    p.add_argument("--min-word-count", type=int, default=2)
    p.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    p.add_argument("--name", default=None)
    p.add_argument("--version", default="1.0.0")
    a = p.parse_args(argv)
    if a.dim % a.heads:
        p.error("--dim must be a multiple of --heads")
    a.fields = [f.strip() for f in a.fields.split(",") if f.strip()]
    bad = [f for f in a.fields if f not in ("category", "subcategory", "title", "abstract")]
    if bad:
        p.error(f"--fields: unknown field(s) {bad}")
    return a


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Model:
    """The two towers plus the input assembly both sides share."""

    def __init__(self, args, tok):
        self.args, self.tok = args, tok
        v = len(tok.vocab)
        if args.arch == "hierarchical":
            self.news_enc = NrmsNewsEncoder(v, args.dim, args.heads)
            self.user_enc = NrmsUserEncoder(args.dim, args.heads)
            self.modules = [self.news_enc, self.user_enc]
        else:
            self.news_enc = SiameseTextEncoder(v, args.dim, args.heads, max(args.max_news_len, args.max_user_len))
            self.user_enc = None
            self.modules = [self.news_enc]

    def parameters(self):
        return [p for m in self.modules for p in m.parameters()]

    def train(self, on):
        for m in self.modules:
            m.train(on)

    def news_ids(self, n):
        return self.tok.encode_fields([getattr(n, f) for f in self.args.fields], self.args.max_news_len)

    def user_text_ids(self, history_titles_newest_first):
        return self.tok.encode_fields(history_titles_newest_first, self.args.max_user_len)

    @staticmethod
    def pad(seqs):
        n = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), n, dtype=torch.long)
        mask = torch.zeros(len(seqs), n, dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
        return ids, mask

    def encode_news(self, id_lists):
        return self.news_enc(*self.pad(id_lists))

    def encode_users(self, histories, news, news_vec_of):
        """histories: lists of news ids, oldest first (already truncated to max_history)."""
        if self.user_enc is None:
            texts = [self.user_text_ids([news[h].title for h in reversed(hist)]) for hist in histories]
            return self.news_enc(*self.pad(texts)), None
        h = max(len(x) for x in histories)
        d = self.args.dim
        vecs = torch.zeros(len(histories), h, d)
        mask = torch.zeros(len(histories), h)
        for i, hist in enumerate(histories):
            if hist:
                vecs[i, : len(hist)] = news_vec_of(hist)
                mask[i, : len(hist)] = 1.0
        return self.user_enc(vecs, mask)


def make_samples(impressions, k, rng, max_history):
    samples = []
    for imp in impressions:
        hist = imp.history[-max_history:]
        if not hist:
            continue
        pos = [n for n, l in imp.candidates if l == 1]
        neg = [n for n, l in imp.candidates if l == 0]
        if not neg:
            continue
        for p in pos:
            negs = rng.sample(neg, k) if len(neg) >= k else [rng.choice(neg) for _ in range(k)]
            samples.append((hist, [p] + negs))
    return samples


def train_epoch(model, opt, samples, news, news_ids, args, rng, epoch):
    model.train(True)
    rng.shuffle(samples)
    total, t0 = 0.0, time.time()
    nb = (len(samples) + args.batch_size - 1) // args.batch_size
    for b in range(nb):
        batch = samples[b * args.batch_size : (b + 1) * args.batch_size]
        needed = sorted({n for hist, cands in batch for n in cands} | {n for hist, _ in batch for n in hist})
        row = {n: i for i, n in enumerate(needed)}
        vecs = model.encode_news([news_ids[n] for n in needed])
        of = lambda ids: vecs[torch.tensor([row[n] for n in ids])]
        user, _ = model.encode_users([h for h, _ in batch], news, of)
        cands = torch.stack([of(c) for _, c in batch])  # [B, 1+K, D]
        scores = torch.bmm(cands, user.unsqueeze(-1)).squeeze(-1)
        loss = F.cross_entropy(scores, torch.zeros(len(batch), dtype=torch.long))
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
        if (b + 1) % 100 == 0 or b + 1 == nb:
            log(f"epoch {epoch} batch {b + 1}/{nb} loss {total / (b + 1):.4f} ({time.time() - t0:.0f}s)")
    return total / max(nb, 1)


@torch.no_grad()
def evaluate(model, impressions, news, news_ids, args):
    """Per-impression metrics; impressions with no known history or one label class are skipped."""
    model.train(False)
    skipped = {"emptyHistory": 0, "singleClass": 0}
    needed = sorted({n for imp in impressions for n, _ in imp.candidates} | {n for imp in impressions for n in imp.history[-args.max_history:]})
    row = {n: i for i, n in enumerate(needed)}
    parts = [model.encode_news([news_ids[n] for n in needed[i : i + 512]]) for i in range(0, len(needed), 512)]
    vecs = torch.cat(parts) if parts else torch.zeros(0, args.dim)
    of = lambda ids: vecs[torch.tensor([row[n] for n in ids])]
    rows = []
    todo = []
    for imp in impressions:
        labels = [l for _, l in imp.candidates]
        if not imp.history:
            skipped["emptyHistory"] += 1
        elif len(set(labels)) < 2:
            skipped["singleClass"] += 1
        else:
            todo.append(imp)
    for i in range(0, len(todo), 256):
        chunk = todo[i : i + 256]
        users, _ = model.encode_users([imp.history[-args.max_history:] for imp in chunk], news, of)
        for imp, u in zip(chunk, users):
            scores = (of([n for n, _ in imp.candidates]) @ u).tolist()
            rows.append(impression_metrics([l for _, l in imp.candidates], scores))
    out = mean_metrics(rows)
    out["skipped"] = skipped
    return out


@torch.no_grad()
def news_norms(model, news_ids):
    """Norms of every news vector; the server bounds its HNSW transform with them."""
    model.train(False)
    ids = list(news_ids.values())
    norms = torch.cat([model.encode_news(ids[i : i + 512]).norm(dim=1) for i in range(0, len(ids), 512)])
    return {"max": norms.max().item(), "p99": torch.quantile(norms, 0.99).item()}


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    skips = Skips()
    t0 = time.time()
    train_news, train_imps = read_dir(args.train, skips)
    valid_news, valid_imps = read_dir(args.valid, skips)
    log(f"read {len(train_news)} train news, {len(train_imps)} train impressions, "
        f"{len(valid_news)} valid news, {len(valid_imps)} valid impressions; skipped {json.dumps(skips.as_dict())}")
    news = dict(train_news)
    news.update(valid_news)
    texts = [getattr(n, f) for n in train_news.values() for f in args.fields]
    tok = WordTokenizer.build(texts, min_count=args.min_word_count)
    log(f"vocabulary: {len(tok.vocab)} words")
    model = Model(args, tok)
    news_ids = {nid: model.news_ids(n) for nid, n in news.items()}
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    samples = make_samples(train_imps, args.negatives, rng, min(args.train_history, args.max_history))
    log(f"{len(samples)} training samples, {sum(p.numel() for p in model.parameters())} parameters")
    if not samples:
        log("no training samples: nothing in the training impressions has a known history, a click and a non-click")
    for epoch in range(1, args.epochs + 1):
        if samples:
            train_epoch(model, opt, samples, news, news_ids, args, rng, epoch)
    metrics = evaluate(model, valid_imps, valid_news, news_ids, args)
    log(f"validation: {json.dumps(metrics)}")
    export.write_bundle(args, model, valid_news, valid_imps, metrics, skips, time.time() - t0, news_norms(model, news_ids))
    log(f"bundle written to {args.out}")
    print(json.dumps(metrics), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
