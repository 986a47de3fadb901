r"""Small helpers around PyG's batch layout (``batch`` vector, ``ptr`` offsets).

Everything here is vectorised over the graphs of a batch: no Python loop over graphs.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

__all__ = ['graph_ptr', 'num_graphs_of', 'batch_vector', 'local_index', 'replicate_batch']


def graph_ptr(batch: Tensor, num_graphs: int) -> Tensor:
    r"""Offsets of the graphs in a node-sorted ``batch`` vector.

    Returns a tensor of shape :obj:`(num_graphs + 1,)` with ``ptr[g]`` the index of the
    first node of graph :obj:`g` and ``ptr[-1] = |V|``.
    """
    counts = torch.bincount(batch, minlength=num_graphs)
    ptr = batch.new_zeros(num_graphs + 1)
    torch.cumsum(counts, dim=0, out=ptr[1:])
    return ptr


def num_graphs_of(data: Data) -> int:
    r"""The number of graphs of a :class:`Data` or :class:`Batch` object."""
    num_graphs = getattr(data, 'num_graphs', None)
    if isinstance(num_graphs, int):
        return num_graphs
    batch = getattr(data, 'batch', None)
    if batch is None:
        return 1
    if batch.numel() == 0:
        return 0
    return int(batch.max()) + 1


def batch_vector(data: Data) -> Tensor:
    r"""The ``batch`` vector of ``data``; zeros for a single graph."""
    batch = getattr(data, 'batch', None)
    if batch is None:
        device = data.edge_index.device if data.edge_index is not None else 'cpu'
        batch = torch.zeros(data.num_nodes, dtype=torch.long, device=device)
    return batch


def local_index(batch: Tensor, ptr: Tensor) -> Tensor:
    r"""Index of every node inside its own graph, :math:`v - \mathrm{ptr}[b_v]`."""
    return torch.arange(batch.numel(), device=batch.device) - ptr[batch]


def replicate_batch(data: Data, num_copies: int) -> Data:
    r"""Stacks :obj:`num_copies` copies of a batch into one larger batch.

    Copy :math:`r` of graph :math:`b` becomes graph :math:`r \cdot B + b` and copy :math:`r`
    of node :math:`v` becomes node :math:`r \cdot |V| + v` (replica-major order), so
    ``out.view(num_copies, B, ...)`` recovers the copies of a per-graph output.

    Node-level attributes (``x``, ``pos``, ``vel``, ...), edge-level attributes and graph-level
    attributes are repeated; ``edge_index`` is shifted by :math:`r \cdot |V|`.
    The result carries ``batch``, ``ptr`` and ``num_graphs``.
    """
    num_nodes = data.num_nodes
    B = num_graphs_of(data)
    batch = batch_vector(data)
    out = Data()
    for key, value in data.items():
        if key in ('batch', 'ptr', 'num_graphs', 'num_nodes'):
            continue
        if key == 'edge_index':
            shift = torch.arange(num_copies, device=value.device) * num_nodes
            ei = value.unsqueeze(0) + shift.view(-1, 1, 1)
            out.edge_index = ei.permute(1, 0, 2).reshape(2, -1)
        elif isinstance(value, Tensor) and value.dim() > 0 and (
                data.is_node_attr(key) or data.is_edge_attr(key)
                or value.size(0) == B):
            out[key] = value.repeat(num_copies, *([1] * (value.dim() - 1)))
        else:
            out[key] = value
    shift = torch.arange(num_copies, device=batch.device) * B
    out.batch = (batch.unsqueeze(0) + shift.view(-1, 1)).reshape(-1)
    out.ptr = graph_ptr(out.batch, num_copies * B)
    out.num_graphs = num_copies * B
    out.num_nodes = num_copies * num_nodes
    return out


def max_graph_size(ptr: Tensor) -> int:
    r"""The number of nodes of the largest graph (one host sync)."""
    if ptr.numel() <= 1:
        return 0
    return int((ptr[1:] - ptr[:-1]).max())


def to_ptr_batch(data: Data) -> Tuple[Tensor, Tensor, int]:
    r"""Returns ``(batch, ptr, num_graphs)`` for any :class:`Data`/:class:`Batch`."""
    batch = batch_vector(data)
    B = num_graphs_of(data)
    ptr: Optional[Tensor] = getattr(data, 'ptr', None)
    if ptr is None or ptr.numel() != B + 1:
        ptr = graph_ptr(batch, B)
    return batch, ptr, B
