r"""Random graphs for tests, examples and benchmarks."""
from typing import Optional, Sequence

import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import erdos_renyi_graph, to_undirected

__all__ = ['random_graph', 'random_batch']


def random_graph(num_nodes: int, p: float = 0.4, node_channels: int = 3,
                 edge_channels: int = 4) -> Data:
    r"""An undirected Erdős–Rényi graph with Gaussian node and edge features (both edge
    directions carry the same features)."""
    edge_index = erdos_renyi_graph(num_nodes, p)  # i < j pairs, both directions
    edge_index = edge_index[:, edge_index[0] < edge_index[1]]
    attr = torch.randn(edge_index.size(1), edge_channels)
    edge_index, edge_attr = to_undirected(edge_index, attr, num_nodes=num_nodes)
    data = Data(edge_index=edge_index, num_nodes=num_nodes)
    if node_channels > 0:
        data.x = torch.randn(num_nodes, node_channels)
    if edge_channels > 0:
        data.edge_attr = edge_attr
    return data


def random_batch(sizes: Sequence[int] = (6, 4, 1, 9, 7), p: float = 0.4,
                 node_channels: int = 3, edge_channels: int = 4,
                 seed: Optional[int] = None) -> Batch:
    r"""A :class:`Batch` of :func:`random_graph` of the given sizes."""
    if seed is not None:
        torch.manual_seed(seed)
    return Batch.from_data_list([
        random_graph(n, p, node_channels, edge_channels) for n in sizes
    ])
