r"""The straight-through gradient of the patch embedding with respect to the relaxed
band assignment (private to :mod:`lps_geometric.nn.patch_embedding`).

With a band of :math:`2w + 1` soft positions per node, an edge becomes :math:`4w + 1`
weighted pixels and a node :math:`2w + 1`. The forward value is that of the hard
assignment; the backward pass locates the relaxed pixels (token, table cell), one block of
graphs at a time, and reads the gradient of every band entry off the tokens' gradient by
a GEMM against the table (dense blocks) or per entry (sparse ones).
"""
from typing import TYPE_CHECKING, List, Optional, Tuple

import torch
from torch import Tensor

from lps_geometric.utils.batch import graph_ptr
from lps_geometric.utils.sparse import CSR_DTYPES, argsort_keys, csr_tensor

if TYPE_CHECKING:  # pragma: no cover
    from lps_geometric.nn.patch_embedding import PatchGrid


#: The GEMM route of :func:`_pixel_values` computes :math:`T \times R` products where the
#: per-entry route computes :math:`M S C`, but at GEMM speed instead of gather speed, which
#: is many times higher per product. It is taken while :math:`T R \le` this ratio
#: :math:`\times M S C`.
GEMM_ROUTE_RATIO = 48
#: Below this many products (floats) the GEMM route is always taken.
GEMM_ROUTE_MIN = 1 << 26
#: Products (floats) one GEMM block of :func:`_pixel_values` may hold: blocks of whole
#: graphs whose products stay in cache for the gather that follows (and below glibc's
#: mmap threshold, so no fresh pages each step), instead of one GEMM over the whole
#: batch whose product table is read back from main memory.
GEMM_BLOCK_BUDGET = 1 << 20
#: Floats the per-entry route of :func:`_pixel_values` gathers per chunk.
ENTRY_CHUNK_BUDGET = 1 << 26


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


class _RelaxedPixels:
    r"""The straight-through pixel entries of :math:`M` hard pixels: entry ``(m, s)``
    is pixel ``(row[m] + dr_s, col[m] + dc_s)`` of graph ``graph[m]``, clamped into the
    graph, with ``shifts[s] = (dr_s, dc_s)``.

    Only the :math:`M` hard positions are kept; the global tokens and table cells are
    computed when the backward pass needs them, for one block of entries at a time
    (:meth:`flat_index` for the GEMM route, :meth:`locate` one column at a time for
    the per-entry route), so no :math:`(M, S)` index tensors are built
    in the forward pass or held for the backward.

    Args:
        grid (PatchGrid): The batch's token layout.
        sizes (torch.Tensor): Graph sizes :math:`(B,)`.
        graph, row, col (torch.Tensor): Hard positions :math:`(M,)`.
        shifts (list): :math:`S` pairs ``(dr, dc)``.
        node_slots (int, optional): Cells of the node table (diagonal pixels, cell
            ``row % node_slots``); edges (cell ``(row % p_h) p_w + col % p_w``) without.
    """
    def __init__(self, grid: 'PatchGrid', sizes: Tensor, graph: Tensor, row: Tensor,
                 col: Tensor, shifts: List[Tuple[int, int]],
                 node_slots: Optional[int] = None):
        self.grid, self.sizes = grid, sizes
        self.graph, self.row, self.col = graph, row, col
        self.shifts = shifts
        self.node_slots = node_slots
        self._per_entry = None
        self._flat = None

    @property
    def num_columns(self) -> int:
        return len(self.shifts)

    def take(self, order: Tensor) -> '_RelaxedPixels':
        return _RelaxedPixels(self.grid, self.sizes, self.graph[order], self.row[order],
                              self.col[order], self.shifts, self.node_slots)

    def flat_index(self, lo: int, hi: int, token_lo: int) -> Tensor:
        r"""``(token - token_lo) * n_cell + cell`` of every column of entries ``lo:hi``,
        :math:`(m, S)`: the row of a :math:`(T, n_{cell})` product table starting at
        token ``token_lo``.

        The same as :meth:`locate`, without integer division: the flat index is the sum
        of a row part (row of patches and row inside the patch) and a column part, and
        both are read from per-graph tables over every position a shift can reach
        (padded by the largest shift :math:`w` and clamped into the graph), built once.
        """
        if self._flat is None:
            self._flat = self._flat_tables()
        first, row_at, col_at, row_table, col_table, dr, dc = self._flat
        ncell = self.num_cells
        return ((first[lo:hi] - token_lo * ncell).unsqueeze(1)
                + row_table[row_at[lo:hi].unsqueeze(1) + dr]
                + col_table[col_at[lo:hi].unsqueeze(1) + dc])

    @property
    def num_cells(self) -> int:
        ph, pw = self.grid.patch_size
        return ph * pw if self.node_slots is None else self.node_slots

    def _flat_tables(self):
        grid, sizes = self.grid, self.sizes
        ph, pw = grid.patch_size
        ncell = self.num_cells
        w = max(abs(d) for shift in self.shifts for d in shift)
        padded = sizes + 2 * w
        start = torch.cumsum(padded, 0) - padded
        graph = torch.repeat_interleave(torch.arange(sizes.numel(), device=sizes.device),
                                        padded)
        position = _clamp_to_graph(torch.arange(graph.numel(), device=sizes.device)
                                   - start[graph] - w, sizes[graph])
        patch_row = torch.div(position, ph, rounding_mode='floor')
        patch_col = torch.div(position, pw, rounding_mode='floor')
        if self.node_slots is None:
            row_table = (patch_row * grid.grid_w[graph] * ncell
                         + (position - patch_row * ph) * pw)
            col_table = patch_col * ncell + position - patch_col * pw
        else:
            row_table = (patch_row * grid.grid_w[graph] * ncell
                         + position % self.node_slots)
            col_table = patch_col * ncell
        offset = start[self.graph] + w
        first = grid.token_ptr[self.graph] * ncell
        device = sizes.device
        dr = torch.tensor([d for d, _ in self.shifts], device=device)
        dc = torch.tensor([d for _, d in self.shifts], device=device)
        return first, offset + self.row, offset + self.col, row_table, col_table, dr, dc

    def locate(self, s: int, lo: int, hi: int) -> Tuple[Tensor, Tensor]:
        r"""Global tokens and table cells of column ``s`` of entries ``lo:hi``."""
        if self._per_entry is None:  # the graph's first token, grid width and size
            grid = self.grid
            self._per_entry = (grid.token_ptr[self.graph], grid.grid_w[self.graph],
                               self.sizes[self.graph])
        first, grid_w, size = (t[lo:hi] for t in self._per_entry)
        row, col = self.row[lo:hi], self.col[lo:hi]
        dr, dc = self.shifts[s]
        row = _clamp_to_graph(row + dr, size) if dr else row
        col = _clamp_to_graph(col + dc, size) if dc else col
        ph, pw = self.grid.patch_size
        token = (first + torch.div(row, ph, rounding_mode='floor') * grid_w
                 + torch.div(col, pw, rounding_mode='floor'))
        if self.node_slots is not None:
            return token, row % self.node_slots
        return token, (row % ph) * pw + col % pw


def _pixel_values(grad: Tensor, table: Tensor, pixels: _RelaxedPixels, feat: Tensor,
                  token_ptr: Tensor, budget: Optional[int] = None) -> Tensor:
    r"""``out[m, s] = sum_c feat[m, c] <grad[token[m, s]], table[cell[m, s] * C + c]>``,
    the gradient of the weight of pixel entry ``(m, s)`` (token and cell of entry
    ``(m, s)`` from ``pixels.locate``).

    Either GEMMs ``grad @ table^T`` followed by a gather (when the :math:`T \times R`
    products are not many more than the entries, as for the patches of mid-sized
    graphs), or chunked per-entry products, linear in the number of entries (for large
    sparse graphs; the GEMM route is taken below :obj:`GEMM_ROUTE_MIN` products or
    :obj:`GEMM_ROUTE_RATIO` times the entries' :math:`M S C`). When the products exceed
    ``budget`` (default :obj:`GEMM_BLOCK_BUDGET`), the GEMM route runs in blocks
    of whole graphs of about ``budget`` products each: entry :math:`m` belongs to graph
    ``pixels.graph[m]``, which owns tokens ``token_ptr[g]:token_ptr[g + 1]``. Entries are
    grouped by graph once (free when they already are, as in a PyG batch) and every block
    reads only its own entries, so the cost stays linear in the batch.

    Shapes: ``grad`` :math:`(T, D)`, ``table`` :math:`(R, D)` with :math:`R = n_{cell} C`,
    ``feat`` :math:`(M, C)`, ``token_ptr`` :math:`(B + 1,)`; output :math:`(M, S)`.
    """
    budget = GEMM_BLOCK_BUDGET if budget is None else budget
    C = feat.size(1)
    T, R = grad.size(0), table.size(0)
    ncell = R // C
    M, S = feat.size(0), pixels.num_columns
    out = grad.new_empty(M, S)
    if T * R <= max(GEMM_ROUTE_MIN, GEMM_ROUTE_RATIO * M * S * C):
        order = None
        if T * R <= budget:
            blocks = [(0, T, 0, M)]
        else:
            graph = pixels.graph
            if M > 1 and bool((graph[1:] < graph[:-1]).any()):
                order = torch.argsort(graph, stable=True)
                pixels, feat = pixels.take(order), feat[order]
            row_ptr = graph_ptr(pixels.graph, token_ptr.numel() - 1)
            blocks = _graph_blocks(token_ptr, row_ptr, max(1, budget // R))
        for t_lo, t_hi, r_lo, r_hi in blocks:
            if r_hi == r_lo:
                continue
            products = (grad[t_lo:t_hi] @ table.t()).view(-1, C)
            index = pixels.flat_index(r_lo, r_hi, t_lo)  # (m, S)
            picked = products.index_select(0, index.view(-1))
            torch.bmm(picked.view(r_hi - r_lo, S, C), feat[r_lo:r_hi].unsqueeze(2),
                      out=out[r_lo:r_hi].unsqueeze(2))
        if order is not None:
            out = torch.empty_like(out).index_copy_(0, order, out)
        return out
    if table.dtype not in CSR_DTYPES or M == 0:
        kernel = table.view(ncell, C, -1)
        chunk = max(1, ENTRY_CHUNK_BUDGET // (8 * C * table.size(1)))
        for lo in range(0, M, chunk):
            hi = min(lo + chunk, M)
            for s in range(S):
                token, cell = pixels.locate(s, lo, hi)
                values = torch.einsum('mcd,md->mc', kernel[cell], grad[token])
                out[lo:hi, s] = (values * feat[lo:hi]).sum(-1)
        return out
    # Per entry, the feature-weighted table row sum_c feat[m, c] table[cell * C + c] is
    # one row of a CSR product (C nonzeros a row) instead of a gathered (m, C, D) copy
    # of the table; entries sorted by cell read each cell's rows once per run of the
    # entries that share it (shifted cells stay near the hard one).
    order = argsort_keys(pixels.locate(0, 0, M)[1], ncell)
    pixels, feat = pixels.take(order), feat[order]
    chunk = max(1, ENTRY_CHUNK_BUDGET // (8 * table.size(1)))
    channel = torch.arange(C, device=feat.device)
    sorted_out = torch.empty_like(out)
    for lo in range(0, M, chunk):
        hi = min(lo + chunk, M)
        crow = torch.arange(0, (hi - lo) * C + 1, C, device=feat.device)
        value = feat[lo:hi].reshape(-1)
        for s in range(S):
            token, cell = pixels.locate(s, lo, hi)
            weights = csr_tensor(crow, (cell.unsqueeze(1) * C + channel).view(-1), value,
                                 (hi - lo, R))
            sorted_out[lo:hi, s] = ((weights @ table) * grad[token]).sum(-1)
    return out.index_copy_(0, order, sorted_out)


class _BandGradient(torch.autograd.Function):
    r"""Zero in the forward pass; backward, the gradient of the straight-through band.

    The forward embedding only holds the hard pixels (the band is one-hot forward). The
    relaxed pixels of an entry are the columns of ``pixels``: for nodes (``dst=None``)
    the :math:`2w+1` diagonal pixels of the band; for edges the :math:`2w + 1` row
    shifts :math:`-w, \dots, w` (weights :math:`\tilde P_{u,m}`, the hard pixel in the
    middle), then the :math:`2w` nonzero column shifts (weights
    :math:`\tilde P_{v,m}`). Each weight's gradient is
    :func:`_pixel_values`; the hard pixel's weight :math:`\tilde P_{u,w} \tilde P_{v,w}`
    passes its gradient to both factors (the other one is exactly one forward).
    """
    @staticmethod
    def forward(ctx, band, table, pixels, feat, src, dst, num_tokens):
        ctx.nodes = dst is None
        ctx.pixels = pixels
        ctx.save_for_backward(table, feat, src, src if dst is None else dst)
        ctx.band_shape = band.shape
        return table.new_zeros(num_tokens, table.size(1))

    @staticmethod
    def backward(ctx, grad):
        table, feat, src, dst = ctx.saved_tensors
        pixels = ctx.pixels
        values = _pixel_values(grad.contiguous(), table, pixels, feat,
                               pixels.grid.token_ptr)
        N, width = ctx.band_shape
        w = (width - 1) // 2
        if ctx.nodes:
            grad_band = values.new_zeros(N, width).index_add_(0, src, values)
        else:
            col = torch.cat([values[:, width:width + w], values[:, w:w + 1],
                             values[:, width + w:]], dim=1)
            grad_band = values.new_zeros(N, width).index_add_(0, src, values[:, :width])
            grad_band.index_add_(0, dst, col)
        return (grad_band,) + (None,) * 6


def _clamp_to_graph(position: Tensor, size: Tensor) -> Tensor:
    return torch.minimum(position.clamp(min=0), size - 1)
