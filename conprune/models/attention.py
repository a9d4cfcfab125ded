"""Multi-head self-attention with one contiguous slice per head: rotary, absolute-free or
Transformer-XL relative positions.

A head h is rows h·hd:(h+1)·hd of the separate q/k/v projections (and, with rel_xl, of
`linear_pos` and row h of `pos_bias_u`/`pos_bias_v`) and the same columns of `out`: nothing couples
heads before `out`, so a head gate of 0 equals the model without that head's slices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from conprune.models.positions import relative_table, rotate


def attention_bias(valid: Tensor, over_queries: bool = False) -> Tensor:
    """Additive attention mask [B, 1, 1, T] from valid frames [B, T]: 0 on real keys, -inf on padding;
    [B, 1, T, T] with `over_queries` (what ONNX Runtime's opset-23 Attention kernel accepts).

    Computed once per forward, not per layer: a boolean mask costs every exported attention a
    Where and a NaN guard in ONNX Runtime (measured: docs/benchmarks.md). A zero-length
    utterance would give an all-masked softmax (NaN), so its first key always stays.
    """
    keys = valid | (torch.arange(valid.shape[1], device=valid.device)[None, :] == 0)
    bias = torch.zeros(keys.shape, dtype=torch.float32, device=valid.device)
    bias = bias.masked_fill(~keys, float("-inf"))[:, None, None, :]
    return bias.expand(-1, -1, valid.shape[1], -1) if over_queries else bias


def rel_shift(scores: Tensor) -> Tensor:
    """Scores [B, H, T, 2T−1] against relative distances T−1…−(T−1) -> [B, H, T, T] against keys:
    out[i, j] = scores[i, T−1−(i−j)], element for element what Transformer-XL's pad-and-reshape skew
    (Dai et al. 2019, appendix B; Parakeet, NeMo) selects. A gather rather than the skew: its
    reshapes of a dynamic time axis give torch.export divisibility guards it cannot prove, so a
    rel_xl model would not export with a dynamic length."""
    t = scores.shape[2]
    steps = torch.arange(t, device=scores.device)
    index = (t - 1) - steps[:, None] + steps[None, :]
    return scores.gather(-1, index.expand(scores.shape[0], scores.shape[1], t, t))


class SelfAttention(nn.Module):
    """Pre-norm MHSA with separate q/k/v/out projections so each head is a contiguous slice.

    `rel_xl`: Transformer-XL relative attention (Parakeet / FastConformer). Scores are
    ((q+u)·k + (q+v)·(W_pos r_{i−j})) / √hd with per-head biases u = `pos_bias_u`, v = `pos_bias_v`
    and the bias-free projection `linear_pos` of the sinusoid table r (`relative_table`). The
    position term enters scaled dot-product attention as its additive mask, so the Q·Kᵀ, softmax and
    A·V stay one fused kernel. `bias` switches the q/k/v/out biases.
    """

    def __init__(self, d_model: int, heads: int, head_dim: int, dropout: float, attn_dropout: float, *,
                 rel_xl: bool = False, bias: bool = True, norm_eps: float = 1e-5, norm_bias: bool = True) -> None:
        super().__init__()
        self.heads, self.head_dim, self.attn_dropout, self.rel_xl = heads, head_dim, attn_dropout, rel_xl
        self.norm = nn.LayerNorm(d_model, eps=norm_eps, bias=norm_bias)
        self.q, self.k, self.v = (nn.Linear(d_model, heads * head_dim, bias=bias) for _ in range(3))
        self.out = nn.Linear(heads * head_dim, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        if rel_xl:
            self.linear_pos = nn.Linear(d_model, heads * head_dim, bias=False)
            self.pos_bias_u = nn.Parameter(torch.zeros(heads, head_dim))
            self.pos_bias_v = nn.Parameter(torch.zeros(heads, head_dim))

    def forward(self, x: Tensor, key_bias: Tensor | None, positions: tuple[Tensor, Tensor] | Tensor | None,
                heads: Tensor | None = None) -> Tensor:
        """x [B, T, d] -> [B, T, d]. `key_bias` [B, 1, 1, T] (or [B, 1, T, T]) is 0 on real keys and
        -inf on padded ones (`attention_bias`); None when every key is real (SDPA's fastest path).
        `positions`: the RoPE (cos, sin) tables, or with rel_xl the relative table [2T−1, d]
        (computed here when None); `heads` [H] gates the head outputs."""
        b, t, _ = x.shape
        y = self.norm(x)
        q, k, v = (p(y).view(b, t, self.heads, self.head_dim).transpose(1, 2) for p in (self.q, self.k, self.v))
        mask = key_bias.to(q.dtype) if key_bias is not None else None
        if self.rel_xl:
            table = positions if isinstance(positions, Tensor) else relative_table(t, x.shape[-1], x.device)
            q, mask = self._relative(q, table.to(q.dtype), mask)
        elif positions is not None:
            q, k = rotate(q, *positions), rotate(k, *positions)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        if heads is not None:
            a = a * heads.view(1, -1, 1, 1).to(a.dtype)
        return self.dropout(self.out(a.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)))

    def _relative(self, q: Tensor, table: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """(q + u, the position scores (q+v)·R / √hd plus `mask`) for SDPA, which adds its mask
        after scaling Q·Kᵀ. R is projected once per forward, shared by the batch: (2T−1)·d·H·hd MACs."""
        r = self.linear_pos(table).view(-1, self.heads, self.head_dim).permute(1, 2, 0)  # [H, hd, 2T−1]
        scores = rel_shift(torch.matmul(q + self.pos_bias_v[:, None, :], r)) * self.head_dim ** -0.5
        return q + self.pos_bias_u[:, None, :], scores if mask is None else scores + mask
