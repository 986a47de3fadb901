r"""Random graphs, and graphs built to be hard for permutation symmetrization, for tests,
examples and benchmarks.

The adversarial graphs have large automorphism groups, so many of their nodes are
indistinguishable: a canonicalization must order nodes that no node-wise score can tell
apart, and a learned sampler's scores tie or nearly tie on them. Every builder returns
an undirected, coalesced ``edge_index`` (both directions) and ``x`` of ones
(:obj:`(n, node_channels)`), so that only the structure tells nodes apart.
"""
import itertools
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import coalesce, erdos_renyi_graph, to_undirected

__all__ = ['random_graph', 'random_batch', 'complete_graph', 'cycle_graph',
           'petersen_graph', 'hypercube_graph', 'complete_bipartite_graph',
           'disjoint_cliques', 'circulant_graph', 'nearly_tied_features',
           'adversarial_graphs']


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


def _graph(num_nodes: int, pairs, node_channels: int) -> Data:
    pairs = torch.as_tensor(list(pairs), dtype=torch.long).view(-1, 2).t()
    edge_index = torch.cat([pairs, pairs.flip(0)], dim=1)
    edge_index = coalesce(edge_index, num_nodes=num_nodes)
    data = Data(edge_index=edge_index, num_nodes=num_nodes)
    if node_channels > 0:
        data.x = torch.ones(num_nodes, node_channels)
    return data


def complete_graph(n: int, node_channels: int = 1) -> Data:
    r"""The complete graph :math:`K_n`: :math:`|\mathrm{Aut}| = n!`, every node
    automorphic to every other."""
    return _graph(n, itertools.combinations(range(n), 2), node_channels)


def cycle_graph(n: int, node_channels: int = 1) -> Data:
    r"""The cycle :math:`C_n` (:math:`n \ge 3`): :math:`|\mathrm{Aut}| = 2n` (the
    dihedral group)."""
    return _graph(n, [(i, (i + 1) % n) for i in range(n)], node_channels)


def petersen_graph(node_channels: int = 1) -> Data:
    r"""The Petersen graph (10 nodes, 3-regular, distance-transitive):
    :math:`|\mathrm{Aut}| = 120`."""
    outer = [(i, (i + 1) % 5) for i in range(5)]
    spokes = [(i, i + 5) for i in range(5)]
    inner = [(5 + i, 5 + (i + 2) % 5) for i in range(5)]
    return _graph(10, outer + spokes + inner, node_channels)


def hypercube_graph(d: int, node_channels: int = 1) -> Data:
    r"""The :math:`d`-cube :math:`Q_d` (:math:`2^d` nodes, neighbours differ in one
    bit): :math:`|\mathrm{Aut}| = 2^d d!`."""
    n = 2 ** d
    return _graph(n, [(v, v ^ (1 << b)) for v in range(n) for b in range(d)
                      if v < v ^ (1 << b)], node_channels)


def complete_bipartite_graph(a: int, b: int, node_channels: int = 1) -> Data:
    r"""The complete bipartite graph :math:`K_{a,b}`: :math:`|\mathrm{Aut}| = a!\,b!`,
    twice that when :math:`a = b`."""
    return _graph(a + b, [(u, a + v) for u in range(a) for v in range(b)],
                  node_channels)


def disjoint_cliques(num_cliques: int, size: int, node_channels: int = 1) -> Data:
    r"""``num_cliques`` disjoint copies of :math:`K_{\text{size}}` in one graph:
    :math:`|\mathrm{Aut}| = (\text{size}!)^{c}\, c!` for :math:`c` cliques (whole
    components are exchanged too)."""
    pairs = [(c * size + u, c * size + v) for c in range(num_cliques)
             for u, v in itertools.combinations(range(size), 2)]
    return _graph(num_cliques * size, pairs, node_channels)


def circulant_graph(n: int, jumps: Sequence[int] = (1, 9),
                    node_channels: int = 1) -> Data:
    r"""The circulant graph on :math:`\mathbb{Z}_n` joining :math:`i` and
    :math:`i \pm j` for every jump :math:`j`; with jumps :math:`(1, s)` the circular
    skip-link graph :math:`C_{n,s}` of the CSL dataset (41 nodes, 4-regular by default
    skip 9). Vertex-transitive (:math:`|\mathrm{Aut}| \ge 2n`), and all graphs of the
    same size and degree are 1-WL-equivalent, so a message-passing score gives every
    node the same value up to rounding."""
    pairs = {tuple(sorted((i, (i + j) % n))) for i in range(n) for j in jumps
             if (i + j) % n != i}
    return _graph(n, sorted(pairs), node_channels)


def nearly_tied_features(data: Data, scale: float = 1e-6,
                         generator: Optional[torch.Generator] = None) -> Data:
    r"""A copy of ``data`` whose ``x`` is perturbed by :math:`\mathcal{N}(0, s^2)`,
    :math:`s` = ``scale``: the graph has no symmetry left, but its nodes differ by
    little more than float32 rounding, so node scores computed from ``x`` are distinct
    yet nearly tied (an argsort of them is only as stable as their rounding)."""
    out = data.clone()
    x = out.x if out.x is not None else torch.ones(out.num_nodes, 1)
    noise = torch.randn(x.shape, generator=generator, dtype=torch.float64)
    out.x = (x.to(torch.float64) + scale * noise).to(x.dtype)
    return out


def adversarial_graphs(node_channels: int = 1) -> Dict[str, Data]:
    r"""The adversarial graphs above by name, each with its automorphism group size in
    ``data.aut_size`` (a float, for the known groups): :math:`K_6`, :math:`C_{12}`,
    Petersen, :math:`Q_4`, :math:`K_{4,4}`, :math:`3 \times K_4`, :math:`C_{41,9}`."""
    graphs = {
        'K6': (complete_graph(6, node_channels), 720.0),
        'C12': (cycle_graph(12, node_channels), 24.0),
        'Petersen': (petersen_graph(node_channels), 120.0),
        'Q4': (hypercube_graph(4, node_channels), 384.0),
        'K_{4,4}': (complete_bipartite_graph(4, 4, node_channels), 1152.0),
        '3 x K4': (disjoint_cliques(3, 4, node_channels), 82944.0),
        'CSL(41, 9)': (circulant_graph(41, (1, 9), node_channels), 164.0),
    }
    out = {}
    for name, (data, size) in graphs.items():
        data.aut_size = size
        out[name] = data
    return out
