r"""The test graphs of :mod:`lps_geometric.testing.graphs`: random graphs are
undirected and reproducible, and every adversarial graph has the automorphism group
size it claims (counted by nauty)."""
import pytest
import torch
from torch_geometric.utils import is_undirected

from lps_geometric.testing import (adversarial_graphs, circulant_graph,
                                   complete_bipartite_graph, complete_graph, cycle_graph,
                                   disjoint_cliques, hypercube_graph, nearly_tied_features,
                                   petersen_graph, random_batch, random_graph)

pynauty = pytest.importorskip('pynauty')


def automorphisms(data) -> float:
    adjacency = {v: [] for v in range(data.num_nodes)}
    for u, v in data.edge_index.t().tolist():
        adjacency[u].append(v)
    _, size, exponent, _, _ = pynauty.autgrp(pynauty.Graph(data.num_nodes,
                                                           adjacency_dict=adjacency))
    return size * 10 ** exponent


def degrees(data):
    return torch.bincount(data.edge_index[0], minlength=data.num_nodes)


def test_random_graph_is_undirected_with_symmetric_edge_features():
    torch.manual_seed(0)
    data = random_graph(12, p=0.5, node_channels=2, edge_channels=3)
    assert data.x.shape == (12, 2) and data.edge_attr.shape == (data.num_edges, 3)
    assert is_undirected(data.edge_index, data.edge_attr)
    assert bool((data.edge_index[0] != data.edge_index[1]).all())
    bare = random_graph(5, node_channels=0, edge_channels=0)
    assert bare.x is None and bare.edge_attr is None and bare.num_nodes == 5


def test_random_batch_sizes_and_seed():
    a, b = random_batch((4, 1, 6), seed=3), random_batch((4, 1, 6), seed=3)
    assert a.num_graphs == 3 and (a.ptr[1:] - a.ptr[:-1]).tolist() == [4, 1, 6]
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    assert not torch.equal(random_batch((4, 1, 6), seed=4).x, a.x)


@pytest.mark.parametrize('data, nodes, degree, aut', [
    (complete_graph(5), 5, 4, 120),
    (cycle_graph(7), 7, 2, 14),
    (petersen_graph(), 10, 3, 120),
    (hypercube_graph(3), 8, 3, 48),
    (complete_bipartite_graph(2, 3), 5, None, 12),
    (complete_bipartite_graph(3, 3), 6, 3, 72),
    (disjoint_cliques(2, 3), 6, 2, 72),
    (circulant_graph(11, (1, 3)), 11, 4, 22),
], ids=['K5', 'C7', 'Petersen', 'Q3', 'K23', 'K33', '2xK3', 'C11_3'])
def test_builders(data, nodes, degree, aut):
    assert data.num_nodes == nodes and data.x.shape == (nodes, 1)
    assert bool((data.x == 1).all())
    assert is_undirected(data.edge_index)
    assert bool((data.edge_index[0] != data.edge_index[1]).all())
    if degree is not None:
        assert degrees(data).tolist() == [degree] * nodes
    assert automorphisms(data) == aut


def test_node_channels():
    assert complete_graph(4, node_channels=3).x.shape == (4, 3)
    assert cycle_graph(4, node_channels=0).x is None


def test_adversarial_graphs_have_the_automorphism_groups_they_claim():
    graphs = adversarial_graphs()
    assert list(graphs) == ['K6', 'C12', 'Petersen', 'Q4', 'K_{4,4}', '3 x K4',
                            'CSL(41, 9)']
    for name, data in graphs.items():
        assert automorphisms(data) == data.aut_size, name
        assert is_undirected(data.edge_index), name
    assert graphs['CSL(41, 9)'].num_nodes == 41
    assert degrees(graphs['CSL(41, 9)']).tolist() == [4] * 41


def test_nearly_tied_features_break_every_symmetry_by_a_little():
    data = cycle_graph(8, node_channels=2)
    out = nearly_tied_features(data, scale=1e-6, generator=torch.Generator().manual_seed(0))
    assert out.x.dtype == data.x.dtype and torch.equal(out.edge_index, data.edge_index)
    assert torch.equal(data.x, torch.ones(8, 2))             # the input is left alone
    assert 0 < float((out.x - 1).abs().max()) < 1e-4
    assert out.x[:, 0].unique().numel() == 8                 # no two nodes tie any more
    again = nearly_tied_features(data, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.x, again.x)
    featureless = nearly_tied_features(cycle_graph(5, node_channels=0), scale=1e-3)
    assert featureless.x.shape == (5, 1)
