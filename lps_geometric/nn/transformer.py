r"""A plain pre-LN transformer encoder (ViT-style) on padded token batches.

With a padding mask, LayerNorms, linear maps and MLPs run on the real tokens only
(:class:`TokenPacking`); only attention sees the padded :math:`(B, T)` layout.

Attention is :func:`torch.nn.functional.scaled_dot_product_attention`, so fused kernels
(flash / memory-efficient attention) are used where the device has them. Parameter names
follow timm's ViT (``blocks.N.norm1``, ``blocks.N.attn.qkv``, ``blocks.N.attn.proj``,
``blocks.N.mlp.fc1``, ``blocks.N.mlp.fc2``, ``norm``) so pretrained ViT blocks map on
one-to-one.
"""
from typing import Optional

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
        padded batch at ``packing.index``; only attention sees the padded layout."""
        qkv = packing.pad(self.qkv(x))
        out = self._attend(qkv, packing.mask)
        return self.proj_drop(self.proj(packing.pack(out)))

    def _attend(self, qkv: Tensor, mask: Optional[Tensor]) -> Tensor:
        B, T, D3 = qkv.shape
        q, k, v = qkv.view(B, T, 3, self.num_heads,
                           D3 // (3 * self.num_heads)).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask,
            dropout_p=self.attn_dropout if self.training else 0.0)
        return out.transpose(1, 2).reshape(B, T, D3 // 3)


class TokenPacking:
    r"""Where the real tokens of a padded batch are: ``mask`` :math:`(B, T)` and the flat
    indices :math:`(N,)` of its :obj:`True` entries. Position-wise layers (LayerNorm,
    linear maps, the MLP) run on the :math:`N` real tokens only; attention pads them
    back (zeros, masked out as keys)."""
    def __init__(self, mask: Tensor):
        self.mask = mask
        self.index = mask.view(-1).nonzero().view(-1)

    def pack(self, x: Tensor) -> Tensor:
        return x.reshape(-1, x.size(-1)).index_select(0, self.index)

    def pad(self, x: Tensor) -> Tensor:
        B, T = self.mask.shape
        out = x.new_zeros(B * T, x.size(-1)).index_copy(0, self.index, x)
        return out.view(B, T, -1)


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
