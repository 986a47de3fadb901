import collections
import itertools
import os
import shutil
import stat
import sys
import urllib.error
import warnings
from pathlib import Path

import networkx as nx
import pytest
import torch
from torch_geometric.utils import coalesce, is_undirected, scatter

from lps_geometric.datasets import GRAPH8c
from lps_geometric.datasets import graph8c as graph8c_module
from lps_geometric.datasets.graph8c import parse_graph6

NUM_GRAPHS = 11117


@pytest.fixture(scope='module')
def dataset(copy_raw, tmp_path_factory):
    root = copy_raw('graph8c', 'graph8c.g6', tmp_path_factory.mktemp('graph8c_root'))
    return GRAPH8c(str(root))


def _global_edges(dataset):
    r"""All edges of the collated storage with node ids offset per graph."""
    data, slices = dataset._data, dataset.slices
    counts = slices['edge_index'].diff()
    graph = torch.repeat_interleave(torch.arange(len(dataset)), counts)
    return data.edge_index + 8 * graph, graph


def _to_networkx(edge_index):
    g = nx.Graph()
    g.add_nodes_from(range(8), c=0)
    g.add_edges_from(edge_index.t().tolist())
    return g


def test_size_and_features(dataset):
    assert len(dataset) == NUM_GRAPHS
    assert repr(dataset) == f'GRAPH8c({NUM_GRAPHS})'
    assert (dataset.slices['x'].diff() == 8).all()
    assert dataset._data.x.shape == (8 * NUM_GRAPHS, 1)
    assert dataset._data.x.dtype == torch.float
    assert (dataset._data.x == 1).all()
    assert dataset._data.edge_index.dtype == torch.long
    data = dataset[123]
    assert data.num_nodes == 8 and data.x.shape == (8, 1) and data.y is None


def test_undirected_coalesced_simple(dataset):
    edge_index, _ = _global_edges(dataset)
    num_nodes = 8 * NUM_GRAPHS
    assert is_undirected(edge_index, num_nodes=num_nodes)
    assert torch.equal(coalesce(edge_index, num_nodes=num_nodes), edge_index)
    assert (edge_index[0] != edge_index[1]).all()


def test_connected(dataset):
    edge_index, _ = _global_edges(dataset)
    label = torch.arange(8 * NUM_GRAPHS)
    for _ in range(7):  # diameter of a connected 8-node graph is at most 7
        label = torch.minimum(label, scatter(label[edge_index[0]], edge_index[1],
                                             dim_size=label.numel(), reduce='min'))
    assert torch.equal(label, torch.arange(NUM_GRAPHS).repeat_interleave(8) * 8)


def test_known_counts_by_number_of_edges(dataset):
    count = collections.Counter((dataset.slices['edge_index'].diff() // 2).tolist())
    assert count[7] == 23  # trees on 8 nodes
    assert count[8] == 89  # connected unicyclic graphs on 8 nodes
    assert count[26] == 2 and count[27] == 1 and count[28] == 1  # K8 minus 2, 1, 0 edges
    assert min(count) == 7 and max(count) == 28


def test_pairwise_non_isomorphic(dataset):
    edge_index, graph = _global_edges(dataset)
    per_graph = torch.split(edge_index - 8 * graph, dataset.slices['edge_index'].diff().tolist(),
                            dim=1)
    graphs = [_to_networkx(ei) for ei in per_graph]
    buckets = collections.defaultdict(list)
    for i, g in enumerate(graphs):
        buckets[nx.weisfeiler_lehman_graph_hash(g, node_attr='c', iterations=3)].append(i)
    assert len(buckets) > 10000
    # 1-WL alone leaves a few hundred collisions; those must not be isomorphic either.
    for members in buckets.values():
        for a, b in itertools.combinations(members, 2):
            assert not nx.is_isomorphic(graphs[a], graphs[b]), (a, b)


def test_parse_graph6_matches_networkx(shared_data_dir):
    lines = (shared_data_dir / 'graph8c' / 'raw' / 'graph8c.g6').read_bytes().split()
    parsed = parse_graph6(lines[::97])
    for line, (num_nodes, edge_index) in zip(lines[::97], parsed):
        ref = nx.from_graph6_bytes(line)
        assert num_nodes == 8
        assert set(map(tuple, edge_index.t().tolist())) == \
            set(ref.edges()) | {(v, u) for u, v in ref.edges()}


@pytest.mark.parametrize('num_nodes', [0, 1, 2, 3, 7, 30, 63, 70])
def test_parse_graph6_other_sizes(num_nodes):
    g = nx.gnp_random_graph(num_nodes, 0.3, seed=num_nodes)
    line = nx.to_graph6_bytes(g, header=True).strip()
    ((n, edge_index),) = parse_graph6([line])
    assert n == num_nodes
    assert edge_index.dtype == torch.long
    assert set(map(tuple, edge_index.t().tolist())) == \
        set(g.edges()) | {(v, u) for u, v in g.edges()}


def test_parse_graph6_rejects_sparse6():
    with pytest.raises(ValueError):
        parse_graph6([b':Fa@x^'])


def test_raw_copy_used_as_is(dataset):
    # The dataset was built from the copied file alone: nothing was generated/downloaded.
    raw = Path(dataset.raw_paths[0])
    assert raw.parent.name == 'raw' and raw.parent.parent.name == 'graph8c'
    assert len(raw.read_bytes().split()) == NUM_GRAPHS


def test_download_falls_back_to_url(monkeypatch, tmp_path, shared_data_dir):
    src = shared_data_dir / 'graph8c' / 'raw' / 'graph8c.g6'
    if not src.is_file():
        pytest.skip('offline copy of graph8c.g6 not found')
    urls = []

    def fake_download_url(url, folder, *args, **kwargs):
        urls.append(url)
        path = os.path.join(folder, url.rsplit('/', 1)[-1])
        shutil.copyfile(src, path)
        return path

    monkeypatch.setattr(graph8c_module.shutil, 'which', lambda name: None)
    monkeypatch.setattr(graph8c_module, 'download_url', fake_download_url)
    dataset = GRAPH8c(str(tmp_path))
    assert urls == [GRAPH8c.url]
    assert 'balcilar/gnn-matlang' in GRAPH8c.url
    assert len(dataset) == NUM_GRAPHS


def test_broken_geng_falls_back_to_url(monkeypatch, tmp_path, shared_data_dir):
    src = shared_data_dir / 'graph8c' / 'raw' / 'graph8c.g6'
    if not src.is_file():
        pytest.skip('offline copy of graph8c.g6 not found')
    fake_geng = tmp_path / 'fake-geng'
    fake_geng.write_text('#!/bin/sh\necho "G???F{"\necho "G??CFw"\n')
    fake_geng.chmod(fake_geng.stat().st_mode | stat.S_IXUSR)
    urls = []

    def fake_download_url(url, folder, *args, **kwargs):
        urls.append(url)
        shutil.copyfile(src, os.path.join(folder, 'graph8c.g6'))

    monkeypatch.setattr(graph8c_module.shutil, 'which',
                        lambda name: str(fake_geng) if name == 'nauty-geng' else None)
    monkeypatch.setattr(graph8c_module, 'download_url', fake_download_url)
    with pytest.warns(UserWarning, match='expected 11117 graphs'):
        dataset = GRAPH8c(str(tmp_path / 'root'))
    assert urls == [GRAPH8c.url]
    assert len(dataset) == NUM_GRAPHS


@pytest.mark.skipif(shutil.which('nauty-geng') is None and shutil.which('geng') is None,
                    reason="nauty's geng is not installed")
def test_generate_with_geng(monkeypatch, tmp_path, shared_data_dir):
    def no_download(*args, **kwargs):
        raise AssertionError('must not download when geng is available')

    monkeypatch.setattr(graph8c_module, 'download_url', no_download)
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        dataset = GRAPH8c(str(tmp_path))
    assert len(dataset) == NUM_GRAPHS
    generated = Path(dataset.raw_paths[0]).read_bytes()
    shared = shared_data_dir / 'graph8c' / 'raw' / 'graph8c.g6'
    if shared.is_file():  # sorted geng output reproduces the published file exactly
        assert generated == shared.read_bytes()


# generation with pynauty ---------------------------------------------------------------

def _canonical_set(lines):
    r"""The set of canonical forms (nauty) of graph6 lines."""
    pynauty = graph8c_module._require_pynauty()
    out = set()
    for num_nodes, edge_index in parse_graph6(lines):
        rows = [0] * num_nodes
        for u, v in edge_index.t().tolist():
            rows[u] |= 1 << v
        out.add(graph8c_module._canonical_rows(pynauty, num_nodes, rows))
    return out


@pytest.fixture(scope='module')
def generated():
    pytest.importorskip('pynauty')
    return graph8c_module.connected_graphs(8)


@pytest.mark.parametrize('num_nodes', [0, 1, 2, 5, 9, 62])
def test_to_graph6_matches_networkx(num_nodes):
    g = nx.gnp_random_graph(num_nodes, 0.4, seed=num_nodes)
    rows = [sum(1 << u for u in g[v]) for v in range(num_nodes)]
    assert graph8c_module.to_graph6(num_nodes, rows) == nx.to_graph6_bytes(
        g, header=False).strip()
    with pytest.raises(ValueError, match='0 to 62 nodes'):
        graph8c_module.to_graph6(num_nodes + 1, rows)


def test_connected_graphs_small():
    pytest.importorskip('pynauty')
    counts = [len(graph8c_module.connected_graphs(n)) for n in range(1, 7)]
    assert counts == [1, 1, 2, 6, 21, 112]  # OEIS A001349
    lines = graph8c_module.connected_graphs(6)
    assert lines == sorted(lines)
    graphs = [nx.from_graph6_bytes(line) for line in lines]
    assert all(g.number_of_nodes() == 6 and nx.is_connected(g) for g in graphs)
    for a, b in itertools.combinations(graphs, 2):
        assert not nx.is_isomorphic(a, b)
    with pytest.raises(ValueError, match='num_nodes'):
        graph8c_module.connected_graphs(0)


def test_connected_graphs_8_equal_the_published_set(generated, shared_data_dir):
    assert len(generated) == NUM_GRAPHS == len(set(generated))
    published = shared_data_dir / 'graph8c' / 'raw' / 'graph8c.g6'
    if not published.is_file():
        pytest.skip('offline copy of graph8c.g6 not found')
    assert _canonical_set(generated) == _canonical_set(published.read_bytes().split())


def test_missing_pynauty_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pynauty', None)  # import pynauty raises ImportError
    with pytest.raises(ImportError, match='pip install pynauty'):
        graph8c_module.connected_graphs(4)


def _offline(*args, **kwargs):
    raise urllib.error.URLError('no network')


def test_offline_download_falls_back_to_generation(monkeypatch, tmp_path, generated):
    monkeypatch.setattr(graph8c_module.shutil, 'which', lambda name: None)
    monkeypatch.setattr(graph8c_module, 'download_url', _offline)
    monkeypatch.setattr(graph8c_module, 'connected_graphs', lambda n: generated)
    with pytest.warns(UserWarning, match='generating it with pynauty'):
        dataset = GRAPH8c(str(tmp_path))
    assert len(dataset) == NUM_GRAPHS
    assert Path(dataset.raw_paths[0]).read_bytes().split() == generated


def test_generate_true_never_downloads(monkeypatch, tmp_path, generated):
    def no_download(*args, **kwargs):
        raise AssertionError('generate=True must not download')

    monkeypatch.setattr(graph8c_module.shutil, 'which', lambda name: None)
    monkeypatch.setattr(graph8c_module, 'download_url', no_download)
    monkeypatch.setattr(graph8c_module, 'connected_graphs', lambda n: generated)
    assert len(GRAPH8c(str(tmp_path), generate=True)) == NUM_GRAPHS
    with pytest.raises(ValueError, match="'generate'"):
        GRAPH8c(str(tmp_path / 'other'), generate='yes')


def test_generated_count_is_checked(monkeypatch, tmp_path, generated):
    monkeypatch.setattr(graph8c_module.shutil, 'which', lambda name: None)
    monkeypatch.setattr(graph8c_module, 'connected_graphs', lambda n: generated[:-1])
    with pytest.raises(RuntimeError, match='expected 11117 graphs'):
        GRAPH8c(str(tmp_path), generate=True)


def test_offline_without_a_generator_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(graph8c_module.shutil, 'which', lambda name: None)
    monkeypatch.setattr(graph8c_module, 'download_url', _offline)
    with pytest.raises(OSError, match='generate=True'):
        GRAPH8c(str(tmp_path / 'a'), generate=False)
    monkeypatch.setitem(sys.modules, 'pynauty', None)
    with pytest.raises(ImportError, match=r'pip install pynauty.*graph8c\.g6'):
        GRAPH8c(str(tmp_path / 'b'))
