r"""A deliberately non-equivariant backbone for testing symmetrization."""
from typing import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_batch

from lps_geometric.nn.capabilities import BackboneCapabilities
from lps_geometric.utils.batch import num_graphs_of

__all__ = ['OrderedMLP']


class OrderedMLP(nn.Module):
    r"""An MLP over the concatenated node rows of a graph in their order: neither
    permutation- nor rotation-equivariant, so any symmetry of a symmetrized
    :class:`OrderedMLP` comes from the symmetrization alone.

    Every graph's node attributes ``keys`` (complex ones as real and imaginary parts)
    are padded to ``max_nodes`` rows, flattened, and mapped by a two-layer MLP to a
    graph output :math:`(B, C)` or to node outputs :math:`(|V|, C)`.

    Args:
        node_channels (int): Channels of the concatenated ``keys`` per node.
        out_channels (int): :math:`C`.
        max_nodes (int): Largest graph.
        keys (sequence of str, optional): Node attributes read. (default:
            :obj:`("pos",)`)
        hidden_channels (int, optional): Width. (default: :obj:`32`)
        level (str, optional): :obj:`"graph"` or :obj:`"node"`. (default:
            :obj:`"graph"`)
    """
    def __init__(self, node_channels: int, out_channels: int, max_nodes: int,
                 keys: Sequence[str] = ('pos',), hidden_channels: int = 32,
                 level: str = 'graph'):
        super().__init__()
        if level not in ('graph', 'node'):
            raise ValueError(f"'level' must be 'graph' or 'node' (got '{level}')")
        self.node_channels = node_channels
        self.out_channels = out_channels
        self.max_nodes = max_nodes
        self.keys = tuple(keys)
        self.level = level
        width = out_channels * (max_nodes if level == 'node' else 1)
        self.mlp = nn.Sequential(nn.Linear(max_nodes * node_channels, hidden_channels),
                                 nn.Tanh(), nn.Linear(hidden_channels, width))

    def reset_parameters(self):
        for layer in self.mlp:
            if hasattr(layer, 'reset_parameters'):
                layer.reset_parameters()

    @property
    def capabilities(self) -> BackboneCapabilities:
        return BackboneCapabilities(level=self.level, max_nodes=self.max_nodes)

    def forward(self, data: Data) -> Tensor:
        parts = []
        for key in self.keys:
            value = data[key].reshape(data.num_nodes, -1)
            if value.is_complex():
                value = torch.view_as_real(value).reshape(value.size(0), -1)
            parts.append(value)
        feats = torch.cat(parts, dim=-1).to(self.mlp[0].weight.dtype)
        dense, mask = to_dense_batch(feats, data.batch, max_num_nodes=self.max_nodes,
                                     batch_size=num_graphs_of(data))
        out = self.mlp(dense.flatten(1))
        if self.level == 'graph':
            return out
        return out.view(-1, self.max_nodes, self.out_channels)[mask]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.node_channels}, {self.out_channels}, '
                f'max_nodes={self.max_nodes}, keys={self.keys}, level={self.level})')
