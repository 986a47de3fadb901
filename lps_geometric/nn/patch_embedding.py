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
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lps_geometric.nn.relaxed_graph import edge_pixels, node_pixels
from lps_geometric.utils.batch import graph_ptr

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


#: The GEMM route of :func:`_pixel_values` computes :math:`T \times R` products where the
#: per-entry route computes :math:`M S C`, but at GEMM speed instead of gather speed. It
#: is taken while :math:`T R \le` this ratio :math:`\times M S C`: measured on CPU
#: (2 threads), at N = 2000 (ratio 28) the GEMM route made the whole training step 1.9x
#: faster (``benchmarks/README.md``).
GEMM_ROUTE_RATIO = 48
#: Products (floats) one GEMM block of :func:`_pixel_values` may hold.
GEMM_BLOCK_BUDGET = 1 << 26


def _graph_blocks(token_ptr: Tensor, row_ptr: Tensor,
                  tokens_per_block: int) -> List[Tuple[int, int, int, int]]:
    r"""Splits a batch into blocks of whole graphs of about ``tokens_per_block`` tokens:
    ``(token_lo, token_hi, row_lo, row_hi)`` per block. Graph :math:`g` owns tokens
    ``token_ptr[g]:token_ptr[g + 1]`` and entry rows ``row_ptr[g]:row_ptr[g + 1]``; a
    block holds the graphs whose first token falls in the same window of
    ``tokens_per_block``, so it has at most that many tokens plus one graph's."""
    window = torch.div(token_ptr[:-1], tokens_per_block, rounding_mode='floor')
    first = torch.ones_like(window, dtype=torch.bool)
    first[1:] = window[1:] != window[:-1]
    starts = torch.cat([first.nonzero().view(-1),
                        torch.tensor([window.numel()], device=window.device)])
    tokens, rows = token_ptr[starts].tolist(), row_ptr[starts].tolist()
    return list(zip(tokens[:-1], tokens[1:], rows[:-1], rows[1:]))


def _pixel_values(grad: Tensor, table: Tensor, token: Tensor, cell: Tensor,
                  feat: Tensor, graph: Optional[Tensor] = None,
                  token_ptr: Optional[Tensor] = None,
                  budget: Optional[int] = None) -> Tensor:
    r"""``out[m, s] = sum_c feat[m, c] <grad[token[m, s]], table[cell[m, s] * C + c]>``,
    the gradient of the weight of pixel entry ``(m, s)``.

    Either GEMMs ``grad @ table^T`` followed by a gather (when the :math:`T \times R`
    products are not many more than the entries, as for the patches of mid-sized
    graphs), or chunked per-entry products, linear in the number of entries (for large
    sparse graphs). When the products exceed ``budget`` (default
    :obj:`GEMM_BLOCK_BUDGET`), the GEMM route runs in blocks
    of whole graphs of about ``budget`` products each: entry row :math:`m` belongs to
    graph ``graph[m]``, which owns tokens ``token_ptr[g]:token_ptr[g + 1]``. Rows are
    grouped by graph once (free when they already are, as in a PyG batch) and every block
    reads only its own rows, so the cost stays linear in the batch (without ``graph``,
    the batch is one block).

    Shapes: ``grad`` :math:`(T, D)`, ``table`` :math:`(R, D)` with :math:`R = n_{cell} C`,
    ``token``/``cell`` :math:`(M, S)`, ``feat`` :math:`(M, C)`, ``graph`` :math:`(M,)`,
    ``token_ptr`` :math:`(B + 1,)`; output :math:`(M, S)`.
    """
    budget = GEMM_BLOCK_BUDGET if budget is None else budget
    C = feat.size(1)
    T, R = grad.size(0), table.size(0)
    ncell = R // C
    M, S = token.shape
    feat = feat.unsqueeze(1)
    if T * R <= max(budget, GEMM_ROUTE_RATIO * M * S * C):
        order = None
        if graph is None or T * R <= budget:
            blocks = [(0, T, 0, M)]
        else:
            if M > 1 and bool((graph[1:] < graph[:-1]).any()):
                order = torch.argsort(graph, stable=True)
                token, cell, feat, graph = token[order], cell[order], feat[order], \
                    graph[order]
            row_ptr = graph_ptr(graph, token_ptr.numel() - 1)
            blocks = _graph_blocks(token_ptr, row_ptr, max(1, budget // R))
        out = grad.new_empty(M, S)
        for t_lo, t_hi, r_lo, r_hi in blocks:
            if r_hi == r_lo:
                continue
            products = (grad[t_lo:t_hi] @ table.t()).view(-1, C)
            index = (token[r_lo:r_hi] - t_lo) * ncell + cell[r_lo:r_hi]
            picked = products.index_select(0, index.view(-1)).view(r_hi - r_lo, S, C)
            out[r_lo:r_hi] = (picked * feat[r_lo:r_hi]).sum(-1)
        if order is not None:
            out = torch.empty_like(out).index_copy_(0, order, out)
        return out
    kernel = table.view(ncell, C, -1)
    out = grad.new_empty(M, S)
    chunk = max(1, budget // (8 * S * C * table.size(1)))
    for lo in range(0, M, chunk):
        hi = min(lo + chunk, M)
        values = torch.einsum('mscd,msd->msc', kernel[cell[lo:hi]], grad[token[lo:hi]])
        out[lo:hi] = (values * feat[lo:hi]).sum(-1)
    return out


class _BandGradient(torch.autograd.Function):
    r"""Zero in the forward pass; backward, the gradient of the straight-through band.

    The forward embedding only holds the hard pixels (the band is one-hot forward). The
    relaxed pixels of an entry are laid out as columns of ``token``/``cell``: for nodes
    (``dst=None``) the :math:`2w+1` diagonal pixels of the band, for edges the hard pixel,
    then the :math:`2w` row shifts (weights :math:`\tilde P_{u,m}`), then the :math:`2w`
    column shifts (weights :math:`\tilde P_{v,m}`). Each weight's gradient is
    :func:`_pixel_values`; the hard pixel's weight :math:`\tilde P_{u,w} \tilde P_{v,w}`
    passes its gradient to both factors (the other one is exactly one forward).
    """
    @staticmethod
    def forward(ctx, band, table, token, cell, feat, src, dst, graph, token_ptr,
                num_tokens):
        ctx.nodes = dst is None
        ctx.save_for_backward(table, token, cell, feat, src,
                              src if dst is None else dst, graph, token_ptr)
        ctx.band_shape = band.shape
        return table.new_zeros(num_tokens, table.size(1))

    @staticmethod
    def backward(ctx, grad):
        table, token, cell, feat, src, dst, graph, token_ptr = ctx.saved_tensors
        values = _pixel_values(grad.contiguous(), table, token, cell, feat, graph,
                               token_ptr)
        N, width = ctx.band_shape
        w = (width - 1) // 2
        if ctx.nodes:
            grad_band = values.new_zeros(N, width).index_add_(0, src, values)
        else:
            keep = torch.cat([torch.arange(0, w), torch.arange(w + 1, width)]).to(
                values.device)
            row = values.new_zeros(values.size(0), width)
            col = values.new_zeros(values.size(0), width)
            row[:, keep] = values[:, 1:1 + 2 * w]
            col[:, keep] = values[:, 1 + 2 * w:]
            row[:, w] = values[:, 0]
            col[:, w] = values[:, 0]
            grad_band = values.new_zeros(N, width).index_add_(0, src, row)
            grad_band.index_add_(0, dst, col)
        return (grad_band,) + (None,) * 9


def _clamp_to_graph(position: Tensor, size: Tensor) -> Tensor:
    return torch.minimum(position.clamp(min=0), size - 1)


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
            src, dst = edge_index
            shifts = torch.cat([torch.arange(-w, 0), torch.arange(1, w + 1)]).to(
                batch.device)
            graph, i, j = hard.graph.unsqueeze(1), hard.row.unsqueeze(1), \
                hard.col.unsqueeze(1)
            size = (ptr[1:] - ptr[:-1])[hard.graph].unsqueeze(1)
            rows = torch.cat([i, _clamp_to_graph(i + shifts, size),
                              i.expand(-1, 2 * w)], dim=1)
            cols = torch.cat([j, j.expand(-1, 2 * w),
                              _clamp_to_graph(j + shifts, size)], dim=1)
            out = out + _BandGradient.apply(
                band, self.edge_table.detach(), grid.token(graph, rows, cols),
                cell_of(rows, cols), feat.detach(), src, dst, hard.graph, grid.token_ptr,
                grid.num_tokens)

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
                w = (band.size(1) - 1) // 2
                offsets = torch.arange(-w, w + 1, device=batch.device)
                size = (ptr[1:] - ptr[:-1])[batch].unsqueeze(1)
                pos = _clamp_to_graph(hard.row.unsqueeze(1) + offsets, size)
                out = out + _BandGradient.apply(
                    band, self.node_table.detach(),
                    grid.token(batch.unsqueeze(1), pos, pos), pos % slots, x.detach(),
                    torch.arange(x.size(0), device=x.device), None, batch, grid.token_ptr,
                    grid.num_tokens)
        return out + self.bias, grid

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(node_channels={self.node_channels}, '
                f'edge_channels={self.edge_channels}, embed_dim={self.embed_dim}, '
                f'patch_size={self.patch_size})')
