"""Write a self-describing model bundle: ONNX encoders, tokenizer.json, manifest, golden vectors, model card."""
import hashlib
import json
import os
import shutil
import tempfile

import onnx
import torch

from fingerprint import bundle_files, fingerprint
from manifest_schema import validate as validate_manifest
from mind import News

OPSET = 14


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _export(module, inputs, path, input_names, output_names, dynamic_axes):
    module.train(False)
    torch.onnx.export(module, inputs, path, opset_version=OPSET, input_names=input_names,
                      output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def export_encoders(args, model, out):
    ids = torch.ones(2, 5, dtype=torch.long)
    mask = torch.ones(2, 5, dtype=torch.long)
    text_axes = {"input_ids": {0: "batch", 1: "length"}, "attention_mask": {0: "batch", 1: "length"}}
    if args.arch in ("hierarchical", "fum"):
        _export(model.news_enc, (ids, mask), os.path.join(out, "news_encoder.onnx"), ["input_ids", "attention_mask"],
                ["news_vec"], {**text_axes, "news_vec": {0: "batch"}})
        hist = torch.randn(2, 3, args.dim)
        hmask = torch.ones(2, 3)
        names, axes = ["history", "history_mask"], {"history": {0: "batch", 1: "history"}, "history_mask": {0: "batch", 1: "history"},
                                                    "user_vec": {0: "batch"}, "attention": {0: "batch", 1: "history"}}
        inputs = (hist, hmask)
        if args.arch == "fum":
            # history_ids [B, N, T]: the token ids of the last N clicks (N <= fum_news), oldest first.
            names += ["history_ids", "history_ids_mask"]
            axes.update({k: {0: "batch", 1: "news", 2: "tokens"} for k in ("history_ids", "history_ids_mask")})
            inputs += (torch.ones(2, 3, 4, dtype=torch.long), torch.ones(2, 3, 4, dtype=torch.long))
        _export(model.user_enc, inputs, os.path.join(out, "user_encoder.onnx"), names, ["user_vec", "attention"], axes)
        return ["news_encoder.onnx", "user_encoder.onnx"]
    _export(model.news_enc, (ids, mask), os.path.join(out, "text_encoder.onnx"), ["input_ids", "attention_mask"],
            ["vec"], {**text_axes, "vec": {0: "batch"}})
    return ["text_encoder.onnx"]


def manifest(args, files, hashes, vocab_size, metrics, norms):
    text_io = {"inputs": {"ids": "input_ids", "mask": "attention_mask"}}
    if args.arch == "hierarchical":
        news = {"file": "news_encoder.onnx", **text_io, "outputs": {"vector": "news_vec"}}
        user = {"file": "user_encoder.onnx", "input": "news_vectors",
                "inputs": {"vectors": "history", "mask": "history_mask"},
                "outputs": {"vector": "user_vec", "attention": "attention"}}
    elif args.arch == "fum":
        news = {"file": "news_encoder.onnx", **text_io, "outputs": {"vector": "news_vec"}}
        user = {"file": "user_encoder.onnx", "input": "news_tokens_and_vectors",
                "inputs": {"vectors": "history", "mask": "history_mask", "tokenIds": "history_ids", "tokenMask": "history_ids_mask"},
                "outputs": {"vector": "user_vec", "attention": "attention"},
                "tokens": {"fields": args.fum_fields, "maxLength": args.fum_tokens, "maxNews": args.fum_news}}
    else:
        news = {"file": "text_encoder.onnx", **text_io, "outputs": {"vector": "vec"}}
        user = {"file": "text_encoder.onnx", "input": "history_titles", **text_io, "outputs": {"vector": "vec"}}
    man = {
        "name": args.name or {"hierarchical": "newsrec-nrms", "fum": "newsrec-fum", "siamese": "newsrec-punr"}[args.arch],
        "version": args.version,
        "architecture": args.arch,
        "dimension": args.dim,
        "similarity": "dot",
        "tokenizer": {"file": "tokenizer.json", "vocabSize": vocab_size, "padId": 0, "unkId": 1, "sepId": 2},
        "newsInput": {"fields": args.fields, "maxLength": args.max_news_len},
        "userInput": {"maxHistory": args.max_history, "maxLength": args.max_user_len},
        "encoders": {"news": news, "user": user},
        "files": {f: h for f, h in zip(files, hashes)},
        "fingerprint": None,
        "opset": OPSET,
        "newsVectorNorm": norms,
        "validation": metrics,
    }
    # The server hashes the files in bundle_files order; the exporter must list them the same way.
    assert bundle_files(man) == list(files), (bundle_files(man), files)
    man["fingerprint"] = fingerprint(hashes, man)
    # models/manifest.schema.json, which the server loads bundles by: never build one it would refuse.
    validate_manifest(man)
    return man


def golden_news(valid_news):
    picked = [valid_news[k] for k in sorted(valid_news)[:6]]
    picked += [
        News("G-one-word", picked[0].category, picked[0].subcategory, "Breaking", ""),
        News("G-long", picked[1].category, picked[1].subcategory, " ".join([picked[1].title] * 6), picked[1].abstract),
        News("G-unicode", "entertainment", "music", "Beyoncé's « Renaissance » tour: 10 things — naïve café?", ""),
        News("G-unknown", "zzqx", "", "Qwzx vbnm plokij", "Abstract only"),
    ]
    return picked


@torch.no_grad()
def golden(args, model, valid_news, valid_imps):
    model.train(False)
    items = golden_news(valid_news)
    by_id = {n.nid: n for n in items}
    ids = [model.news_ids(n) for n in items]
    vecs = model.encode_news(ids)
    news_out = [{"id": n.nid, "category": n.category, "subcategory": n.subcategory, "title": n.title,
                 "abstract": n.abstract, "ids": i, "vector": v.tolist()} for n, i, v in zip(items, ids, vecs)]
    row = {n.nid: k for k, n in enumerate(items)}
    names = [n.nid for n in items]
    lengths = [1, 3, len(names), args.max_history]
    histories = [[names[(j * 3 + u) % len(names)] for j in range(h)] for u, h in enumerate(lengths)]
    of = lambda hist: vecs[torch.tensor([row[h] for h in hist])]
    users = []
    for u, hist in enumerate(histories):
        vec, attn = model.encode_users([hist], by_id, of)
        entry = {"id": f"G-user-{u}", "history": hist, "vector": vec[0].tolist()}
        if attn is not None:
            entry["attention"] = attn[0].tolist()
        else:
            entry["ids"] = model.user_text_ids([by_id[h].title for h in reversed(hist)])
        if args.arch == "fum":
            # What the catalog must hold per clicked news for this user encoder, as PyTorch made it.
            entry["tokenIds"] = [model.fum_news_ids(by_id[h]) for h in hist[-args.fum_news:]]
        users.append(entry)
    return {"tolerance": 1e-4, "news": news_out, "users": users}


ARCH_TEXT = {
    "hierarchical": "NRMS-style: word embeddings, multi-head self-attention and additive attention for news; "
                    "self-attention and additive attention over the clicked news vectors for users",
    "fum": "FUM: the NRMS-style news encoder; the user vector is the coarse NRMS-style user vector over the clicked news "
           "vectors plus a fine-grained one, a Fastformer over the concatenated token ids of the last clicked news "
           "pooled per news and then over news",
    "siamese": "PUNR-style: one transformer text encoder shared by news and users; a user is the concatenated titles "
               "of the clicked news, newest first, separated by [SEP]",
}


def model_card(args, man, metrics, skips, seconds, n_params):
    m = metrics
    init = f" Encoders started from the pre-training checkpoint `{args.init}`." if getattr(args, "init", None) else ""
    labels = f" Trained on a seeded {args.label_fraction:g} of the labelled impressions." if getattr(args, "label_fraction", 1) < 1 else ""
    return f"""# {man['name']} {man['version']}

Architecture: **{args.arch}** ({ARCH_TEXT[args.arch]}).{init}{labels}
Scoring: dot product of the user and news vectors, dimension {args.dim}.

## Data

Trained on `{args.train}`, validated on `{args.valid}` (MIND format). Skipped while reading: `{json.dumps(skips.as_dict())}`.
News input: fields {', '.join(args.fields)} joined by [SEP], at most {args.max_news_len} tokens.
User input: the last {args.max_history} clicks{f', at most {args.max_user_len} tokens' if args.arch == 'siamese' else ''}{f'; the words ({", ".join(args.fum_fields)}, at most {args.fum_tokens} tokens each) of the last {args.fum_news}' if args.arch == 'fum' else ''}.

## Size

{n_params} parameters; vocabulary of {man['tokenizer']['vocabSize']} words; files: {', '.join(f'{f} ({os.path.getsize(os.path.join(args.out, f)) // 1024} KiB)' for f in man['files'])}.

## Training

{args.epochs} epoch(s), seed {args.seed}, batch {args.batch_size}, Adam lr {args.lr}, {args.negatives} negatives per click, {seconds:.0f} s on {args.threads} thread(s).

## Validation (mean over {m['impressions']} impressions; skipped {json.dumps(m.get('skipped', {}))})

| AUC | MRR | nDCG@5 | nDCG@10 |
| --- | --- | --- | --- |
| {m['auc']:.4f} | {m['mrr']:.4f} | {m['ndcg5']:.4f} | {m['ndcg10']:.4f} |

`npx newsrec eval --model <this folder> --news {args.valid}/news.tsv --behaviors {args.valid}/behaviors.tsv`
reproduces these numbers through the serving path.

## Fingerprint

`{man['fingerprint']}` (sha256 over the encoder and tokenizer files and the manifest settings that shape the vectors; snapshots record it).

## Rebuild

See `models/README.md`.
"""


def write_bundle(args, model, valid_news, valid_imps, metrics, skips, seconds, norms):
    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".bundle-", dir=parent)
    model.tok.save(os.path.join(tmp, "tokenizer.json"))
    files = export_encoders(args, model, tmp) + ["tokenizer.json"]
    hashes = [sha256_file(os.path.join(tmp, f)) for f in files]
    try:
        man = manifest(args, files, hashes, len(model.tok.vocab), metrics, norms)
    except ValueError:
        shutil.rmtree(tmp)  # nothing of a refused bundle is left behind
        raise
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(man, f, indent=2, allow_nan=False)
    with open(os.path.join(tmp, "golden.json"), "w") as f:
        json.dump(golden(args, model, valid_news, valid_imps), f)
    card_args = argparse_like(args, tmp)
    with open(os.path.join(tmp, "MODEL_CARD.md"), "w") as f:
        f.write(model_card(card_args, man, metrics, skips, seconds, sum(p.numel() for p in model.parameters())))
    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.rename(tmp, args.out)


def argparse_like(args, out):
    class A:
        pass
    a = A()
    a.__dict__.update(vars(args))
    a.out = out
    return a
