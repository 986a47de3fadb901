r"""Inputs with known symmetry groups, to test that frames are minimal, and nearly
degenerate point clouds, to test that learned frames stay exact on them."""
import itertools
import math
from typing import Optional

import networkx as nx
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import from_networkx

__all__ = ['regular_polygon', 'tetrahedron', 'cube', 'octahedron', 'icosahedron',
           'nearly_collinear', 'nearly_planar', 'symmetric_graph']


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


def octahedron(dtype=torch.float64) -> Tensor:
    r"""The vertices :math:`\pm e_1, \pm e_2, \pm e_3` of a regular octahedron,
    :math:`(6, 3)`; stabiliser :math:`O_h` (48) in :math:`S_6 \times O(3)`, :math:`O`
    (24) with :math:`SO(3)`. Its second moment is isotropic (a multiple of
    :math:`I_3`), so no frame can be read from it."""
    eye = torch.eye(3, dtype=torch.float64)
    return torch.cat([eye, -eye]).to(dtype)


def icosahedron(dtype=torch.float64) -> Tensor:
    r"""The vertices of a regular icosahedron, :math:`(12, 3)`: the cyclic permutations
    of :math:`(0, \pm 1, \pm \varphi)`, :math:`\varphi = (1 + \sqrt 5) / 2`;
    stabiliser :math:`I_h` (120) in :math:`S_{12} \times O(3)`, :math:`I` (60) with
    :math:`SO(3)`, the largest finite subgroup of :math:`O(3)` acting on a point cloud;
    isotropic second moment."""
    phi = (1 + math.sqrt(5)) / 2
    rows = []
    for a in (-1.0, 1.0):
        for b in (-phi, phi):
            rows += [(0.0, a, b), (a, b, 0.0), (b, 0.0, a)]
    return torch.tensor(rows, dtype=torch.float64).to(dtype)


def nearly_collinear(n: int = 7, eps: float = 1e-3,
                     generator: Optional[torch.Generator] = None,
                     dtype=torch.float64) -> Tensor:
    r""":math:`n` evenly spaced points on the segment :math:`[-1, 1] \times \{0\}^2`
    plus i.i.d. Gaussian perturbations of standard deviation ``eps``, :math:`(n, 3)`:
    a cloud whose stabiliser is trivial but within ``eps`` of :math:`O(2)` (rotations
    about the line), so any frame read from it is ill-conditioned in its last two
    axes."""
    if n < 1:
        raise ValueError(f"'n' must be positive (got {n})")
    if eps < 0:
        raise ValueError(f"'eps' must be non-negative (got {eps})")
    out = torch.zeros(n, 3, dtype=torch.float64)
    out[:, 0] = torch.linspace(-1, 1, n, dtype=torch.float64)
    out = out + eps * torch.randn(n, 3, generator=generator, dtype=torch.float64)
    return out.to(dtype)


def nearly_planar(n: int = 8, eps: float = 1e-3,
                  generator: Optional[torch.Generator] = None,
                  dtype=torch.float64) -> Tensor:
    r""":math:`n` standard Gaussian points in the plane :math:`x_3 = 0` with the third
    coordinate scaled to standard deviation ``eps``, :math:`(n, 3)`: within ``eps``
    of a cloud fixed by the reflection :math:`x_3 \mapsto -x_3`, so the orientation of
    an :math:`O(3)` frame read from it is ill-conditioned."""
    if n < 1:
        raise ValueError(f"'n' must be positive (got {n})")
    if eps < 0:
        raise ValueError(f"'eps' must be non-negative (got {eps})")
    out = torch.randn(n, 3, generator=generator, dtype=torch.float64)
    out[:, 2] *= eps
    return out.to(dtype)


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
