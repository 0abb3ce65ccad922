"""Reference encoders. Their ONNX exports define the contract the server runs.

hierarchical (NRMS style):
  news encoder  input_ids[B,L] int64, attention_mask[B,L] int64 -> news_vec[B,D]
  user encoder  history[B,H,D] float32, history_mask[B,H] float32 -> user_vec[B,D], attention[B,H]
siamese (PUNR style): one text encoder, input_ids/attention_mask -> vec[B,D], used for news and users.
fum (FUM): the hierarchical news encoder; the user encoder adds to the coarse (hierarchical) user vector
  a fine-grained one read from the token ids of the last clicked news:
  user encoder  history, history_mask (as hierarchical), history_ids[B,N,T] int64,
                history_ids_mask[B,N,T] int64 (the last N clicks, oldest first) -> user_vec[B,D], attention[B,H]

The `hidden` methods expose per-position states for pre-training (pretrain.py); `forward` is what
is exported, and reads the same weights.

Every attention masks padding, so a row's output does not depend on how far its batch was padded.
"""
import torch
from torch import nn

NEG = -1e4


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        assert dim % heads == 0
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x, mask):
        b, n, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q = q.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        k = k.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = v.reshape(b, n, self.heads, self.head_dim).transpose(1, 2)
        scores = q @ k.transpose(-1, -2) / (self.head_dim ** 0.5)
        scores = scores + (1.0 - mask[:, None, None, :]) * NEG
        ctx = torch.softmax(scores, dim=-1) @ v
        return self.out(ctx.transpose(1, 2).reshape(b, n, d))


class AdditiveAttention(nn.Module):
    """Pools a sequence into one vector; also returns the weights (used to explain rankings)."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.query = nn.Linear(hidden, 1, bias=False)

    def forward(self, x, mask):
        logits = self.query(torch.tanh(self.proj(x))).squeeze(-1)
        weights = torch.softmax(logits + (1.0 - mask) * NEG, dim=-1)
        return (weights.unsqueeze(-1) * x).sum(dim=1), weights


class NrmsNewsEncoder(nn.Module):
    def __init__(self, vocab_size, dim, heads, dropout=0.2):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.attn = MultiHeadSelfAttention(dim, heads)
        self.pool = AdditiveAttention(dim, dim)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.float()
        x = self.drop(self.embed(input_ids))
        x = self.drop(self.attn(x, mask))
        vec, _ = self.pool(x, mask)
        return vec


class NrmsUserEncoder(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attn = MultiHeadSelfAttention(dim, heads)
        self.pool = AdditiveAttention(dim, dim)

    def hidden(self, history, history_mask):
        """The contextual state of every behaviour (UserBERT predicts masked ones from it)."""
        return self.attn(history, history_mask)

    def forward(self, history, history_mask):
        x = self.hidden(history, history_mask)
        return self.pool(x, history_mask)


class Fastformer(nn.Module):
    """One Fastformer attention (Wu et al., 2021): additive attention summarises the queries into a
    global query, which multiplies the keys; those are summarised into a global key, which
    multiplies the values. Linear in the sequence length, which is what lets FUM read every word
    of a long history."""

    def __init__(self, dim, heads):
        super().__init__()
        assert dim % heads == 0
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.q_score = nn.Parameter(torch.randn(heads, self.head_dim) * 0.02)
        self.k_score = nn.Parameter(torch.randn(heads, self.head_dim) * 0.02)
        self.out = nn.Linear(dim, dim)

    def _summary(self, x, weights, mask):
        # x [B, heads, N, hd]; one softmax over the unmasked positions per head.
        logits = (x * weights[None, :, None, :]).sum(-1) / (self.head_dim ** 0.5)
        alpha = torch.softmax(logits + (1.0 - mask[:, None, :]) * NEG, dim=-1)
        return (alpha.unsqueeze(-1) * x).sum(dim=2, keepdim=True)

    def forward(self, x, mask):
        b, n, d = x.shape
        q, k, v = (t.reshape(b, n, self.heads, self.head_dim).transpose(1, 2) for t in self.qkv(x).chunk(3, dim=-1))
        global_q = self._summary(q, self.q_score, mask)
        p = global_q * k
        global_k = self._summary(p, self.k_score, mask)
        u = (global_k * v).transpose(1, 2).reshape(b, n, d)
        return self.out(u) + q.transpose(1, 2).reshape(b, n, d)


class FumUserEncoder(nn.Module):
    """FUM (Qi et al., 2022): user_vec = coarse + fine. The coarse vector is the hierarchical user
    encoder over the clicked news vectors; the fine one reads the words: the token ids of the last
    N clicked news (per news its title and category, at most T tokens) are concatenated, one
    Fastformer layer lets every word see the whole history, and additive attention pools the words
    of each news and then the news. Positions count words within a news (never across the padded
    concatenation), so a vector does not depend on how far its batch was padded. The word embedding
    is the news encoder's own (shared weights)."""

    def __init__(self, embed, dim, heads, max_tokens, dropout=0.2):
        super().__init__()
        self.coarse = NrmsUserEncoder(dim, heads)
        self.embed = embed
        self.pos = nn.Embedding(max_tokens, dim)
        self.fast = Fastformer(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.word_pool = AdditiveAttention(dim, dim)
        self.news_pool = AdditiveAttention(dim, dim)

    def fine(self, history_ids, history_ids_mask):
        b, n, t = history_ids.shape
        d = self.pos.embedding_dim
        mask = history_ids_mask.float().reshape(b, n * t)
        positions = torch.arange(t, device=history_ids.device).repeat(n)
        x = self.drop(self.embed(history_ids.reshape(b, n * t)) + self.pos(positions)[None])
        x = self.norm(x + self.drop(self.fast(x, mask)))
        words, _ = self.word_pool(x.reshape(b * n, t, d), mask.reshape(b * n, t))
        news_mask = (history_ids_mask.reshape(b, n, t).sum(-1) > 0).float()
        vec, _ = self.news_pool(words.reshape(b, n, d), news_mask)
        return vec

    def forward(self, history, history_mask, history_ids, history_ids_mask):
        coarse, attention = self.coarse(history, history_mask)
        return coarse + self.fine(history_ids, history_ids_mask), attention


class SiameseTextEncoder(nn.Module):
    """One small transformer layer with learned positions, then additive pooling."""

    def __init__(self, vocab_size, dim, heads, max_len, dropout=0.1):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        self.attn = MultiHeadSelfAttention(dim, heads)
        self.norm1 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.pool = AdditiveAttention(dim, dim)

    def hidden(self, input_ids, attention_mask, embeds=None):
        """Every position's state; embeds replaces the token embeddings (PUNR masks some)."""
        mask = attention_mask.float()
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.drop((self.embed(input_ids) if embeds is None else embeds) + self.pos(positions)[None])
        x = self.norm1(x + self.drop(self.attn(x, mask)))
        return self.norm2(x + self.drop(self.ff(x)))

    def forward(self, input_ids, attention_mask):
        x = self.hidden(input_ids, attention_mask)
        vec, _ = self.pool(x, attention_mask.float())
        return vec
