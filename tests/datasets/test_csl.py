import itertools

import networkx as nx
import pytest
import torch
from torch_geometric.utils import coalesce, degree, is_undirected, to_dense_adj

from lps_geometric.datasets import CSL
from lps_geometric.datasets.csl import circular_skip_link_graph

SKIPS = (2, 3, 4, 5, 6, 9, 11, 12, 13, 16)


@pytest.fixture(scope='module')
def dataset():
    return CSL()


def _to_networkx(data):
    g = nx.Graph()
    g.add_nodes_from(range(data.num_nodes), c=0)
    g.add_edges_from(data.edge_index.t().tolist())
    return g


def _spectrum(data):
    return torch.linalg.eigvalsh(to_dense_adj(data.edge_index, max_num_nodes=data.num_nodes)[0]
                                 .double())


def test_size_and_attributes(dataset):
    assert len(dataset) == 150
    assert dataset.num_classes == 10
    assert repr(dataset) == 'CSL(150, num_nodes=41, num_classes=10)'
    assert torch.equal(torch.bincount(dataset._data.y), torch.full((10, ), 15))
    assert torch.equal(dataset._data.y, torch.arange(10).repeat_interleave(15))
    for data in dataset:
        assert data.x.shape == (41, 1) and data.x.dtype == torch.float and (data.x == 1).all()
        assert data.y.shape == (1, ) and data.y.dtype == torch.long
        assert data.edge_index.dtype == torch.long
        assert is_undirected(data.edge_index, num_nodes=41)
        assert torch.equal(coalesce(data.edge_index, num_nodes=41), data.edge_index)
        assert (degree(data.edge_index[0], 41) == 4).all()  # 4-regular, no self-loops
        assert (data.edge_index[0] != data.edge_index[1]).all()


def test_base_graph():
    edge_index = circular_skip_link_graph(41, 5)
    edges = set(map(tuple, edge_index.t().tolist()))
    assert (0, 1) in edges and (1, 0) in edges and (40, 0) in edges
    assert (0, 5) in edges and (5, 0) in edges and (38, 2) in edges
    assert len(edges) == 164


def test_deterministic_for_seed(dataset):
    again = CSL(seed=0)
    other = CSL(seed=1)
    assert all(torch.equal(a.edge_index, b.edge_index) for a, b in zip(dataset, again))
    assert all(not torch.equal(a.edge_index, b.edge_index) for a, b in zip(dataset, other))
    assert torch.equal(dataset._data.y, other._data.y)


def test_relabellings_differ_within_class(dataset):
    for c in range(10):
        edge_sets = {tuple(dataset[15 * c + k].edge_index.reshape(-1).tolist()) for k in range(15)}
        assert len(edge_sets) == 15


def test_isomorphic_within_class(dataset):
    for c, (i, j) in itertools.product((0, 5, 9), ((0, 1), (3, 14))):
        a, b = dataset[15 * c + i], dataset[15 * c + j]
        assert nx.vf2pp_is_isomorphic(_to_networkx(a), _to_networkx(b))
        assert torch.allclose(_spectrum(a), _spectrum(b), atol=1e-8)


def test_not_isomorphic_across_classes(dataset):
    # Cospectral graphs may be non-isomorphic, but different spectra prove non-isomorphism.
    spectra = [_spectrum(dataset[15 * c + 7]) for c in range(10)]
    for a, b in itertools.combinations(range(10), 2):
        assert (spectra[a] - spectra[b]).abs().max() > 1e-6, (SKIPS[a], SKIPS[b])
    assert not nx.vf2pp_is_isomorphic(_to_networkx(dataset[0]), _to_networkx(dataset[15]))


def test_1wl_cannot_tell_classes_apart(dataset):
    hashes = {nx.weisfeiler_lehman_graph_hash(_to_networkx(dataset[15 * c]), node_attr='c')
              for c in range(10)}
    assert len(hashes) == 1


def test_cache_in_root(tmp_path, dataset):
    cached = CSL(str(tmp_path))
    assert all(torch.equal(a.edge_index, b.edge_index) for a, b in zip(dataset, cached))
    files = sorted(p.name for p in (tmp_path / 'csl' / 'processed').glob('csl_*.pt'))
    assert files == ['csl_n41_s2-3-4-5-6-9-11-12-13-16_g15_seed0.pt']
    small = CSL(str(tmp_path), num_nodes=11, skip_lengths=(2, 3), graphs_per_class=4, seed=3)
    assert len(small) == 8 and small[0].num_nodes == 11
    assert len(list((tmp_path / 'csl' / 'processed').glob('csl_*.pt'))) == 2
    assert len(CSL(str(tmp_path))) == 150  # reloads the first file


def test_no_root_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert len(CSL(graphs_per_class=2)) == 20
    assert list(tmp_path.iterdir()) == []


def test_transforms():
    ds = CSL(skip_lengths=(2, 3, 4), graphs_per_class=3, pre_filter=lambda d: int(d.y) != 1,
             transform=lambda d: d.update({'x': 2 * d.x}))
    assert len(ds) == 6
    assert sorted(ds._data.y.tolist()) == [0, 0, 0, 2, 2, 2]
    assert (ds[0].x == 2).all()


@pytest.mark.parametrize('kwargs', [
    dict(skip_lengths=(1, 2)),
    dict(skip_lengths=(2, 39)),  # 39 = -2 mod 41: the same graph twice
    dict(skip_lengths=(41, )),
    dict(graphs_per_class=0),
    dict(num_nodes=4),
])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        CSL(**kwargs)
