r"""Patch embedding of the adjacency image, computed from the edge list.

A graph whose nodes are in canonical order (node :math:`i` of a graph sits at position
:math:`i`) is an image :math:`A \in \mathbb{R}^{n \times n \times C}`: pixel :math:`(i, j)`
holds :math:`[1, e_{ij}]` for an edge :math:`i \to j` (the adjacency channel plus the edge
features) and zero otherwise, and node features sit on the diagonal. A ViT embeds the
:math:`p_h \times p_w` patches of this image linearly,

.. math::
    t_{ab} = b + \sum_{(i, j) \in \mathrm{patch}(a, b)} \sum_c W_{i \bmod p_h,\,
    j \bmod p_w,\, c}\, A_{ijc}.

Since the map is linear and the image is sparse, every edge :math:`(i, j)` simply adds
:math:`W_{i \bmod p_h, j \bmod p_w} [1, e_{ij}]` to token
:math:`(\lfloor i / p_h \rfloor, \lfloor j / p_w \rfloor)`, a scatter over edges in
:math:`O(|E| C D)` time. It is evaluated with one :func:`torch.nn.functional.embedding_bag`
per kind of entry (bags = tokens), so no :obj:`(|E|, D)` intermediate is formed.

Straight-through gradients: with a relaxed band assignment (``band``, one-hot forward,
soft backward) the edges and nodes become :math:`4w + 1` and :math:`2w + 1` weighted pixel
entries (:mod:`lps_geometric.nn.relaxed_graph`); the forward value is unchanged.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps_geometric.nn.relaxed_graph import edge_pixels, node_pixels

__all__ = ['AdjacencyPatchEmbedding', 'PatchGrid']


class PatchGrid:
    r"""Token layout of a batch: per graph a :math:`g_h \times g_w` grid of patches,
    :math:`g_h = \lceil n / p_h \rceil`, :math:`g_w = \lceil n / p_w \rceil`."""
    def __init__(self, ptr: Tensor, patch_size: Tuple[int, int]):
        ph, pw = patch_size
        sizes = ptr[1:] - ptr[:-1]
        self.grid_h = torch.div(sizes + ph - 1, ph, rounding_mode='floor')
        self.grid_w = torch.div(sizes + pw - 1, pw, rounding_mode='floor')
        counts = self.grid_h * self.grid_w
        self.token_ptr = torch.zeros_like(ptr)
        torch.cumsum(counts, 0, out=self.token_ptr[1:])
        self.num_tokens = int(self.token_ptr[-1])
        self.token_batch = torch.repeat_interleave(
            torch.arange(sizes.numel(), device=ptr.device), counts,
            output_size=self.num_tokens)
        self.patch_size = patch_size

    def token(self, graph: Tensor, row: Tensor, col: Tensor) -> Tensor:
        r"""Global token index of pixel ``(row, col)`` of graph ``graph``."""
        ph, pw = self.patch_size
        return (self.token_ptr[graph] + torch.div(row, ph, rounding_mode='floor')
                * self.grid_w[graph] + torch.div(col, pw, rounding_mode='floor'))

    def grid_position(self, max_grid_w: int) -> Tensor:
        r"""Position of every token in the model's full :math:`G_h \times G_w` grid."""
        local = torch.arange(self.num_tokens, device=self.token_ptr.device) \
            - self.token_ptr[self.token_batch]
        gw = self.grid_w[self.token_batch]
        row = torch.div(local, gw, rounding_mode='floor')
        return row * max_grid_w + (local - row * gw)


def _bag_sum(token: Tensor, row: Tensor, weight: Tensor, feat: Tensor,
             table: Tensor, num_tokens: int) -> Tensor:
    r"""``out[t] = sum_{entries e of t} sum_c weight_e feat_ec table[row_e * C + c]``."""
    C = feat.size(1)
    order = torch.argsort(token)
    token, row, weight, feat = token[order], row[order], weight[order], feat[order]
    rows = (row.unsqueeze(1) * C + torch.arange(C, device=row.device)).reshape(-1)
    psw = (weight.unsqueeze(1) * feat).reshape(-1)
    counts = torch.bincount(token, minlength=num_tokens) * C
    offsets = torch.cumsum(counts, 0) - counts
    return F.embedding_bag(rows, table, offsets, mode='sum', per_sample_weights=psw)


def _pixel_gradients(grad: Tensor, table: Tensor, token: Tensor, cell: Tensor,
                     source: Tensor, feat: Tensor, budget: int = 1 << 26) -> Tensor:
    r"""``out[e] = sum_c feat[source_e, c] <grad[token_e], table[cell_e * C + c]>``.

    Either one GEMM ``grad @ table^T`` followed by a gather (when the
    :math:`T \times R` result is small, as for patches of mid-sized graphs), or chunked
    per-entry products (linear in the number of entries, for large graphs)."""
    C = feat.size(1)
    T, R = grad.size(0), table.size(0)
    M = token.numel()
    if T * R <= max(budget, 16 * M * C):
        out = torch.empty(M, dtype=grad.dtype, device=grad.device)
        rows_per_block = max(1, budget // R)
        ncell = R // C
        if rows_per_block >= T:
            G = (grad @ table.t()).view(T * ncell, C)
            return (G.index_select(0, token * ncell + cell)
                    * feat.index_select(0, source)).sum(1)
        for lo in range(0, T, rows_per_block):
            hi = min(lo + rows_per_block, T)
            idx = ((token >= lo) & (token < hi)).nonzero().view(-1)
            G = (grad[lo:hi] @ table.t()).view((hi - lo) * ncell, C)
            pick = (token.index_select(0, idx) - lo) * ncell + cell.index_select(0, idx)
            out[idx] = (G.index_select(0, pick)
                        * feat.index_select(0, source.index_select(0, idx))).sum(1)
        return out
    out = torch.empty(M, dtype=grad.dtype, device=grad.device)
    kernel = table.view(R // C, C, -1)
    chunk = max(1, budget // (8 * C * table.size(1)))
    for lo in range(0, M, chunk):
        hi = min(lo + chunk, M)
        w = torch.bmm(kernel[cell[lo:hi]], grad[token[lo:hi]].unsqueeze(2)).squeeze(2)
        out[lo:hi] = (w * feat[source[lo:hi]]).sum(1)
    return out


class _StraightThroughPixels(torch.autograd.Function):
    r"""Zero in the forward pass; the backward pass gives every straight-through pixel
    weight its gradient :math:`\partial L / \partial w_e = \sum_c f_{ec}
    \langle \partial L / \partial t_e, W_{\mathrm{cell}_e, c} \rangle`.

    With straight-through weights (one on the hard pixel, zero elsewhere in the forward
    pass) the embedding is the hard one, so the forward only embeds the hard pixels and
    this function adds the gradient of the weights without materialising the relaxed
    image or an :obj:`(entries, D)` tensor."""
    @staticmethod
    def forward(ctx, weight, table, token, cell, source, feat, num_tokens):
        ctx.save_for_backward(table, token, cell, source, feat)
        return weight.new_zeros(num_tokens, table.size(1))

    @staticmethod
    def backward(ctx, grad):
        table, token, cell, source, feat = ctx.saved_tensors
        grad_weight = _pixel_gradients(grad.contiguous(), table, token, cell, source,
                                       feat)
        return grad_weight, None, None, None, None, None, None


def _embed_pixels(grid: PatchGrid, hard, relaxed, cell_of, feat: Tensor, table: Tensor
                  ) -> Tensor:
    r"""Tokens of the hard pixel entries, plus the straight-through gradient path of the
    relaxed ones (if any)."""
    token = grid.token(hard.graph, hard.row, hard.col)
    out = _bag_sum(token, cell_of(hard.row, hard.col), hard.weight, feat[hard.source],
                   table, grid.num_tokens)
    if relaxed is not None and relaxed.weight.requires_grad:
        token = grid.token(relaxed.graph, relaxed.row, relaxed.col)
        out = out + _StraightThroughPixels.apply(
            relaxed.weight, table.detach(), token, cell_of(relaxed.row, relaxed.col),
            relaxed.source, feat.detach(), grid.num_tokens)
    return out


class AdjacencyPatchEmbedding(nn.Module):
    r"""Linear embedding of the :math:`p_h \times p_w` patches of the adjacency image,
    computed by scatter from the edge list (see the module docstring for the math).

    Args:
        node_channels (int): Node feature size :math:`F` (diagonal pixels); :obj:`0` for
            none.
        edge_channels (int): Edge feature size; the image has :math:`C = 1 + ` this many
            channels (the adjacency channel first).
        embed_dim (int): Token width :math:`D`.
        patch_size (int or (int, int)): Patch shape. Square patches, or row patches
            :math:`(1, p_w)`. Node features of position :math:`i` use the slot
            :math:`i \bmod \max(p_h, p_w)`.

    Shapes:
        - **input:** node features :math:`(|V|, F)`, canonical ``edge_index``
          :math:`(2, |E|)`, edge features :math:`(|E|, C - 1)`, ``batch``
          :math:`(|V|,)`, ``ptr`` :math:`(B + 1,)`, optional band :math:`(|V|, 2w + 1)`
        - **output:** tokens :math:`(T, D)` and their :class:`PatchGrid`
    """
    def __init__(self, node_channels: int, edge_channels: int, embed_dim: int,
                 patch_size: Union[int, Tuple[int, int]]):
        super().__init__()
        ph, pw = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
        if ph < 1 or pw < 1:
            raise ValueError(f"'patch_size' must be positive (got {patch_size})")
        if ph != pw and ph != 1:
            raise ValueError(f"'patch_size' must be square or a row (1, p) "
                             f"(got {patch_size})")
        self.node_channels = node_channels
        self.edge_channels = edge_channels
        self.embed_dim = embed_dim
        self.patch_size = (ph, pw)
        self.node_slots = max(ph, pw)
        self.edge_table = nn.Parameter(torch.empty(ph * pw * (1 + edge_channels),
                                                   embed_dim))
        self.node_table = nn.Parameter(torch.empty(self.node_slots * node_channels,
                                                   embed_dim))
        self.bias = nn.Parameter(torch.empty(embed_dim))
        self.reset_parameters()

    def reset_parameters(self):
        # Same scale as a conv patch embedding of fan-in p_h * p_w * C.
        ph, pw = self.patch_size
        fan_in = ph * pw * (1 + self.edge_channels)
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.edge_table, -bound, bound)
        nn.init.uniform_(self.node_table, -bound, bound)
        nn.init.zeros_(self.bias)

    def edge_weight_image(self) -> Tensor:
        r"""The edge kernel as a conv weight, shape :math:`(D, C, p_h, p_w)`."""
        ph, pw = self.patch_size
        C = 1 + self.edge_channels
        return self.edge_table.view(ph, pw, C, -1).permute(3, 2, 0, 1)

    def forward(self, x: Optional[Tensor], edge_index: Tensor,
                edge_attr: Optional[Tensor], batch: Tensor, ptr: Tensor,
                band: Optional[Tensor] = None) -> Tuple[Tensor, PatchGrid]:
        ph, pw = self.patch_size
        grid = PatchGrid(ptr, self.patch_size)
        dtype = self.edge_table.dtype
        feat = torch.ones(edge_index.size(1), 1, device=batch.device, dtype=dtype)
        if self.edge_channels > 0:
            if edge_attr is None:
                raise ValueError(f"{self.__class__.__name__} expects edge features "
                                 f"with {self.edge_channels} channels, got none")
            feat = torch.cat([feat, edge_attr.to(dtype).view(feat.size(0), -1)], dim=1)
        relaxed = band is not None and band.requires_grad
        out = _embed_pixels(
            grid, edge_pixels(edge_index, batch, ptr, None, dtype),
            edge_pixels(edge_index, batch, ptr, band, dtype) if relaxed else None,
            lambda row, col: (row % ph) * pw + col % pw, feat, self.edge_table)

        if self.node_channels > 0:
            if x is None:
                raise ValueError(f"{self.__class__.__name__} expects node features "
                                 f"with {self.node_channels} channels, got none")
            x = x.to(dtype).view(x.size(0), -1)
            out = out + _embed_pixels(
                grid, node_pixels(batch, ptr, None, dtype),
                node_pixels(batch, ptr, band, dtype) if relaxed else None,
                lambda row, col: row % self.node_slots, x, self.node_table)
        return out + self.bias, grid

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(node_channels={self.node_channels}, '
                f'edge_channels={self.edge_channels}, embed_dim={self.embed_dim}, '
                f'patch_size={self.patch_size})')
