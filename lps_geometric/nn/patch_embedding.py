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
per kind of entry (bags = tokens), so no :obj:`(|E|, D)` intermediate is formed; the
table's gradient is one CSR product with the transposed bags.

Straight-through gradients: with a relaxed band assignment (``band``, one-hot forward,
soft backward) the edges and nodes become :math:`4w + 1` and :math:`2w + 1` weighted pixel
entries (:mod:`lps_geometric.nn.relaxed_graph`); the forward value is unchanged, and
the relaxed entries are only located (token, table cell) in the backward pass, one
block of graphs at a time.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps_geometric.nn._band_gradient import _BandGradient, _RelaxedPixels
from lps_geometric.nn.relaxed_graph import edge_pixels, node_pixels
from lps_geometric.utils.sparse import CSR_DTYPES, argsort_keys, csr_tensor

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
    psw = weight.unsqueeze(1) * feat
    if psw.requires_grad or psw.dtype not in CSR_DTYPES:
        # features or weights need gradients, or half precision (no CPU CSR kernels):
        # autograd's own backward
        return _embedding_bag_sum(token, row, psw, table, num_tokens)
    return _TableBagSum.apply(table, token, row, psw, num_tokens)


def _embedding_bag_sum(token: Tensor, row: Tensor, psw: Tensor, table: Tensor,
                       num_tokens: int) -> Tensor:
    C = psw.size(1)
    order = argsort_keys(token, num_tokens)
    token, row, psw = token[order], row[order], psw[order]
    rows = (row.unsqueeze(1) * C + torch.arange(C, device=row.device)).reshape(-1)
    counts = torch.bincount(token, minlength=num_tokens) * C
    offsets = torch.cumsum(counts, 0) - counts
    return F.embedding_bag(rows, table, offsets, mode='sum',
                           per_sample_weights=psw.reshape(-1))


def _transposed_bags(token: Tensor, row: Tensor, psw: Tensor, num_rows: int,
                     num_tokens: int) -> Tensor:
    r"""The bags as a CSR matrix :math:`(R, T)`, rows in channel-major order: row
    :math:`c\, n_{cell} + k` holds, at column ``token_e``, the value ``psw[e, c]`` of
    every entry :math:`e` of table cell ``row_e = k``, so table row :math:`k C + c`
    gathers the tokens it was added to. Every channel shares one sort of the entries
    by (cell, token): the column indices are that order repeated :math:`C` times."""
    C = psw.size(1)
    ncell = num_rows // C
    order = argsort_keys(row * num_tokens + token, ncell * num_tokens)
    count = torch.bincount(row, minlength=ncell)
    crow = torch.zeros(num_rows + 1, dtype=torch.long, device=row.device)
    torch.cumsum(count.repeat(C), 0, out=crow[1:])
    col = token[order].repeat(C)
    value = psw[order].t().reshape(-1)
    return csr_tensor(crow, col, value, (num_rows, num_tokens))


class _TableBagSum(torch.autograd.Function):
    r""":func:`_bag_sum` when only the table needs a gradient: forward by
    ``embedding_bag``, backward as one CSR product :math:`S^\top g` with the transposed
    bags (``embedding_bag``'s own backward sorts all :math:`|E| C` entries and runs on
    one thread)."""
    @staticmethod
    def forward(ctx, table, token, row, psw, num_tokens):
        ctx.save_for_backward(token, row, psw)
        ctx.shape = (table.size(0), num_tokens)
        return _embedding_bag_sum(token, row, psw, table, num_tokens)

    @staticmethod
    def backward(ctx, grad):
        token, row, psw = ctx.saved_tensors
        bags = _transposed_bags(token, row, psw, *ctx.shape)
        C = psw.size(1)
        grad_table = (bags @ grad.contiguous()).view(C, -1, grad.size(1))
        return grad_table.transpose(0, 1).reshape(-1, grad.size(1)), None, None, None, None


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
            feat = torch.cat([feat, edge_attr.to(dtype).reshape(feat.size(0),
                                                                self.edge_channels)], dim=1)
        cell_of = lambda row, col: (row % ph) * pw + col % pw  # noqa: E731
        hard = edge_pixels(edge_index, batch, ptr, None, dtype)
        token = grid.token(hard.graph, hard.row, hard.col)
        out = _bag_sum(token, cell_of(hard.row, hard.col), hard.weight, feat,
                       self.edge_table, grid.num_tokens)
        relaxed = band is not None and band.requires_grad
        if relaxed:
            w = (band.size(1) - 1) // 2
            sizes = ptr[1:] - ptr[:-1]
            pixels = _RelaxedPixels(grid, sizes, hard.graph, hard.row, hard.col,
                                    [(d, 0) for d in range(-w, w + 1)]
                                    + [(0, d) for d in range(-w, w + 1) if d != 0])
            src, dst = edge_index
            out = out + _BandGradient.apply(band, self.edge_table.detach(), pixels,
                                            feat.detach(), src, dst, grid.num_tokens)

        if self.node_channels > 0:
            if x is None:
                raise ValueError(f"{self.__class__.__name__} expects node features "
                                 f"with {self.node_channels} channels, got none")
            x = x.to(dtype).view(x.size(0), -1)
            slots = self.node_slots
            hard = node_pixels(batch, ptr, None, dtype)
            token = grid.token(hard.graph, hard.row, hard.col)
            out = out + _bag_sum(token, hard.row % slots, hard.weight, x,
                                 self.node_table, grid.num_tokens)
            if relaxed:
                pixels = _RelaxedPixels(grid, sizes, batch, hard.row, hard.row,
                                        [(d, d) for d in range(-w, w + 1)], slots)
                out = out + _BandGradient.apply(
                    band, self.node_table.detach(), pixels, x.detach(),
                    torch.arange(x.size(0), device=x.device), None, grid.num_tokens)
        return out + self.bias, grid

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(node_channels={self.node_channels}, '
                f'edge_channels={self.edge_channels}, embed_dim={self.embed_dim}, '
                f'patch_size={self.patch_size})')
