r"""Small helpers around PyG's batch layout (``batch`` vector, ``ptr`` offsets).

Everything here is vectorised over the graphs of a batch: no Python loop over graphs.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

__all__ = ['graph_ptr', 'num_graphs_of', 'batch_vector', 'local_index', 'replicate_batch',
           'replicate_graphs']


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


def replicate_graphs(data: Data, counts: Tensor) -> Tuple[Data, Tensor, Tensor]:
    r"""Stacks ``counts[b]`` copies of every graph :math:`b` of a batch into one batch
    (copies of a graph next to each other), for frames whose size differs between
    graphs: the backbone then sees :math:`\sum_b m_b` graphs instead of
    :math:`B \max_b m_b`.

    Node-level attributes are gathered, edge-level attributes follow their edges,
    graph-level attributes (one row per graph) are repeated; ``edge_index`` is
    renumbered. No Python loop over graphs.

    Args:
        data (Data): A batch of :math:`B` graphs.
        counts (torch.Tensor): Copies per graph, shape :obj:`(B,)`, each :math:`\ge 1`.

    Returns:
        ``(stacked, graph_index, node_index)``: the stacked batch, the original graph of
        every stacked graph :obj:`(\sum_b m_b,)` and the original node of every stacked
        node.
    """
    batch, ptr, B = to_ptr_batch(data)
    device = batch.device
    counts = counts.to(device=device, dtype=torch.long)
    if counts.numel() != B or bool((counts < 1).any()):
        raise ValueError(f"'counts' must hold one positive count per graph ({B})")
    sizes = ptr[1:] - ptr[:-1]
    graph_index = torch.repeat_interleave(torch.arange(B, device=device), counts)
    new_sizes = sizes[graph_index]
    new_batch = torch.repeat_interleave(torch.arange(graph_index.numel(), device=device),
                                        new_sizes)
    new_ptr = graph_ptr(new_batch, graph_index.numel())
    local = torch.arange(new_batch.numel(), device=device) - new_ptr[new_batch]
    node_index = ptr[graph_index][new_batch] + local

    edge_index = getattr(data, 'edge_index', None)
    edge_perm = None
    if edge_index is not None:
        edge_graph = batch[edge_index[0]] if edge_index.numel() else \
            edge_index.new_zeros(0)
        order = torch.sort(edge_graph, stable=True).indices
        edge_counts = torch.bincount(edge_graph, minlength=B)
        eptr = graph_ptr(edge_graph[order], B)
        new_edge_counts = edge_counts[graph_index]
        new_edge_graph = torch.repeat_interleave(
            torch.arange(graph_index.numel(), device=device), new_edge_counts)
        new_eptr = graph_ptr(new_edge_graph, graph_index.numel())
        e_local = torch.arange(new_edge_graph.numel(), device=device) \
            - new_eptr[new_edge_graph]
        edge_perm = order[eptr[graph_index][new_edge_graph] + e_local]
    num_edges = edge_index.size(1) if edge_index is not None else 0

    out = Data()
    for key, value in data.items():
        if key in ('batch', 'ptr', 'num_graphs', 'num_nodes'):
            continue
        if key == 'edge_index':
            old = value[:, edge_perm]
            shift = (new_ptr[:-1] - ptr[graph_index])[new_edge_graph]
            out.edge_index = old + shift.unsqueeze(0)
        elif isinstance(value, Tensor) and value.dim() > 0 and data.is_node_attr(key) \
                and value.size(0) == data.num_nodes:
            out[key] = value[node_index]
        elif isinstance(value, Tensor) and value.dim() > 0 and data.is_edge_attr(key) \
                and value.size(0) == num_edges and edge_perm is not None:
            out[key] = value[edge_perm]
        elif isinstance(value, Tensor) and value.dim() > 0 and value.size(0) == B:
            out[key] = value[graph_index]
        else:
            out[key] = value
    out.batch = new_batch
    out.ptr = new_ptr
    out.num_graphs = int(graph_index.numel())
    out.num_nodes = int(new_batch.numel())
    return out, graph_index, node_index
