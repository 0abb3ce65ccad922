"""Pre-training checkpoints: what pretrain.py saves and train.py --init loads.

A checkpoint is one torch.save'd dict:
  format      "newsrec-pretrain", version 1
  objective   ptum | userbert | punr
  config      the settings that shape the encoders (arch, dim, heads, fields, lengths, FUM's inputs)
  vocab       the tokenizer's vocabulary (word -> id); fine-tuning keeps it, so ids mean the same
  encoders    {"news": state_dict, "user": state_dict or None}: all that train.py ever loads
  heads       the pre-training heads and decoder, kept apart: never loaded, never exported
  summary     pretrain.py's last stdout line (losses, histories used)
"""
import torch

FORMAT, VERSION = "newsrec-pretrain", 1

# Which encoders a checkpoint of one architecture can start: FUM's coarse user encoder is the
# hierarchical one, so a hierarchical checkpoint starts FUM's news encoder and coarse part.
_FITS = {"hierarchical": {"hierarchical", "fum"}, "fum": {"fum"}, "siamese": {"siamese"}}


def fits(have, want):
    return want in _FITS.get(have, ())


def save(path, objective, config, vocab, model, heads, summary):
    torch.save({
        "format": FORMAT,
        "version": VERSION,
        "objective": objective,
        "config": config,
        "vocab": vocab,
        "encoders": {
            "news": model.news_enc.state_dict(),
            "user": model.user_enc.state_dict() if model.user_enc is not None else None,
        },
        "heads": {name: m.state_dict() for name, m in heads.items()},
        "summary": summary,
    }, path)


def load(path, error):
    """The checkpoint, or error(reason) when the file is not one."""
    try:
        ckpt = torch.load(path, map_location="cpu")
    except Exception as err:  # torch.load raises whatever unpickling a foreign file raises
        error(f"--init {path}: cannot read it ({err})")
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        error(f"--init {path}: not a pretrain.py checkpoint")
    if ckpt.get("version") != VERSION:
        error(f"--init {path}: checkpoint version {ckpt.get('version')}, this trainer reads {VERSION}")
    return ckpt


def load_encoders(ckpt, model):
    """Loads the checkpoint's encoders into the model (strictly: every weight must fit); says what."""
    have, want = ckpt["config"]["arch"], model.args.arch
    enc = ckpt["encoders"]
    model.news_enc.load_state_dict(enc["news"])
    if have == want and enc["user"] is not None:
        model.user_enc.load_state_dict(enc["user"])
        return f"{ckpt['objective']} news and user encoders"
    if have == "hierarchical" and want == "fum":
        model.user_enc.coarse.load_state_dict(enc["user"])
        return f"{ckpt['objective']} news encoder and FUM's coarse user encoder (its fine-grained part starts fresh)"
    return f"{ckpt['objective']} text encoder"
