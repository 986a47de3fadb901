r"""Input checks with clear errors: bad graphs fail loudly, never as NaN or a wrong shape."""
from typing import Optional

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.utils.batch import num_graphs_of

__all__ = ['validate_graph_batch', 'check_graph_size', 'GraphInputError']


class GraphInputError(ValueError):
    r"""Raised for a graph batch a model cannot process."""


def _check_finite(name: str, value: Optional[Tensor]):
    if value is None or not torch.is_floating_point(value):
        return
    if not bool(torch.isfinite(value).all()):
        bad = (~torch.isfinite(value)).nonzero()[0].tolist()
        raise GraphInputError(f"'{name}' contains NaN or infinite values "
                              f"(first at index {bad})")


def check_graph_size(ptr: Tensor, max_nodes: int) -> int:
    r"""Returns the size of the largest graph of a batch (offsets ``ptr``) and raises
    :class:`GraphInputError` if it exceeds ``max_nodes``."""
    n = int((ptr[1:] - ptr[:-1]).max()) if ptr.numel() > 1 else 0
    if n > max_nodes:
        raise GraphInputError(f"A graph with {n} nodes exceeds the model's limit of "
                              f"{max_nodes} nodes ('max_nodes')")
    return n


def validate_graph_batch(data: Data, max_nodes: Optional[int] = None,
                         require_pos: bool = False, node_channels: Optional[int] = None,
                         edge_channels: Optional[int] = None) -> None:
    r"""Checks a :class:`~torch_geometric.data.Data`/``Batch`` before a model reads it.

    Raises :class:`GraphInputError` (a :class:`ValueError`) for: an empty batch, a graph
    without nodes, a malformed or out-of-range ``edge_index``, edges between different
    graphs, an unsorted or inconsistent ``batch`` vector, NaN/inf in ``x``, ``edge_attr``
    or ``pos``, a graph larger than ``max_nodes``, feature sizes that do not match the
    model, and a missing ``pos`` when ``require_pos`` is set. Single nodes and isolated
    nodes are valid.
    """
    num_nodes = data.num_nodes
    if num_nodes is None or num_nodes == 0:
        raise GraphInputError('The graph batch is empty (no nodes)')
    edge_index = data.edge_index
    if edge_index is None:
        raise GraphInputError("'edge_index' is missing (use an empty (2, 0) tensor "
                              "for graphs without edges)")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise GraphInputError(f"'edge_index' must have shape (2, |E|) "
                              f"(got {tuple(edge_index.shape)})")
    if edge_index.dtype != torch.long:
        raise GraphInputError(f"'edge_index' must be of dtype torch.long "
                              f"(got {edge_index.dtype})")
    if edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise GraphInputError(f"'edge_index' holds node index "
                                  f"{lo if lo < 0 else hi} outside [0, {num_nodes})")

    x = getattr(data, 'x', None)
    if x is not None and x.size(0) != num_nodes:
        raise GraphInputError(f"'x' has {x.size(0)} rows for {num_nodes} nodes")
    if node_channels is not None and node_channels > 0:
        if x is None:
            raise GraphInputError(f'The model expects node features with '
                                  f'{node_channels} channels, the data has no x')
        width = 1 if x.dim() == 1 else x.size(-1)
        if width != node_channels:
            raise GraphInputError(f'The model expects {node_channels} node feature '
                                  f'channels, x has {width}')
    edge_attr = getattr(data, 'edge_attr', None)
    if edge_attr is not None and edge_attr.size(0) != edge_index.size(1):
        raise GraphInputError(f"'edge_attr' has {edge_attr.size(0)} rows for "
                              f"{edge_index.size(1)} edges")
    if edge_channels is not None and edge_channels > 0:
        if edge_attr is None:
            raise GraphInputError(f'The model expects edge features with '
                                  f'{edge_channels} channels, the data has no '
                                  f'edge_attr')
        width = 1 if edge_attr.dim() == 1 else edge_attr.size(-1)
        if width != edge_channels:
            raise GraphInputError(f'The model expects {edge_channels} edge feature '
                                  f'channels, edge_attr has {width}')
    pos = getattr(data, 'pos', None)
    if require_pos and pos is None:
        raise GraphInputError("This model acts on positions but the data has no 'pos'")
    for name in ('x', 'edge_attr', 'pos', 'vel'):
        _check_finite(name, getattr(data, name, None))

    batch = getattr(data, 'batch', None)
    if batch is not None:
        if batch.numel() != num_nodes:
            raise GraphInputError(f"'batch' has {batch.numel()} entries for "
                                  f"{num_nodes} nodes")
        if batch.numel() > 1 and bool((batch[1:] < batch[:-1]).any()):
            raise GraphInputError("'batch' must be sorted (nodes grouped by graph, "
                                  "as PyG's Batch builds it)")
        if int(batch.min()) < 0:
            raise GraphInputError("'batch' holds a negative graph index")
        B = num_graphs_of(data)
        counts = torch.bincount(batch, minlength=B)
        if counts.numel() > B:
            raise GraphInputError(f"'batch' refers to {counts.numel()} graphs but the "
                                  f"batch has num_graphs={B}")
        empty = (counts == 0).nonzero().view(-1)
        if empty.numel() > 0:
            raise GraphInputError(f'Graph {int(empty[0])} of the batch has no nodes '
                                  f'({empty.numel()} empty graphs in all)')
        if edge_index.numel() > 0 and bool(
                (batch[edge_index[0]] != batch[edge_index[1]]).any()):
            raise GraphInputError("'edge_index' connects nodes of different graphs")
        if max_nodes is not None and int(counts.max()) > max_nodes:
            raise GraphInputError(f'A graph with {int(counts.max())} nodes exceeds the '
                                  f"model's limit of {max_nodes} nodes")
    elif max_nodes is not None and num_nodes > max_nodes:
        raise GraphInputError(f"A graph with {num_nodes} nodes exceeds the model's "
                              f'limit of {max_nodes} nodes')
