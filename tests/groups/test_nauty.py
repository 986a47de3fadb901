from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.groups import SymmetricGroup
from lps_geometric.groups.nauty import canonical_form, canonical_tie_ranks, exact_colors

pytest.importorskip('pynauty')


def _random_graph(n, p, rng):
    upper = np.triu(rng.random((n, n)) < p, 1)
    return np.argwhere(upper)


def _relabel(edges, perm):
    r"""Edges of the graph with node ``v`` renamed ``perm[v]``, as a sorted set."""
    return {tuple(sorted((int(perm[u]), int(perm[v])))) for u, v in edges}


def test_canonical_labels_are_invariant_under_relabelling():
    rng = np.random.default_rng(0)
    for n in (5, 8, 11):
        edges = _random_graph(n, 0.4, rng)
        colors = rng.integers(0, 2, n)
        canon = _relabel(edges, canonical_form(n, edges, colors).rank)
        for _ in range(5):
            p = rng.permutation(n)                     # node v becomes p[v]
            moved_edges = np.array([[p[u], p[v]] for u, v in edges]).reshape(-1, 2)
            moved_colors = np.empty(n, dtype=np.int64)
            moved_colors[p] = colors
            form = canonical_form(n, moved_edges, moved_colors)
            assert _relabel(moved_edges, form.rank) == canon
            assert sorted(form.rank.tolist()) == list(range(n))


def test_automorphism_groups_and_colours():
    cycle = np.array([[i, (i + 1) % 6] for i in range(6)])
    form = canonical_form(6, cycle)
    assert form.group_size == 12.0                     # the dihedral group of order 12
    for gen in form.generators:                        # generators preserve the edges
        assert _relabel(cycle, gen) == _relabel(cycle, np.arange(6))
    colored = canonical_form(6, cycle, node_color=np.array([1, 0, 0, 0, 0, 0]))
    assert colored.group_size == 2.0                   # the reflection through node 0
    # an edge colour breaks the symmetry that the plain cycle has
    edge_color = np.array([2, 1, 1, 1, 1, 1])
    assert canonical_form(6, cycle, edge_color=edge_color).group_size == 2.0
    with pytest.raises(ValueError, match='>= 1'):
        canonical_form(6, cycle, edge_color=np.zeros(6, dtype=np.int64))
    # a directed cycle has rotations only
    assert canonical_form(6, cycle, directed=True).group_size == 6.0


def test_exact_colors_order_rows_and_merge_signed_zeros():
    rows = torch.tensor([[1.0, 0.0], [0.5, 2.0], [1.0, -0.0], [1.0, 1e-12]])
    colors = exact_colors(rows, 4)
    assert colors[0] == colors[2]                       # -0.0 is 0.0
    assert colors[3] != colors[0]                       # any difference counts
    assert colors.tolist() == [1, 0, 1, 2]              # lexicographic order
    assert exact_colors(None, 3).tolist() == [0, 0, 0]


def _canonical_graph(data, rank):
    r"""Features and edge set of a batch with every node moved to its canonical
    position."""
    index = data.ptr[data.batch] + rank
    x = torch.empty_like(data.x)
    x[index] = data.x
    return x, {tuple(e) for e in index[data.edge_index].t().tolist()}


def test_canonical_tie_ranks_are_equivariant():
    torch.manual_seed(0)
    graphs = []
    for n in (6, 7):
        upper = torch.triu(torch.rand(n, n) < 0.5, 1).nonzero().t()
        edge_index = torch.cat([upper, upper.flip(0)], dim=1)
        x = torch.randint(0, 2, (n, 1)).float()
        graphs.append(Data(x=x, edge_index=edge_index, num_nodes=n))
    data = Batch.from_data_list(graphs)
    key = torch.zeros(data.num_nodes, dtype=torch.long)
    which = torch.arange(2)
    cache = OrderedDict()
    rank = canonical_tie_ranks(data, key, which, cache=cache)
    assert len(cache) == 2
    perm = SymmetricGroup().random_element(data)
    moved = perm.apply(data)
    moved_rank = canonical_tie_ranks(moved, perm.permute_nodes(key), which)
    assert sorted(rank[:6].tolist()) == list(range(6))
    assert sorted(rank[6:].tolist()) == list(range(7))
    # relabelling each graph by its canonical positions gives the same graph
    x, edges = _canonical_graph(data, rank)
    moved_x, moved_edges = _canonical_graph(moved, moved_rank)
    assert edges == moved_edges and torch.equal(x, moved_x)
    # the cached positions are reused: equal results from the cache
    assert torch.equal(canonical_tie_ranks(data, key, which, cache=cache), rank)
