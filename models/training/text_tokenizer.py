"""Word-level tokenizer shared by the trainer and the server.

The server tokenizes with @huggingface/tokenizers from the bundle's tokenizer.json
(Lowercase normalizer, BertPreTokenizer, WordPiece over a whole-word vocabulary).
This module reproduces that pipeline exactly, without the Rust `tokenizers`
package (not installable here): the character classes below are the ones the
JavaScript implementation uses (`\\s` in `u` mode and `\\p{P}` plus ASCII
punctuation), so both sides give identical ids for identical text.
"""
import json
import re
import unicodedata
from collections import Counter

PAD, UNK, SEP = "[PAD]", "[UNK]", "[SEP]"
SPECIALS = [PAD, UNK, SEP]
MAX_CHARS_PER_WORD = 100

# JavaScript's \s (ECMAScript WhiteSpace + LineTerminator).
_JS_SPACE = set("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | {
    chr(c) for c in range(0x2000, 0x200B)
}


def _is_punct(ch):
    o = ord(ch)
    if 0x21 <= o <= 0x2F or 0x3A <= o <= 0x40 or 0x5B <= o <= 0x60 or 0x7B <= o <= 0x7E:
        return True
    return unicodedata.category(ch).startswith("P")


def pre_tokenize(text):
    """Lowercase, then split into runs of word characters and single punctuation marks."""
    text = text.lower()
    words, cur = [], []
    for ch in text:
        if ch in _JS_SPACE:
            if cur:
                words.append("".join(cur))
                cur = []
        elif _is_punct(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


class WordTokenizer:
    def __init__(self, vocab):
        self.vocab = vocab
        self.pad_id = vocab[PAD]
        self.unk_id = vocab[UNK]
        self.sep_id = vocab[SEP]

    @classmethod
    def build(cls, texts, min_count=2, max_size=50000):
        counts = Counter()
        for t in texts:
            counts.update(w for w in pre_tokenize(t) if len(w) <= MAX_CHARS_PER_WORD)
        vocab = {tok: i for i, tok in enumerate(SPECIALS)}
        # Sorted by count, then alphabetically, so that the vocabulary is deterministic.
        for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if n < min_count or len(vocab) >= max_size:
                break
            # A word starting with "##" would be read by WordPiece as a continuation piece.
            if word.startswith("##") or word in vocab:
                continue
            vocab[word] = len(vocab)
        return cls(vocab)

    def tokenize(self, text):
        out = []
        for w in pre_tokenize(text):
            if len(w) > MAX_CHARS_PER_WORD:
                out.append(self.unk_id)
            else:
                out.append(self.vocab.get(w, self.unk_id))
        return out

    def encode_fields(self, fields, max_len):
        """Non-empty fields joined by [SEP], truncated to max_len; never empty."""
        ids = []
        for text in fields:
            toks = self.tokenize(text or "")
            if not toks:
                continue
            if ids:
                ids.append(self.sep_id)
            ids.extend(toks)
        if not ids:
            ids = [self.unk_id]
        return ids[:max_len]

    def to_hf_json(self):
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": [],
            "normalizer": {"type": "Lowercase"},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": None,
            "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
            "model": {
                "type": "WordPiece",
                "unk_token": UNK,
                "continuing_subword_prefix": "##",
                "max_input_chars_per_word": MAX_CHARS_PER_WORD,
                "vocab": self.vocab,
            },
        }

    def save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_hf_json(), f, ensure_ascii=False)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f)["model"]["vocab"])
