"""Pre-train the encoders on unlabeled click histories, for train.py --init.

python3 models/training/pretrain.py --objective ptum|userbert|punr --arch hierarchical|siamese|fum
    --data DIR --out CKPT [--epochs N] [--seed S] [--dim D]

Reads the histories of DIR/behaviors.tsv (the history column only: never a label) and of
DIR/histories.tsv when there is one (unlabeled users, docs/mind-format.md), one history per user
and history, each click counted once, the newest --train-history kept. Objectives (defaults are
the papers'):

  ptum      (hierarchical, fum) masked behaviour prediction: one click of the history left out and
            predicted from the user vector of the rest against P=4 random clicked news, (P+1)-way
            softmax cross-entropy over dot products; next-K behaviour prediction: the last K=2
            clicks held out, each predicted from the user vector of the rest (through its own
            linear head) against P=4; loss = MBP + lambda * NBP, lambda = 1.
  userbert  (hierarchical) masked behaviour prediction: 10% of the clicks (at least one) replaced
            by a learned [MASK] vector, each predicted from the user encoder's hidden state at its
            position against K=4 medium-hard negatives (each step a pool of 1,000 clicked news is
            encoded with the current weights and the K nearest to the target by cosine taken, the
            target itself dropped); behaviour sequence matching: a history split at random into two
            disjoint halves, the first's user vector matched to the second's against P=4
            medium-hard negative halves of other users (the nearest by cosine in a pool of 100,
            drawn and encoded anew every 50 steps); loss = MBP + BSM.
  punr      (siamese) user behaviour masking: 30% of the tokens of the user text (the clicked
            titles, newest first, joined by [SEP]) masked, 30% of that budget as whole titles and
            the rest as single words, each masked token replaced by [MASK] (80%), a random word
            (10%) or kept (10%), and predicted from the encoder's state at its position; user
            behaviour generation: a one-block autoregressive decoder regenerates the user text from
            the pooled user vector; loss = UBM + UBG.

Progress goes to stderr; the last stdout line is one JSON object: the objective, the loss of each
task at the start and the end (mean of the first and last steps), the histories used. The
checkpoint (pretrained.py) holds the encoders, the vocabulary and the encoder settings; the heads
and the decoder are kept apart in it and never loaded by train.py.
"""
import argparse
import json
import os
import random
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

import pretrained
from mind import Skips, read_behaviors, read_histories, read_news
from text_tokenizer import WordTokenizer
from train import Model, add_shape_args, resolve_shape

FITS = {"ptum": ("hierarchical", "fum"), "userbert": ("hierarchical",), "punr": ("siamese",)}
WHY_NOT = {
    "ptum": "PTUM predicts behaviours from the user vector of a user encoder over clicked news vectors",
    "userbert": "UserBERT predicts masked behaviours from a hierarchical user encoder's per-behaviour hidden "
                "states (FUM's fine-grained part has none; pre-train FUM with ptum)",
    "punr": "PUNR masks and regenerates the words of the user text, which only the siamese text encoder reads",
}
# The fewest distinct clicks a history needs for each objective's tasks.
MIN_CLICKS = {"ptum": 3, "userbert": 4, "punr": 1}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objective", choices=sorted(FITS), required=True)
    p.add_argument("--arch", choices=["hierarchical", "siamese", "fum"], default=None,
                   help="default: hierarchical for ptum and userbert, siamese for punr")
    p.add_argument("--data", required=True, help="a MIND-format folder: news.tsv, behaviors.tsv, optionally histories.tsv")
    p.add_argument("--out", required=True, help="the checkpoint file to write")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=7)
    add_shape_args(p)
    p.add_argument("--batch-size", type=int, default=64)
    # Three times the fine-tuning rate: at 1e-3 the behaviour-prediction losses of these small
    # encoders barely leave chance within the epochs a small corpus affords (models/RESULTS.md).
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--train-history", type=int, default=20, help="the newest distinct clicks read per history")
    p.add_argument("--max-history", type=int, default=50, help="siamese: the clicks whose titles make the user text")
    p.add_argument("--min-word-count", type=int, default=2)
    p.add_argument("--negatives", type=int, default=4, help="P (ptum) or K (userbert) negatives per predicted behaviour")
    p.add_argument("--next-k", type=int, default=2, help="ptum: the last clicks held out for next-K prediction")
    p.add_argument("--nbp-weight", type=float, default=1.0, help="ptum: lambda")
    p.add_argument("--behaviour-mask", type=float, default=0.1, help="userbert: share of the clicks masked")
    p.add_argument("--sequence-negatives", type=int, default=4, help="userbert: P negative sequences")
    p.add_argument("--behaviour-pool", type=int, default=1000, help="userbert: news encoded each step to pick negatives from")
    p.add_argument("--sequence-pool", type=int, default=100, help="userbert: sequences to pick negatives from")
    p.add_argument("--sequence-refresh", type=int, default=50, help="userbert: steps between sequence pools")
    p.add_argument("--token-mask", type=float, default=0.3, help="punr: share of the user text's tokens masked")
    p.add_argument("--title-share", type=float, default=0.3, help="punr: share of that budget masked as whole titles")
    p.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    p.add_argument("--log-every", type=int, default=20)
    a = p.parse_args(argv)
    a.arch = a.arch or FITS[a.objective][0]
    if a.arch not in FITS[a.objective]:
        p.error(f"--objective {a.objective} does not fit --arch {a.arch}: {WHY_NOT[a.objective]} "
                f"(it fits {', '.join(FITS[a.objective])})")
    if a.epochs < 1:
        p.error("--epochs must be at least 1")
    resolve_shape(p, a)
    return a


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_corpus(args):
    """The news and the distinct histories (behaviors.tsv's, then histories.tsv's), with counts."""
    skips = Skips()
    news = read_news(os.path.join(args.data, "news.tsv"), skips)
    seen, hists = set(), []
    counts = {"fromBehaviors": 0, "fromHistoriesFile": 0, "tooShort": 0}

    def add(rows, source):
        for r in rows:
            if (r.user, tuple(r.history)) in seen:
                continue  # a user's impressions repeat one history: it is one history
            seen.add((r.user, tuple(r.history)))
            # A news item clicked twice is one behaviour: a masked click must not stay visible.
            h = list(dict.fromkeys(r.history))[-args.train_history:]
            if len(h) < MIN_CLICKS[args.objective]:
                counts["tooShort"] += 1
                continue
            hists.append(h)
            counts[source] += 1

    add(read_behaviors(os.path.join(args.data, "behaviors.tsv"), news, skips), "fromBehaviors")
    extra = os.path.join(args.data, "histories.tsv")
    if os.path.exists(extra):
        add(read_histories(extra, news, skips), "fromHistoriesFile")
    counts["used"] = len(hists)
    return news, hists, counts, skips


class Encoded:
    """News vectors of one step: every news the step needs, encoded once."""

    def __init__(self, model, news_ids, needed):
        self.row = {n: i for i, n in enumerate(needed)}
        self.vecs = model.encode_news([news_ids[n] for n in needed])

    def __call__(self, ids):
        return self.vecs[torch.tensor([self.row[n] for n in ids], dtype=torch.long)]


def softmax_ce(user, cands):
    """user [B, D], cands [B, 1+P, D] with the positive first: (1+P)-way cross-entropy of dot products."""
    scores = torch.bmm(cands, user.unsqueeze(-1)).squeeze(-1)
    return F.cross_entropy(scores, torch.zeros(len(scores), dtype=torch.long))


class Objective:
    """One pre-training objective: its heads and one step's losses."""

    heads = {}

    def __init__(self, args, model, news, news_ids, hists, rng):
        self.args, self.model, self.news, self.news_ids, self.hists, self.rng = args, model, news, news_ids, hists, rng
        self.clicked = sorted({n for h in hists for n in h})

    def negatives(self, exclude, k):
        out = []
        while len(out) < k:
            n = self.rng.choice(self.clicked)
            if n not in exclude:
                out.append(n)
        return out


class Ptum(Objective):
    def __init__(self, *a):
        super().__init__(*a)
        d = self.args.dim
        # One linear head per held-out position, identity at the start.
        self.nbp_heads = nn.ModuleList(nn.Linear(d, d) for _ in range(self.args.next_k))
        for h in self.nbp_heads:
            nn.init.eye_(h.weight)
            nn.init.zeros_(h.bias)
        self.heads = {"nbp": self.nbp_heads}

    def step(self, batch, step):
        a, P, K = self.args, self.args.negatives, self.args.next_k
        mbp_ctx, mbp_cands, nbp_ctx, nbp_cands = [], [], [], []
        for h in batch:
            ex = set(h)
            p = self.rng.randrange(len(h))
            mbp_ctx.append(h[:p] + h[p + 1:])
            mbp_cands.append([h[p]] + self.negatives(ex, P))
            nbp_ctx.append(h[:-K])
            nbp_cands.append([[t] + self.negatives(ex, P) for t in h[-K:]])
        needed = sorted({n for h in batch for n in h} | {n for c in mbp_cands for n in c}
                        | {n for cs in nbp_cands for c in cs for n in c})
        of = Encoded(self.model, self.news_ids, needed)
        users, _ = self.model.encode_users(mbp_ctx + nbp_ctx, self.news, of)
        u_mbp, u_nbp = users[: len(batch)], users[len(batch):]
        mbp = softmax_ce(u_mbp, torch.stack([of(c) for c in mbp_cands]))
        nbp = sum(softmax_ce(self.nbp_heads[k](u_nbp), torch.stack([of(cs[k]) for cs in nbp_cands])) for k in range(K))
        return {"mbp": mbp, "nbp": a.nbp_weight * nbp}


class UserBert(Objective):
    def __init__(self, *a):
        super().__init__(*a)
        d = self.args.dim
        self.mask_vec = nn.Parameter(torch.randn(d) * 0.1)
        self.transform = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))
        self.holder = nn.ParameterDict({"mask": self.mask_vec})
        self.heads = {"mask": self.holder, "transform": self.transform}
        self.seq_pool = None
        self.index = {id(h): i for i, h in enumerate(self.hists)}  # batches hold these very lists

    @torch.no_grad()
    def _plain(self, fn):
        """fn run with the current weights, without dropout and without gradients (pools only)."""
        self.model.train(False)
        try:
            return fn()
        finally:
            self.model.train(True)

    def _refresh_sequences(self):
        a = self.args
        owners = self.rng.sample(range(len(self.hists)), min(a.sequence_pool, len(self.hists)))
        seqs = [self._split(self.hists[o])[1] for o in owners]

        def encode():
            of = Encoded(self.model, self.news_ids, sorted({n for s in seqs for n in s}))
            return F.normalize(self.model.encode_users(seqs, self.news, of)[0], dim=-1)

        self.seq_pool = (owners, seqs, self._plain(encode))

    def _split(self, h):
        """Two disjoint halves of a history, each in click order."""
        idx = list(range(len(h)))
        self.rng.shuffle(idx)
        half = len(h) // 2
        return [h[i] for i in sorted(idx[:half])], [h[i] for i in sorted(idx[half:])]

    def step(self, batch, step):
        a, K, P = self.args, self.args.negatives, self.args.sequence_negatives
        if self.seq_pool is None or step % a.sequence_refresh == 0:
            self._refresh_sequences()
        owners, pool_seqs, pool_vecs = self.seq_pool
        masked = [sorted(self.rng.sample(range(len(h)), max(1, round(a.behaviour_mask * len(h))))) for h in batch]
        targets = [h[p] for h, ps in zip(batch, masked) for p in ps]
        # Medium-hard behaviours: the K nearest to each target, by cosine, in a fresh pool.
        pool = self.rng.sample(self.clicked, min(a.behaviour_pool, len(self.clicked)))

        def nearest():
            of = Encoded(self.model, self.news_ids, sorted(set(pool) | set(targets)))
            sims = F.normalize(of(targets), dim=-1) @ F.normalize(of(pool), dim=-1).T
            same = torch.tensor([[p == t for p in pool] for t in targets])
            return sims.masked_fill(same, -2.0).topk(K, dim=-1).indices.tolist()

        negs = [[pool[j] for j in row] for row in self._plain(nearest)]
        halves = [self._split(h) for h in batch]
        needed = sorted({n for h in batch for n in h} | {n for row in negs for n in row} | {n for s in pool_seqs for n in s})
        of = Encoded(self.model, self.news_ids, needed)

        # Masked behaviour prediction from the hidden state at each masked position.
        vecs, mask = self.model.history_vectors(batch, of)
        where = torch.zeros(vecs.shape[:2], dtype=torch.bool)
        for i, ps in enumerate(masked):
            where[i, ps] = True
        x = torch.where(where.unsqueeze(-1), self.mask_vec.expand_as(vecs), vecs)
        hidden = self.model.user_enc.hidden(x, mask)[where]  # [M, D], row-major: the order of targets
        cands = torch.stack([of([t] + row) for t, row in zip(targets, negs)])
        mbp = softmax_ce(self.transform(hidden), cands)

        # Behaviour sequence matching: first half against the second and P medium-hard other halves.
        firsts, _ = self.model.encode_users([f for f, _ in halves], self.news, of)
        with torch.no_grad():
            sims = F.normalize(firsts, dim=-1) @ pool_vecs.T
            own = torch.tensor([[o == self.index[id(h)] for o in owners] for h in batch])
            picks = sims.masked_fill(own, -2.0).topk(min(P, len(owners) - 1), dim=-1).indices.tolist()
        seqs = [s for _, s in halves] + [pool_seqs[j] for row in picks for j in row]
        users, _ = self.model.encode_users(seqs, self.news, of)
        b = len(batch)
        cands = torch.cat([users[:b].unsqueeze(1), users[b:].reshape(b, len(picks[0]), -1)], dim=1)
        bsm = softmax_ce(firsts, cands)
        return {"mbp": mbp, "bsm": bsm}


class Punr(Objective):
    def __init__(self, *a):
        super().__init__(*a)
        d, v = self.args.dim, len(self.model.tok.vocab)
        enc = self.model.news_enc
        self.mask_vec = nn.Parameter(torch.randn(d) * 0.1)
        self.mlm = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d), nn.Linear(d, v))
        # One decoder block: causal self-attention over [user vector, tokens...], words out.
        self.dec_pos = nn.Embedding(self.args.max_user_len + 1, d)
        self.decoder = nn.TransformerEncoderLayer(d, self.args.heads, dim_feedforward=2 * d, dropout=0.1, batch_first=True)
        self.dec_out = nn.Linear(d, v)
        self.holder = nn.ParameterDict({"mask": self.mask_vec})
        self.heads = {"params": self.holder, "mlm": self.mlm, "dec_pos": self.dec_pos, "decoder": self.decoder, "dec_out": self.dec_out}
        self.embed = enc.embed
        self.words = list(range(3, v))  # not [PAD], [UNK], [SEP]
        self.sep = self.model.tok.sep_id

    def _mask_plan(self, ids):
        """Positions to mask: 30% of the words, 30% of that budget as whole titles, the rest single words."""
        titles, cur = [], []
        for i, t in enumerate(ids):
            if t == self.sep:
                if cur:
                    titles.append(cur)
                cur = []
            else:
                cur.append(i)
        if cur:
            titles.append(cur)
        words = [i for t in titles for i in t]
        budget = max(1, round(self.args.token_mask * len(words)))
        title_budget = round(self.args.title_share * budget)
        chosen = set()
        for t in self.rng.sample(titles, len(titles)):
            if len(chosen) + len(t) <= title_budget:
                chosen.update(t)
        rest = [i for i in words if i not in chosen]
        chosen.update(self.rng.sample(rest, min(len(rest), budget - len(chosen))))
        return sorted(chosen)

    def step(self, batch, step):
        model = self.model
        texts = [model.user_text_ids([self.news[n].title for n in reversed(h[-self.args.max_history:])]) for h in batch]
        ids, attn = model.pad(texts)
        corrupt = ids.clone()
        masked = torch.zeros_like(ids, dtype=torch.bool)
        use_mask = torch.zeros_like(ids, dtype=torch.bool)
        for i, t in enumerate(texts):
            for pos in self._mask_plan(t):
                masked[i, pos] = True
                r = self.rng.random()
                if r < 0.8:
                    use_mask[i, pos] = True
                elif r < 0.9:
                    corrupt[i, pos] = self.rng.choice(self.words)
        embeds = self.embed(corrupt)
        embeds = torch.where(use_mask.unsqueeze(-1), self.mask_vec.expand_as(embeds), embeds)
        hidden = model.news_enc.hidden(corrupt, attn, embeds=embeds)
        ubm = F.cross_entropy(self.mlm(hidden[masked]), ids[masked])

        # Generation: the pooled user vector first, then the tokens so far; predict the next token.
        user, _ = model.news_enc.pool(hidden, attn.float())
        n = ids.shape[1]
        x = torch.cat([user.unsqueeze(1), self.embed(ids[:, :-1])], dim=1) + self.dec_pos(torch.arange(n))[None]
        causal = torch.triu(torch.full((n, n), float("-inf")), diagonal=1)
        out = self.decoder(x, src_mask=causal, src_key_padding_mask=attn == 0)
        ubg = F.cross_entropy(self.dec_out(out[attn == 1]), ids[attn == 1])
        return {"ubm": ubm, "ubg": ubg}


OBJECTIVES = {"ptum": Ptum, "userbert": UserBert, "punr": Punr}


def window_mean(xs, first):
    w = max(1, min(50, len(xs) // 5))
    part = xs[:w] if first else xs[-w:]
    return sum(part) / len(part)


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    t0 = time.time()
    news, hists, counts, skips = read_corpus(args)
    log(f"read {len(news)} news and {counts['used']} histories ({counts['fromBehaviors']} from behaviors.tsv, "
        f"{counts['fromHistoriesFile']} from histories.tsv, {counts['tooShort']} with fewer than "
        f"{MIN_CLICKS[args.objective]} distinct clicks left out); skipped {json.dumps(skips.as_dict())}")
    if not hists:
        sys.exit(f"pretrain.py: no history in {args.data} has {MIN_CLICKS[args.objective]} or more distinct clicks of known news")
    vocab_fields = list(dict.fromkeys(args.fields + (args.fum_fields if args.arch == "fum" else [])))
    tok = WordTokenizer.build([getattr(n, f) for n in news.values() for f in vocab_fields], min_count=args.min_word_count)
    log(f"vocabulary: {len(tok.vocab)} words")
    model = Model(args, tok)
    news_ids = {nid: model.news_ids(n) for nid, n in news.items()}
    obj = OBJECTIVES[args.objective](args, model, news, news_ids, hists, rng)
    params = model.parameters() + [p for h in obj.heads.values() for p in h.parameters()]
    opt = torch.optim.Adam(params, lr=args.lr)
    model.train(True)
    losses, step = {}, 0
    nb = (len(hists) + args.batch_size - 1) // args.batch_size
    for epoch in range(1, args.epochs + 1):
        order = list(range(len(hists)))
        rng.shuffle(order)
        for b in range(nb):
            batch = [hists[i] for i in order[b * args.batch_size : (b + 1) * args.batch_size]]
            parts = obj.step(batch, step)
            loss = sum(parts.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            for k, v in parts.items():
                losses.setdefault(k, []).append(v.item())
            if step % args.log_every == 0 or b + 1 == nb:
                recent = {k: round(sum(v[-args.log_every:]) / len(v[-args.log_every:]), 4) for k, v in losses.items()}
                log(f"epoch {epoch} step {b + 1}/{nb} loss {json.dumps(recent)} ({time.time() - t0:.0f}s)")
    summary = {
        "objective": args.objective,
        "arch": args.arch,
        "epochs": args.epochs,
        "steps": step,
        "losses": {k: window_mean(v, first=False) for k, v in losses.items()},
        "initialLosses": {k: window_mean(v, first=True) for k, v in losses.items()},
        "histories": counts,
        "seconds": round(time.time() - t0, 1),
    }
    config = {"arch": args.arch, **{k: getattr(args, k) for k in ("dim", "heads", "fields", "max_news_len", "max_user_len",
                                                                  "fum_news", "fum_tokens", "fum_fields")}}
    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    tmp = args.out + ".tmp"
    pretrained.save(tmp, args.objective, config, tok.vocab, model, obj.heads, summary)
    os.replace(tmp, args.out)
    log(f"checkpoint written to {args.out}")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
