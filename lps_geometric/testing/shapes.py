r"""Inputs with known symmetry groups, to test that frames are minimal."""
import itertools
import math

import networkx as nx
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import from_networkx

__all__ = ['regular_polygon', 'tetrahedron', 'cube', 'symmetric_graph']


def regular_polygon(n: int, dim: int = 3, dtype=torch.float64) -> Tensor:
    r"""The vertices of a regular :math:`n`-gon in the first two coordinates,
    :math:`(n, d)`; stabiliser :math:`D_n` (:math:`2n` elements) in
    :math:`S_n \times O(2)`, :math:`4n` in :math:`S_n \times O(3)`."""
    t = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    out = torch.zeros(n, dim, dtype=torch.float64)
    out[:, 0], out[:, 1] = torch.cos(t), torch.sin(t)
    return out.to(dtype)


def tetrahedron(dtype=torch.float64) -> Tensor:
    r"""A regular tetrahedron, :math:`(4, 3)`; stabiliser :math:`T_d` (24) in
    :math:`S_4 \times O(3)`, :math:`T` (12) in :math:`S_4 \times SO(3)`."""
    return torch.tensor([[1., 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=dtype)


def cube(dtype=torch.float64) -> Tensor:
    r"""The vertices of a cube, :math:`(8, 3)`; stabiliser :math:`O_h` (48) in
    :math:`S_8 \times O(3)`, :math:`O` (24) with :math:`SO(3)`."""
    return torch.tensor(list(itertools.product((-1., 1.), repeat=3)), dtype=dtype)


def symmetric_graph(name: str, n: int = 6) -> Data:
    r"""A graph with a known automorphism group, with ``x`` of ones: :obj:`"cycle"`
    (:math:`2n`), :obj:`"path"` (2), :obj:`"complete"` (:math:`n!`), :obj:`"star"`
    (:math:`(n-1)!`), :obj:`"petersen"` (120)."""
    graphs = {
        'cycle': lambda: nx.cycle_graph(n),
        'path': lambda: nx.path_graph(n),
        'complete': lambda: nx.complete_graph(n),
        'star': lambda: nx.star_graph(n - 1),
        'petersen': nx.petersen_graph,
    }
    if name not in graphs:
        raise ValueError(f"Unknown graph '{name}' (known: {sorted(graphs)})")
    data = from_networkx(graphs[name]())
    data.x = torch.ones(data.num_nodes, 1)
    return Data(x=data.x, edge_index=data.edge_index, num_nodes=data.num_nodes)
