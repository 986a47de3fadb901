r"""Minimal frames of :math:`S_n` on graphs (:mod:`lps_geometric.frames.graphs`): the
automorphism group as the frame, colours, budgets, ragged stacks and exactness."""
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.frames import GraphMinimalFrameSampler, LaplacianFrameSampler
from lps_geometric.frames.graphs import graph_colors
from lps_geometric.nn import AdjacencyMLP, AdjacencyPatchTransformer, Symmetrize
from lps_geometric.testing import random_batch, symmetric_graph

pytest.importorskip('pynauty')


def canonical_edge_sets(sample, num_graphs):
    r"""The edge set of every stacked copy after applying its element."""
    canon = sample.element.apply(sample.stacked)
    local = canon.edge_index - canon.ptr[canon.batch[canon.edge_index[0]]]
    graph = canon.batch[canon.edge_index[0]]
    sets = {}
    for g in range(canon.num_graphs):
        mask = graph == g
        sets[g] = frozenset(map(tuple, local[:, mask].t().tolist()))
    return [[sets[r * num_graphs + b] for r in range(int(sample.counts.max()))]
            for b in range(num_graphs)]


@pytest.mark.parametrize('name,n,size', [('cycle', 6, 12), ('cycle', 9, 18),
                                          ('path', 5, 2), ('complete', 4, 24),
                                          ('star', 5, 24), ('petersen', 10, 120)])
def test_graph_mfa_frame_is_the_automorphism_group(name, n, size):
    data = Batch.from_data_list([symmetric_graph(name, n)])
    sample = GraphMinimalFrameSampler(budget=200)(data)
    assert sample.frame_size.tolist() == [size]
    assert sample.counts.tolist() == [size] and sample.num_samples is None
    ranks = sample.element.rank.view(size, -1)
    assert torch.unique(ranks, dim=0).size(0) == size          # distinct elements
    edges = canonical_edge_sets(sample, 1)[0]
    assert len(set(edges)) == 1                                 # one canonical graph


def test_graph_mfa_respects_node_and_edge_colours():
    data = symmetric_graph('cycle', 6)
    data.x = torch.tensor([[1.0], [0], [0], [0], [0], [0]])
    assert GraphMinimalFrameSampler()(Batch.from_data_list([data])).frame_size.item() == 2
    data = symmetric_graph('cycle', 6)
    src, dst = data.edge_index
    data.edge_attr = ((src + dst) == 1).float().view(-1, 1)     # colour the edge 0-1
    assert GraphMinimalFrameSampler()(Batch.from_data_list([data])).frame_size.item() == 2


def test_graph_mfa_is_exactly_invariant_and_equivariant():
    torch.manual_seed(0)
    graphs = [symmetric_graph('petersen'), symmetric_graph('cycle', 7)]
    for g in random_batch((6, 5, 1), seed=0, node_channels=0,
                          edge_channels=0).to_data_list():
        graphs.append(Data(x=torch.ones(g.num_nodes, 1), edge_index=g.edge_index,
                           num_nodes=g.num_nodes))
    batch = Batch.from_data_list(graphs)
    for level in ('graph', 'node'):
        backbone = AdjacencyPatchTransformer(1, 3, max_nodes=10, tokens='rows',
                                             embed_dim=16, depth=1, num_heads=2,
                                             level=level)
        net = Symmetrize(backbone, GraphMinimalFrameSampler(budget=200), level=level).eval()
        assert_equivariant(net, batch, 'S_n', num_trials=4, rtol=1e-5)


def test_graph_mfa_budget_samples_and_keeps_the_size():
    data = Batch.from_data_list([symmetric_graph('petersen')])
    sample = GraphMinimalFrameSampler(budget=16)(data,
                                                 generator=torch.Generator().manual_seed(0))
    assert sample.counts.tolist() == [16] and sample.frame_size.item() == 120
    edges = canonical_edge_sets(sample, 1)[0]
    assert len(set(edges)) == 1
    # groups too large to enumerate: product replacement
    big = Batch.from_data_list([symmetric_graph('complete', 9)])
    sample = GraphMinimalFrameSampler(budget=8, max_enumerate=100)(big)
    assert sample.counts.tolist() == [8] and sample.frame_size.item() == math.factorial(9)


def test_graph_mfa_rejects_directed_graphs():
    data = Data(x=torch.ones(3, 1), edge_index=torch.tensor([[0, 1], [1, 2]]))
    with pytest.raises(ValueError, match='undirected'):
        GraphMinimalFrameSampler()(data)
    # the message names an edge that lacks its reverse, not one that has it
    one_way = Data(x=torch.ones(6, 1), edge_index=torch.tensor([[0, 1, 2], [5, 2, 1]]))
    with pytest.raises(ValueError, match=r'edge \(0, 5\) has none'):
        GraphMinimalFrameSampler()(one_way)


def test_graph_mfa_mixed_batch_is_ragged():
    batch = Batch.from_data_list([symmetric_graph('cycle', 4), symmetric_graph('path', 3)])
    sample = GraphMinimalFrameSampler()(batch)
    # each graph is copied exactly |Aut| times (8 and 2), not max |Aut| = 8 times
    assert torch.bincount(sample.graph_index).tolist() == [8, 2]
    assert sample.stacked.num_nodes == 8 * 4 + 2 * 3
    total = torch.zeros(2, dtype=sample.weight.dtype).index_add_(0, sample.graph_index,
                                                                 sample.weight)
    assert torch.allclose(total, torch.ones(2, dtype=total.dtype))
    assert torch.equal(sample.stacked.x, batch.x[sample.node_index])


def test_ragged_frames_equal_explicit_frame_averages():
    r"""Symmetrize over a ragged MFA stack equals the average of the backbone over each
    graph's frame elements, computed graph by graph."""
    torch.manual_seed(0)
    batch = Batch.from_data_list([symmetric_graph('cycle', 5), symmetric_graph('path', 4),
                                  symmetric_graph('star', 4)])
    backbone = AdjacencyMLP(in_channels=1, out_channels=2, max_nodes=5)
    sampler = GraphMinimalFrameSampler()
    out = Symmetrize(backbone, sampler).eval()(batch)
    sample = sampler(batch)
    canon = sample.element.apply(sample.stacked)
    per_copy = backbone(canon)
    for b in range(3):
        rows = per_copy[sample.graph_index == b]
        assert torch.allclose(out[b], rows.mean(0), atol=1e-6)
    assert torch.bincount(sample.graph_index).tolist() == [10, 2, 6]


def test_graph_frames_agree_with_an_equivariant_backbone_and_float64():
    r"""With a permutation-equivariant GNN as backbone, FA and MFA both return the GNN's
    own output (both exact); and MFA's invariance holds to 1e-10 in float64."""
    from torch_geometric.nn import GIN
    from torch_geometric.utils import scatter
    torch.manual_seed(0)
    batch = Batch.from_data_list([symmetric_graph('petersen'), symmetric_graph('cycle', 6),
                                  symmetric_graph('path', 5)])
    batch.x = torch.randn(batch.num_nodes, 1)
    gin = GIN(1, 16, 2, out_channels=3).double().eval()

    class Backbone(torch.nn.Module):
        level = 'graph'

        def forward(self, data):
            h = gin(data.x.double(), data.edge_index)
            return scatter(h, data.batch, dim=0, reduce='sum')

    plain = Backbone()(batch)
    for sampler in (LaplacianFrameSampler(), GraphMinimalFrameSampler(budget=200)):
        out = Symmetrize(Backbone(), sampler).eval()(batch)
        assert torch.allclose(out, plain, atol=1e-10), sampler
    backbone = AdjacencyMLP(in_channels=1, out_channels=3, max_nodes=10).double()
    net = Symmetrize(backbone, GraphMinimalFrameSampler(budget=200)).eval()
    batch.x = torch.ones(batch.num_nodes, 1, dtype=torch.float64)
    assert_equivariant(net, batch, 'S_n', num_trials=4, rtol=1e-10)


def test_graph_colors_rank_node_rows_self_loops_and_edge_attributes():
    data = Data(x=torch.tensor([[1.0], [0.0], [1.0], [0.0]]),
                edge_index=torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 1, 3]]),
                edge_attr=torch.tensor([[2.0], [2.0], [5.0], [5.0], [2.0]]))
    node, edge = graph_colors(data)
    assert node.dtype == torch.long and edge.dtype == torch.long
    assert edge.tolist() == [1, 1, 2, 2, 1]                  # 1-based ranks of the rows
    # node 3 has x = 0 like node 1 but a self-loop: its own colour
    assert node[0] == node[2] and node[1] != node[3]
    assert len(set(node.tolist())) == 3
    # without the edge attributes every edge has colour 1
    _, plain = graph_colors(data, use_edge_attr=False)
    assert plain.tolist() == [1] * 5
    # node keys that are missing or not node-level are skipped
    node, _ = graph_colors(data, node_keys=('x', 'absent'), use_edge_attr=False)
    assert node[0] == node[2]
    node, _ = graph_colors(data, node_keys=(), use_edge_attr=False)
    assert node.tolist() == [0, 0, 0, 1]                     # only the self-loop counts
