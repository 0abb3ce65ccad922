"""Train a two-tower news recommender on MIND-format data and export it as a bundle.

python3 models/training/train.py --train DIR --valid DIR --out BUNDLE_DIR
    [--arch hierarchical|siamese|fum] [--epochs N] [--seed S] [--dim D]
    [--init CKPT] [--label-fraction F]

Objective: for every click, K non-clicked news of the same impression; softmax
cross-entropy over the 1+K dot-product scores. The last stdout line is one JSON
object with the validation metrics, averaged per impression.

--init starts the encoders from a pre-training checkpoint (pretrain.py): its vocabulary and the
settings that shape the encoders (dimension, heads, fields, lengths) come with it, and only its
encoders are loaded (the pre-training heads never reach the bundle). --label-fraction trains on a
seeded share of the labelled impressions; validation always reads all of --valid.
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
import pretrained
from metrics import impression_metrics, mean_metrics
from mind import Skips, read_dir
from nets import FumUserEncoder, NrmsNewsEncoder, NrmsUserEncoder, SiameseTextEncoder
from text_tokenizer import WordTokenizer

FIELDS = ("category", "subcategory", "title", "abstract")
# Settings that shape the encoders: a pre-training checkpoint carries them (see --init).
SHAPE_DEFAULTS = {
    "dim": 64,
    "heads": 4,
    "fields": "category,subcategory,title",
    "max_news_len": 32,
    "max_user_len": 128,
    "fum_news": 10,
    "fum_tokens": 16,
    "fum_fields": "title,category",
}


def add_shape_args(p):
    """The encoder-shaping options, shared with pretrain.py."""
    p.add_argument("--dim", type=int, default=None, help=f"vector dimension (default {SHAPE_DEFAULTS['dim']})")
    p.add_argument("--heads", type=int, default=None, help=f"attention heads (default {SHAPE_DEFAULTS['heads']})")
    p.add_argument("--fields", default=None, help=f"news input fields (default {SHAPE_DEFAULTS['fields']})")
    p.add_argument("--max-news-len", type=int, default=None, help=f"default {SHAPE_DEFAULTS['max_news_len']}")
    p.add_argument("--max-user-len", type=int, default=None,
                   help=f"token ids of a siamese user input (default {SHAPE_DEFAULTS['max_user_len']})")
    p.add_argument("--fum-news", type=int, default=None,
                   help=f"fum: the last clicks whose words the user encoder reads (default {SHAPE_DEFAULTS['fum_news']})")
    p.add_argument("--fum-tokens", type=int, default=None,
                   help=f"fum: token ids per clicked news (default {SHAPE_DEFAULTS['fum_tokens']})")
    p.add_argument("--fum-fields", default=None,
                   help=f"fum: the clicked news' fields it reads, joined by [SEP] (default {SHAPE_DEFAULTS['fum_fields']})")


def split_fields(p, name, value):
    fields = [f.strip() for f in value.split(",") if f.strip()]
    bad = [f for f in fields if f not in FIELDS]
    if bad or not fields:
        p.error(f"{name}: unknown or no field(s) {bad}")
    return fields


def resolve_shape(p, a, config=None):
    """Fills the shaping options: from the checkpoint's config when there is one (an explicit value
    that differs is refused, since the weights would not fit), else from the defaults."""
    for key, default in SHAPE_DEFAULTS.items():
        given = getattr(a, key)
        if config is not None and key in config:
            have = ",".join(config[key]) if isinstance(config[key], list) else config[key]
            if given is not None and given != have:
                p.error(f"--{key.replace('_', '-')} {given} differs from the checkpoint's {have}: leave it out to use the checkpoint's")
            given = have
        setattr(a, key, default if given is None else given)
    if a.dim % a.heads:
        p.error("--dim must be a multiple of --heads")
    a.fields = split_fields(p, "--fields", a.fields)
    a.fum_fields = split_fields(p, "--fum-fields", a.fum_fields)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True)
    p.add_argument("--valid", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--arch", choices=["hierarchical", "siamese", "fum"], default="hierarchical")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    add_shape_args(p)
    p.add_argument("--negatives", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-history", type=int, default=50)
    p.add_argument("--init", default=None, metavar="CKPT", help="start the encoders from a pretrain.py checkpoint")
    p.add_argument("--label-fraction", type=float, default=1.0,
                   help="train on this seeded share of the labelled impressions (0 < F <= 1)")
    p.add_argument("--train-history", type=int, default=20,
                   help="clicks per user read while training (the newest); serving reads --max-history")
    p.add_argument("--min-word-count", type=int, default=2)
    p.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    p.add_argument("--name", default=None)
    p.add_argument("--version", default="1.0.0")
    a = p.parse_args(argv)
    if not 0 < a.label_fraction <= 1:
        p.error("--label-fraction must be in (0, 1]")
    a.checkpoint = None
    if a.init:
        a.checkpoint = pretrained.load(a.init, p.error)
        have = a.checkpoint["config"]["arch"]
        if not pretrained.fits(have, a.arch):
            p.error(f"--init {a.init} holds {have} encoders, which do not fit --arch {a.arch}"
                    f" (it fits {', '.join(x for x in ('hierarchical', 'siamese', 'fum') if pretrained.fits(have, x))})")
    resolve_shape(p, a, a.checkpoint["config"] if a.checkpoint else None)
    return a


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class Model:
    """The two towers plus the input assembly both sides share."""

    def __init__(self, args, tok):
        self.args, self.tok = args, tok
        v = len(tok.vocab)
        self.fum_ids = {}
        if args.arch == "hierarchical":
            self.news_enc = NrmsNewsEncoder(v, args.dim, args.heads)
            self.user_enc = NrmsUserEncoder(args.dim, args.heads)
            self.modules = [self.news_enc, self.user_enc]
        elif args.arch == "fum":
            self.news_enc = NrmsNewsEncoder(v, args.dim, args.heads)
            self.user_enc = FumUserEncoder(self.news_enc.embed, args.dim, args.heads, args.fum_tokens)
            self.modules = [self.news_enc, self.user_enc]
        else:
            self.news_enc = SiameseTextEncoder(v, args.dim, args.heads, max(args.max_news_len, args.max_user_len))
            self.user_enc = None
            self.modules = [self.news_enc]

    def parameters(self):
        # FUM's user encoder shares the news encoder's word embedding: count it once.
        seen, out = set(), []
        for m in self.modules:
            for p in m.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
        return out

    def train(self, on):
        for m in self.modules:
            m.train(on)

    def news_ids(self, n):
        return self.tok.encode_fields([getattr(n, f) for f in self.args.fields], self.args.max_news_len)

    def user_text_ids(self, history_titles_newest_first):
        return self.tok.encode_fields(history_titles_newest_first, self.args.max_user_len)

    def fum_news_ids(self, n):
        """FUM: the token ids of one clicked news that the user encoder reads (cached per news)."""
        ids = self.fum_ids.get(n.nid)
        if ids is None:
            ids = self.fum_ids[n.nid] = self.tok.encode_fields([getattr(n, f) for f in self.args.fum_fields], self.args.fum_tokens)
        return ids

    def fum_inputs(self, histories, news):
        """[B, N, T] token ids and mask of the last fum_news clicks of each history, oldest first."""
        rows = [[self.fum_news_ids(news[h]) for h in hist[-self.args.fum_news:]] for hist in histories]
        n = max(1, max(len(r) for r in rows))
        t = max([1] + [len(x) for r in rows for x in r])
        ids = torch.zeros(len(rows), n, t, dtype=torch.long)
        mask = torch.zeros(len(rows), n, t, dtype=torch.long)
        for i, r in enumerate(rows):
            for j, x in enumerate(r):
                ids[i, j, : len(x)] = torch.tensor(x, dtype=torch.long)
                mask[i, j, : len(x)] = 1
        return ids, mask

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
        vecs, mask = self.history_vectors(histories, news_vec_of)
        if self.args.arch == "fum":
            return self.user_enc(vecs, mask, *self.fum_inputs(histories, news))
        return self.user_enc(vecs, mask)

    def history_vectors(self, histories, news_vec_of):
        """[B, H, D] clicked news vectors (oldest first, zero-padded) and their [B, H] mask."""
        h = max(len(x) for x in histories)
        d = self.args.dim
        vecs = torch.zeros(len(histories), h, d)
        mask = torch.zeros(len(histories), h)
        for i, hist in enumerate(histories):
            if hist:
                vecs[i, : len(hist)] = news_vec_of(hist)
                mask[i, : len(hist)] = 1.0
        return vecs, mask


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
    if args.checkpoint:
        tok = WordTokenizer(args.checkpoint["vocab"])
        log(f"vocabulary: {len(tok.vocab)} words, from {args.init}")
    else:
        # FUM's user encoder reads its own fields too; for the other architectures this is args.fields.
        fields = list(dict.fromkeys(args.fields + (args.fum_fields if args.arch == "fum" else [])))
        texts = [getattr(n, f) for n in train_news.values() for f in fields]
        tok = WordTokenizer.build(texts, min_count=args.min_word_count)
        log(f"vocabulary: {len(tok.vocab)} words")
    model = Model(args, tok)
    if args.checkpoint:
        log(f"encoders from {args.init}: {pretrained.load_encoders(args.checkpoint, model)}")
    news_ids = {nid: model.news_ids(n) for nid, n in news.items()}
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    if args.label_fraction < 1:
        # Its own generator, so the share picked does not depend on anything drawn before.
        keep = max(1, round(args.label_fraction * len(train_imps)))
        picked = sorted(random.Random(f"labels-{args.seed}").sample(range(len(train_imps)), keep))
        log(f"label fraction {args.label_fraction}: {keep} of {len(train_imps)} training impressions")
        train_imps = [train_imps[i] for i in picked]
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
