r"""Neighbourhood sums as sparse-matrix products (no :math:`(|E|, F)` message tensor).

A sum aggregation over the edge list, :math:`\mathrm{out}_v = \sum_{(u, v) \in E} x_u`,
is the product :math:`A x` with the :math:`|V| \times |V|` matrix
:math:`A_{vu} = \#\{(u, v) \in E\}`. Gathering :math:`x_u` per edge and scattering the
messages (what ``MessagePassing`` does for a plain edge list) reads and writes an
:math:`(|E|, F)` tensor forward and again backward; a CSR product streams the edge list
once and writes :math:`(|V|, F)`. Its gradient is :math:`A^\top g`, a second CSR product
with the transpose, which is built once alongside :math:`A` (one sort each) instead of
being transposed in every backward pass.
"""
import warnings
from typing import Optional

import torch
from torch import Tensor

from lps_geometric.utils.validation import input_is_checked

__all__ = ['NeighborSum', 'gin_update', 'uses_csr']

#: Dtypes that take the CSR route; others (half precision, where sparse kernels are
#: patchy across devices) gather and scatter the messages.
CSR_DTYPES = (torch.float32, torch.float64)


def uses_csr(device: torch.device, dtype: torch.dtype) -> bool:
    r"""Whether :class:`NeighborSum` takes the CSR route for features of ``dtype`` on
    ``device``. Not in PyTorch's deterministic mode on CUDA
    (:func:`torch.use_deterministic_algorithms`): cuSPARSE's products are not on its list
    of deterministic kernels, while ``index_add_`` there is."""
    if dtype not in CSR_DTYPES:
        return False
    return not (torch.device(device).type == 'cuda'
                and torch.are_deterministic_algorithms_enabled())


def csr_tensor(crow: Tensor, col: Tensor, value: Tensor, shape) -> Tensor:
    r"""A CSR tensor from indices the caller built sorted (no invariant checks, no
    "CSR support is in beta" warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        return torch.sparse_csr_tensor(crow, col, value, shape, check_invariants=False)


def argsort_keys(key: Tensor, bound: int) -> Tensor:
    r"""``argsort(key)`` of integer keys in :math:`[0, \text{bound})`, sorting them as
    int32 when they fit (half the bytes of int64 to move, so a faster sort).
    The order of equal keys is unspecified, as in :func:`torch.argsort`."""
    if bound <= torch.iinfo(torch.int32).max:
        key = key.int()
    return torch.argsort(key)


def _csr(row: Tensor, col: Tensor, num_nodes: int, dtype: torch.dtype) -> Tensor:
    order = argsort_keys(row * num_nodes + col, num_nodes * num_nodes)
    row, col = row[order], col[order]
    crow = torch._convert_indices_from_coo_to_csr(row, num_nodes)
    values = torch.ones(row.numel(), dtype=dtype, device=row.device)
    return csr_tensor(crow, col, values, (num_nodes, num_nodes))


class _SparseProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, op: 'NeighborSum') -> Tensor:
        ctx.op = op
        return op.matrix @ x

    @staticmethod
    def backward(ctx, grad: Tensor):
        return ctx.op.transpose @ grad.contiguous(), None


class NeighborSum:
    r"""Sum over in-neighbours, :math:`\mathrm{out}_v = \sum_{(u, v) \in E} x_u` (the
    aggregation of :class:`~torch_geometric.nn.conv.GINConv`, flow source to target,
    multi-edges counted), as CSR sparse-dense products forward and backward.

    Build it once per batch and call it for every layer: the two CSR matrices cost one
    sort of the edge list each (:math:`A^\top` only once a backward pass needs it).

    Args:
        edge_index (torch.Tensor): Edges :math:`(2, |E|)`, source first.
        num_nodes (int): :math:`|V|`.
        dtype (torch.dtype, optional): Dtype of the features it will be applied to.
            (default: :obj:`torch.float`)

    Shapes:
        - **input:** :math:`(|V|, F)`
        - **output:** :math:`(|V|, F)`
    """
    def __init__(self, edge_index: Tensor, num_nodes: int,
                 dtype: Optional[torch.dtype] = None):
        dtype = torch.float if dtype is None else dtype
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(f"'edge_index' must have shape (2, |E|) "
                             f"(got {tuple(edge_index.shape)})")
        # the CSR kernels do not check indices (a checked batch was checked already)
        if edge_index.numel() > 0 and not input_is_checked():
            low, high = torch.stack(torch.aminmax(edge_index)).tolist()   # one sync
        else:
            low, high = 0, -1
        if not (0 <= low and high < num_nodes):
            raise ValueError(f"'edge_index' has node indices outside [0, {num_nodes})")
        src, dst = edge_index
        self.num_nodes = num_nodes
        self.dtype = dtype
        self.edge_index = edge_index
        self.matrix = self._transpose = None
        if uses_csr(edge_index.device, dtype):
            self.matrix = _csr(dst, src, num_nodes, dtype)

    @property
    def transpose(self) -> Tensor:
        r""":math:`A^\top` in CSR, built on the first backward pass (never in
        inference)."""
        if self._transpose is None:
            src, dst = self.edge_index
            self._transpose = _csr(src, dst, self.num_nodes, self.dtype)
        return self._transpose

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.size(0) != self.num_nodes:
            raise ValueError(f"{self.__class__.__name__} expects features of shape "
                             f"({self.num_nodes}, F) (got {tuple(x.shape)})")
        if x.dtype != self.dtype:
            raise ValueError(f"{self.__class__.__name__} was built for "
                             f"{self.dtype}, got features of {x.dtype}")
        if self.matrix is None:  # gather and scatter the messages (see uses_csr)
            src, dst = self.edge_index
            return x.new_zeros(x.shape).index_add_(0, dst, x.index_select(0, src))
        return _SparseProduct.apply(x.contiguous(), self)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_nodes={self.num_nodes}, '
                f'num_edges={self.edge_index.size(1)})')


def gin_update(conv, x: Tensor, neighbor_sum: NeighborSum) -> Tensor:
    r""":class:`~torch_geometric.nn.conv.GINConv`'s update
    :math:`\mathrm{MLP}((1 + \epsilon) x_v + \sum_{u \in N(v)} x_u)` with the sum from
    ``neighbor_sum``: the same parameters and the same value as ``conv(x, edge_index)``.
    """
    return conv.nn(neighbor_sum(x) + (1 + conv.eps) * x)
