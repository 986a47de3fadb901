r"""The PATTERN and CLUSTER generators against their published construction and the
statistics of the released files."""
from dataclasses import replace

import pytest
import torch
from torch_geometric.utils import to_dense_adj

from lps_geometric.datasets.sbm import (CLUSTER_CONFIG, PATTERN_CONFIG,
                                        PUBLISHED_SBM_STATISTICS, SBMCluster, SBMPattern,
                                        generate_cluster, generate_pattern, sample_sbm,
                                        sbm_statistics)

SMALL_PATTERN = replace(PATTERN_CONFIG, splits=(2, 1, 1))


@pytest.fixture(scope='module')
def cluster():
    return generate_cluster(0, replace(CLUSTER_CONFIG, splits=(800, 100, 100)))


@pytest.fixture(scope='module')
def pattern():
    return generate_pattern(0, SMALL_PATTERN)


def _undirected_simple(graph):
    ei = graph.edge_index
    assert (ei[0] != ei[1]).all()
    adj = to_dense_adj(ei, max_num_nodes=graph.num_nodes)[0]
    assert adj.max() == 1 and torch.equal(adj, adj.T)
    return adj


def test_sbm_pair_probabilities():
    gen = torch.Generator().manual_seed(0)
    intra = inter = intra_pairs = inter_pairs = 0
    for _ in range(40):
        edges, community = sample_sbm(torch.tensor([30, 30, 30]), 0.55, 0.25, gen)
        adj = to_dense_adj(edges, max_num_nodes=90)[0].bool()
        same = community.view(-1, 1) == community.view(1, -1)
        off = ~torch.eye(90, dtype=torch.bool)
        intra += int((adj & same & off).sum())
        intra_pairs += int((same & off).sum())
        inter += int((adj & ~same).sum())
        inter_pairs += int((~same).sum())
    assert abs(intra / intra_pairs - 0.55) < 0.01
    assert abs(inter / inter_pairs - 0.25) < 0.01


def test_cluster_follows_the_published_construction(cluster):
    for graph in cluster['train'][:200]:
        _undirected_simple(graph)
        assert graph.x.dtype == torch.long and graph.y.dtype == torch.long
        sizes = torch.bincount(graph.y, minlength=6)
        assert ((sizes >= 5) & (sizes <= 34)).all()
        # one marked node per community, carrying the community's label + 1
        marked = graph.x > 0
        assert int(marked.sum()) == 6
        assert torch.equal(torch.sort(graph.x[marked] - 1)[0], torch.arange(6))
        assert torch.equal(graph.x[marked] - 1, graph.y[marked])


def test_cluster_edge_probabilities(cluster):
    intra = intra_pairs = inter = inter_pairs = 0
    for graph in cluster['train'][:300]:
        adj = _undirected_simple(graph).bool()
        same = graph.y.view(-1, 1) == graph.y.view(1, -1)
        off = ~torch.eye(graph.num_nodes, dtype=torch.bool)
        intra += int((adj & same & off).sum())
        intra_pairs += int((same & off).sum())
        inter += int((adj & ~same).sum())
        inter_pairs += int((~same).sum())
    assert abs(intra / intra_pairs - CLUSTER_CONFIG.p) < 0.01
    assert abs(inter / inter_pairs - CLUSTER_CONFIG.q) < 0.005


def test_cluster_statistics_match_the_released_files(cluster):
    stats = sbm_statistics(cluster)
    published = PUBLISHED_SBM_STATISTICS['CLUSTER']
    assert stats['splits'] == (800, 100, 100)
    # the released training split: ~117.2 nodes, ~4,303.9 directed edges (the
    # generator's expectation is 117 nodes and ~4,290 edges; 800 graphs give a standard
    # error of about 0.8 nodes and 40 edges)
    assert abs(stats['mean_nodes'] - published['mean_nodes']) < 3
    assert abs(stats['mean_edges'] - published['mean_edges']) / published['mean_edges'] \
        < 0.04
    assert published['min_nodes'] - 15 <= stats['min_nodes']
    assert stats['max_nodes'] <= 204
    fractions = torch.tensor(stats['class_fractions'])
    assert (fractions - 1 / 6).abs().max() < 0.01


def test_pattern_follows_the_published_construction(pattern):
    assert [len(v) for v in pattern.values()] == [200, 100, 100]
    # the graphs of one pattern share the planted graph and its features
    first = pattern['train'][0], pattern['train'][1]
    planted = []
    for graph in first:
        adj = _undirected_simple(graph)
        inside = graph.y == 1
        assert 5 <= int(inside.sum()) <= 34
        assert set(graph.x.tolist()) <= {0, 1, 2}
        sub = adj[inside][:, inside]
        planted.append((int(inside.sum()), int(sub.sum()),
                        sorted(graph.x[inside].tolist())))
    assert planted[0] == planted[1]
    second = pattern['train'][2]
    assert int((second.y == 1).sum()) != planted[0][0] or \
        sorted(second.x[second.y == 1].tolist()) != planted[0][2]


def test_pattern_edge_probabilities(pattern):
    bridges = bridge_pairs = 0
    for graph in pattern['train'][:100]:
        adj = _undirected_simple(graph).bool()
        inside = graph.y == 1
        bridges += int(adj[inside][:, ~inside].sum())
        bridge_pairs += int(inside.sum()) * int((~inside).sum())
    assert abs(bridges / bridge_pairs - PATTERN_CONFIG.pattern_q) < 0.01


def test_pattern_statistics_near_the_released_files(pattern):
    stats = sbm_statistics(pattern)
    published = PUBLISHED_SBM_STATISTICS['PATTERN']
    # 100 patterns: the released files' ~118.9 nodes depend on their pattern sizes
    assert abs(stats['mean_nodes'] - published['mean_nodes']) < 5
    assert abs(stats['mean_edges'] - published['mean_edges']) / published['mean_edges'] \
        < 0.08
    fractions = stats['class_fractions']
    assert 0.12 < fractions[1] < 0.22      # ~19.5 of ~117 nodes are in the pattern


def test_generators_are_seeded():
    a = generate_cluster(3, replace(CLUSTER_CONFIG, splits=(3, 1, 1)))
    b = generate_cluster(3, replace(CLUSTER_CONFIG, splits=(3, 1, 1)))
    c = generate_cluster(4, replace(CLUSTER_CONFIG, splits=(3, 1, 1)))
    assert all(torch.equal(x.edge_index, y.edge_index) and torch.equal(x.x, y.x)
               for x, y in zip(a['train'], b['train']))
    assert not torch.equal(a['train'][0].y, c['train'][0].y) or \
        a['train'][0].edge_index.shape != c['train'][0].edge_index.shape


def test_node_order_carries_no_label():
    graphs = generate_cluster(0, replace(CLUSTER_CONFIG, splits=(50, 1, 1)))['train']
    # shuffled: node 0 is not always of community 0
    assert len({int(g.y[0]) for g in graphs}) > 3


def test_pattern_dataset_caches_and_splits(tmp_path):
    dataset = SBMPattern(str(tmp_path), splits=(1, 1, 1))
    assert len(dataset) == 300 and dataset.num_classes == 2 and dataset.vocabulary == 3
    split = dataset.get_idx_split()
    assert [len(split[k]) for k in ('train', 'valid', 'test')] == [100, 100, 100]
    assert dataset.statistics['splits'] == [100, 100, 100]
    again = SBMPattern(str(tmp_path), splits=(1, 1, 1))
    assert torch.equal(again[5].edge_index, dataset[5].edge_index)
    other = SBMPattern(str(tmp_path), splits=(1, 1, 1), seed=1)
    assert not torch.equal(other[5].x, dataset[5].x) or \
        other[5].edge_index.shape != dataset[5].edge_index.shape
    assert 'seed=0' in repr(dataset)


def test_cluster_dataset(tmp_path):
    dataset = SBMCluster(str(tmp_path), splits=(5, 2, 2))
    assert len(dataset) == 9 and dataset.num_classes == 6 and dataset.vocabulary == 7
    assert dataset[0].y.max() <= 5


@pytest.mark.parametrize('splits', [(1, 1), (0, 1, 1), (1, -1, 1)])
def test_bad_splits_are_refused(tmp_path, splits):
    with pytest.raises(ValueError, match='splits'):
        SBMCluster(str(tmp_path), splits=splits)
