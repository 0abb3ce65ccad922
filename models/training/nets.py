"""Reference encoders. Their ONNX exports define the contract the server runs.

hierarchical (NRMS style):
  news encoder  input_ids[B,L] int64, attention_mask[B,L] int64 -> news_vec[B,D]
  user encoder  history[B,H,D] float32, history_mask[B,H] float32 -> user_vec[B,D], attention[B,H]
siamese (PUNR style): one text encoder, input_ids/attention_mask -> vec[B,D], used for news and users.

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

    def forward(self, history, history_mask):
        x = self.attn(history, history_mask)
        return self.pool(x, history_mask)


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

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.float()
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.drop(self.embed(input_ids) + self.pos(positions)[None])
        x = self.norm1(x + self.drop(self.attn(x, mask)))
        x = self.norm2(x + self.drop(self.ff(x)))
        vec, _ = self.pool(x, mask)
        return vec
