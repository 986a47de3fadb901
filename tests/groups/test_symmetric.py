import itertools

import pytest
import torch
from torch_geometric.utils import to_dense_adj

from lps_geometric.groups import SymmetricGroup, band_positions, segment_argsort
from lps_geometric.testing import dense_assignment
from lps_geometric.utils.batch import max_graph_size




def reference_ranks(score, batch, ptr):
    rank = torch.empty_like(batch)
    for g in range(ptr.numel() - 1):
        lo, hi = int(ptr[g]), int(ptr[g + 1])
        order = torch.sort(score[lo:hi], stable=True).indices
        rank[lo + order] = torch.arange(hi - lo)
    return rank


def test_segment_argsort_matches_per_graph_sort(batch):
    score = torch.randn(batch.num_nodes)
    assert torch.equal(segment_argsort(score, batch.batch, batch.ptr),
                       reference_ranks(score, batch.batch, batch.ptr))


def test_segment_argsort_ties_broken_by_index(batch):
    score = torch.randint(0, 3, (batch.num_nodes, )).float()
    assert torch.equal(segment_argsort(score, batch.batch, batch.ptr),
                       reference_ranks(score, batch.batch, batch.ptr))


def test_segment_argsort_ties_broken_by_tie_break(batch):
    score = torch.randint(0, 3, (batch.num_nodes, )).float()
    tie_break = torch.rand(batch.num_nodes)
    # score first, tie_break second: the same as sorting score + tie_break / 2
    expected = reference_ranks(score + 0.5 * tie_break, batch.batch, batch.ptr)
    assert torch.equal(segment_argsort(score, batch.batch, batch.ptr, tie_break),
                       expected)
    with pytest.raises(ValueError, match='tie_break'):
        segment_argsort(score, batch.batch, batch.ptr, tie_break[:-1])


def test_ranks_are_permutations_of_each_graph(batch):
    perm = SymmetricGroup().random_element(batch)
    for g in range(batch.num_graphs):
        lo, hi = int(batch.ptr[g]), int(batch.ptr[g + 1])
        assert sorted(perm.rank[lo:hi].tolist()) == list(range(hi - lo))


def test_inverse_and_composition(batch):
    group = SymmetricGroup()
    a, b, c = (group.random_element(batch) for _ in range(3))
    identity = group.identity(batch)
    assert a.compose(a.inverse()).equal(identity)
    assert a.inverse().compose(a).equal(identity)
    assert a.compose(b).compose(c).equal(a.compose(b.compose(c)))
    assert (a @ b).equal(a.compose(b))


def test_action_is_a_group_action(batch):
    group = SymmetricGroup()
    a, b = group.random_element(batch), group.random_element(batch)
    left = group.act(a.compose(b), batch)
    right = group.act(a, group.act(b, batch))
    assert torch.equal(left.x, right.x)
    assert torch.equal(left.edge_index, right.edge_index)
    assert torch.equal(left.edge_attr, right.edge_attr)


def test_action_matches_dense_permutation_matrices(batch):
    perm = SymmetricGroup().random_element(batch)
    moved = perm.apply(batch)
    n = max_graph_size(batch.ptr)
    M = dense_assignment(perm, n)  # node -> position
    A = to_dense_adj(batch.edge_index, batch.batch, batch.edge_attr, max_num_nodes=n)
    A_moved = to_dense_adj(moved.edge_index, moved.batch, moved.edge_attr,
                           max_num_nodes=n)
    expected = torch.einsum('bui,buvc,bvj->bijc', M, A, M)
    assert torch.allclose(A_moved, expected)
    # Node v lands at ptr + rank[v].
    assert torch.equal(moved.x[perm.index], batch.x)


def test_random_permutations_are_uniform():
    from torch_geometric.data import Data
    data = Data(edge_index=torch.empty(2, 0, dtype=torch.long), num_nodes=3)
    group = SymmetricGroup()
    gen = torch.Generator().manual_seed(0)
    counts = {p: 0 for p in itertools.permutations(range(3))}
    for _ in range(3000):
        counts[tuple(group.random_element(data, gen).rank.tolist())] += 1
    assert all(400 < c < 600 for c in counts.values()), counts


def test_permute_and_pull_are_inverse(batch):
    perm = SymmetricGroup().random_element(batch)
    value = torch.randn(batch.num_nodes, 2)
    assert torch.equal(perm.pull_nodes(perm.permute_nodes(value)), value)
    assert 'Permutation' in repr(perm)


def test_act_on_output_rejects_unknown_level(batch):
    group = SymmetricGroup()
    with pytest.raises(ValueError, match='level'):
        group.act_on_output(group.identity(batch), torch.zeros(3), 'edge')


def test_segment_argsort_exact_over_many_graphs():
    # close float32 scores in many graphs: a sort of score + 2 * graph would merge them
    num_graphs = 20000
    batch = torch.arange(num_graphs).repeat_interleave(5)
    ptr = torch.arange(num_graphs + 1) * 5
    score = torch.rand(batch.numel(), generator=torch.Generator().manual_seed(1))
    rank = segment_argsort(score, batch, ptr)
    order = torch.argsort(score.view(num_graphs, 5).double(), dim=1, stable=True)
    expected = torch.empty_like(order).scatter_(1, order, torch.arange(5).expand(
        num_graphs, 5).contiguous())
    assert torch.equal(rank, expected.view(-1))


def test_band_positions_are_the_neighbours_in_the_order(batch):
    perm = SymmetricGroup().random_element(batch)
    position, valid = band_positions(perm, 2)
    assert position.shape == valid.shape == (batch.num_nodes, 5)
    at = perm.inverse().index        # at[global position] = the node there
    for v in range(batch.num_nodes):
        g = int(batch.batch[v])
        lo, hi = int(batch.ptr[g]), int(batch.ptr[g + 1])
        for m, offset in enumerate(range(-2, 3)):
            local = int(perm.rank[v]) + offset
            assert bool(valid[v, m]) == (0 <= local < hi - lo)
            assert lo <= int(position[v, m]) < hi
            if valid[v, m]:
                assert int(position[v, m]) == lo + local
                assert int(perm.rank[at[position[v, m]]]) == local
