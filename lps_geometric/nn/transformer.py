r"""A plain pre-LN transformer encoder (ViT-style) on padded token batches.

With a padding mask, LayerNorms, linear maps and MLPs run on the real tokens only
(:class:`TokenPacking`); attention runs on a few buckets of sequences of similar length,
each padded only to its own longest.

Attention is :func:`torch.nn.functional.scaled_dot_product_attention`, so fused kernels
(flash / memory-efficient attention) are used where the device has them. Parameter names
follow timm's ViT (``blocks.N.norm1``, ``blocks.N.attn.qkv``, ``blocks.N.attn.proj``,
``blocks.N.mlp.fc1``, ``blocks.N.mlp.fc2``, ``norm``) so pretrained ViT blocks map on
one-to-one.
"""
from typing import Callable, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ['Attention', 'FeedForward', 'TokenPacking', 'TransformerBlock',
           'TransformerEncoder']


class Attention(nn.Module):
    r"""Multi-head self-attention with a key padding mask.

    Shapes:
        - **input:** tokens :math:`(B, T, D)`, mask :math:`(B, T)` (:obj:`True` = real token)
        - **output:** :math:`(B, T, D)`
    """
    def __init__(self, dim: int, num_heads: int, attn_dropout: float = 0.0,
                 dropout: float = 0.0):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"'dim' ({dim}) must be divisible by 'num_heads' "
                             f"({num_heads})")
        self.num_heads = num_heads
        self.attn_dropout = attn_dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        for lin in (self.qkv, self.proj):
            nn.init.trunc_normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        B, T, D = x.shape
        out = self._attend(self.qkv(x), mask)
        return self.proj_drop(self.proj(out.reshape(B, T, D)))

    def forward_packed(self, x: Tensor, packing: 'TokenPacking') -> Tensor:
        r"""The same on the real tokens only: ``x`` :math:`(N, D)`, the rows of the
        padded batch at ``packing.index``; attention runs on ``packing``'s buckets of
        sequences of similar length."""
        out = packing.attend(self.qkv(x), self._attend)
        return self.proj_drop(self.proj(out))

    def _attend(self, qkv: Tensor, mask: Optional[Tensor]) -> Tensor:
        B, T, D3 = qkv.shape
        q, k, v = qkv.view(B, T, 3, self.num_heads,
                           D3 // (3 * self.num_heads)).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask,
            dropout_p=self.attn_dropout if self.training else 0.0)
        return out.transpose(1, 2).reshape(B, T, D3 // 3)


class _Bucket(NamedTuple):
    start: int  # first packed row of the bucket
    end: int  # one past its last
    shape: Tuple[int, int]  # (b, L): sequences, longest length
    gather: Optional[Tensor]  # (b, L) rows in start:end of the padded layout, or None
    mask: Optional[Tensor]  # (b, L) real tokens (None: no padding)
    real: Optional[Tensor]  # flat positions in (b * L) of the real tokens


class TokenPacking:
    r"""Where the real tokens of a padded batch are: ``mask`` :math:`(B, T)` and the flat
    indices ``index`` :math:`(N,)` of its :obj:`True` entries in packed order.
    Position-wise layers (LayerNorm, linear maps, the MLP) run on the :math:`N` real
    tokens only.

    Attention (:meth:`attend`) runs on at most ``max_buckets`` buckets of sequences of
    similar length, each padded only to its own longest sequence (real tokens first, in
    their order): one bucket per distinct length when there are at most that many (no
    padding at all, no mask), otherwise sequences sorted by length and split into
    buckets of equal count. Attention costs :math:`O(L^2)` per sequence, so this skips
    most of the padding's share: for sequences of 145, 170 and 197 tokens padded to 197,
    the padding is about a quarter of the attention's work.
    The packed order is the buckets' (bucket, sequence, position), so a bucket without
    padding is a contiguous block of rows that attention reads as a view. Planning the
    buckets reads the sequence lengths on the host (one sync).
    """
    def __init__(self, mask: Tensor, max_buckets: int = 4):
        if max_buckets < 1:
            raise ValueError(f"'max_buckets' must be positive (got {max_buckets})")
        self.mask = mask
        device = mask.device
        host = mask.sum(dim=1).tolist()
        by_length = sorted((n, b) for b, n in enumerate(host) if n > 0)
        distinct = sorted({n for n, _ in by_length})
        if len(distinct) <= max_buckets:
            groups = [[b for n, b in by_length if n == length] for length in distinct]
        else:
            size = -(-len(by_length) // max_buckets)
            groups = [[b for _, b in by_length[i:i + size]]
                      for i in range(0, len(by_length), size)]
        self.buckets: List[_Bucket] = []
        row = 0
        for group in groups:
            count = [host[b] for b in group]
            shape = (len(group), max(count))
            gather = mask_b = real = None
            if min(count) < shape[1]:
                count_t = torch.tensor(count, device=device)
                position = torch.arange(shape[1], device=device)
                mask_b = position < count_t.unsqueeze(1)
                offset = torch.cumsum(count_t, 0) - count_t
                gather = offset.unsqueeze(1) + torch.where(mask_b, position, 0)
                real = mask_b.view(-1).nonzero().view(-1)
            self.buckets.append(_Bucket(row, row + sum(count), shape, gather, mask_b,
                                        real))
            row += sum(count)
        # the real tokens in bucket order: a stable sort of the (sequence, position)
        # order by each sequence's place among the buckets
        place = torch.zeros(mask.size(0), dtype=torch.long, device=device)
        order = [b for group in groups for b in group]
        place[torch.tensor(order, dtype=torch.long, device=device)] = torch.arange(
            len(order), device=device)
        real = mask.view(-1).nonzero().view(-1)
        self.index = real[torch.sort(place[real // mask.size(1)], stable=True).indices]

    def pack(self, x: Tensor) -> Tensor:
        return x.reshape(-1, x.size(-1)).index_select(0, self.index)

    def pad(self, x: Tensor) -> Tensor:
        B, T = self.mask.shape
        out = x.new_zeros(B * T, x.size(-1)).index_copy(0, self.index, x)
        return out.view(B, T, -1)

    def attend(self, x: Tensor, attention: Callable[[Tensor, Optional[Tensor]], Tensor]
               ) -> Tensor:
        r"""``attention`` (padded :math:`(b, L, F)` and a key mask :math:`(b, L)` or
        :obj:`None`, to :math:`(b, L, F')`) applied to the packed rows :math:`(N, F)`
        of every bucket; returns the packed :math:`(N, F')`."""
        outputs = []
        for bucket in self.buckets:
            b, length = bucket.shape
            rows = x[bucket.start:bucket.end]
            if bucket.gather is None:
                out = attention(rows.view(b, length, -1), None)
                outputs.append(out.reshape(b * length, -1))
            else:
                out = attention(rows.index_select(0, bucket.gather.view(-1)).view(
                    b, length, -1), bucket.mask)
                outputs.append(out.reshape(b * length, -1).index_select(0, bucket.real))
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


class FeedForward(nn.Module):
    r"""Two-layer GELU MLP, :math:`D \to rD \to D`."""
    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        for lin in (self.fc1, self.fc2):
            nn.init.trunc_normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class TransformerBlock(nn.Module):
    r"""Pre-LN block: :math:`x + \mathrm{Attn}(\mathrm{LN}(x))`, then
    :math:`x + \mathrm{MLP}(\mathrm{LN}(x))`."""
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0,
                 dropout: float = 0.0, attn_dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, attn_dropout, dropout)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = FeedForward(dim, int(dim * mlp_ratio), dropout)

    def reset_parameters(self):
        self.norm1.reset_parameters()
        self.norm2.reset_parameters()
        self.attn.reset_parameters()
        self.mlp.reset_parameters()

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))

    def forward_packed(self, x: Tensor, packing: TokenPacking) -> Tensor:
        r"""The same on the real tokens :math:`(N, D)` of ``packing``."""
        x = x + self.attn.forward_packed(self.norm1(x), packing)
        return x + self.mlp(self.norm2(x))


class TransformerEncoder(nn.Module):
    r"""A stack of :class:`TransformerBlock` followed by a final LayerNorm.

    Args:
        dim (int): Token width :math:`D`.
        depth (int): Number of blocks.
        num_heads (int): Attention heads.
        mlp_ratio (float, optional): Hidden width of the MLP over :math:`D`.
            (default: :obj:`4.0`)
        dropout (float, optional): Dropout after attention and MLP. (default: :obj:`0.0`)
        attn_dropout (float, optional): Dropout on attention weights.
            (default: :obj:`0.0`)
    """
    def __init__(self, dim: int, depth: int, num_heads: int, mlp_ratio: float = 4.0,
                 dropout: float = 0.0, attn_dropout: float = 0.0):
        super().__init__()
        self.blocks = nn.ModuleList([
            TransformerBlock(dim, num_heads, mlp_ratio, dropout, attn_dropout)
            for _ in range(depth)
        ])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def reset_parameters(self):
        for block in self.blocks:
            block.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        r"""Tokens :math:`(B, T, D)` and a padding mask :math:`(B, T)` (:obj:`True` = real
        token) to :math:`(B, T, D)`. With a mask, every position-wise layer runs on the
        real tokens only (the padded rows of the output are zero): for graphs of
        different sizes that skips the padding's share of the linear layers' work (a
        mask without padding is dropped: one host sync)."""
        if mask is None or bool(mask.all()):
            for block in self.blocks:
                x = block(x)
            return self.norm(x)
        packing = TokenPacking(mask)
        h = packing.pack(x)
        for block in self.blocks:
            h = block.forward_packed(h, packing)
        return packing.pad(self.norm(h))
