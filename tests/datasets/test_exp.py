import fractions
import os
import pickle
import shutil
import urllib.error

import networkx as nx
import pytest
import torch
from torch_geometric.utils import coalesce, is_undirected

import torch_geometric.data
from lps_geometric.datasets import EXP, EXPClassify
from lps_geometric.datasets import exp as exp_module
from lps_geometric.datasets.exp import RestrictedUnpickler, exp_pairs, load_exp_pickle


@pytest.fixture(scope='module')
def root(copy_raw, tmp_path_factory):
    return copy_raw('exp', 'GRAPHSAT.pkl', tmp_path_factory.mktemp('exp_root'))


@pytest.fixture(scope='module')
def dataset(root):
    return EXP(str(root))


def _to_networkx(data):
    r"""The graph with its binary feature as node attribute ``x`` and a constant ``c``."""
    g = nx.Graph()
    g.add_nodes_from((v, {'x': str(int(x)), 'c': '0'})
                     for v, x in enumerate(data.x.view(-1).tolist()))
    g.add_edges_from(data.edge_index.t().tolist())
    return g


def _wl_hash(g, attr):
    return nx.weisfeiler_lehman_graph_hash(g, node_attr=attr, iterations=g.number_of_nodes())


def test_size_and_attributes(dataset):
    assert len(dataset) == 1200
    assert repr(dataset) == 'EXP(1200)'
    for data in (dataset[0], dataset[777], dataset[-1]):
        assert set(data.keys()) == {'x', 'edge_index', 'y'}
        assert data.x.dtype == torch.float and data.x.dim() == 2 and data.x.size(1) == 1
        assert data.edge_index.dtype == torch.long
        assert data.y.dtype == torch.long and data.y.shape == (1, )
    x = dataset._data.x
    assert ((x == 0) | (x == 1)).all()
    y = dataset._data.y
    assert y.shape == (1200, )
    assert sorted(y.unique().tolist()) == [0, 1]
    assert int((y == 1).sum()) == 600


def test_undirected_and_coalesced(dataset):
    for i in range(0, 1200, 7):
        data = dataset[i]
        assert is_undirected(data.edge_index, num_nodes=data.num_nodes)
        assert torch.equal(coalesce(data.edge_index, num_nodes=data.num_nodes),
                           data.edge_index)


def test_pairs(dataset):
    pairs = dataset.pairs
    assert pairs.shape == (600, 2) and pairs.dtype == torch.long
    assert torch.equal(pairs, exp_pairs(1200))
    assert torch.equal(pairs.view(-1), torch.arange(1200))
    nodes = dataset.slices['x'].diff()
    edges = dataset.slices['edge_index'].diff()
    assert torch.equal(nodes[pairs[:, 0]], nodes[pairs[:, 1]])
    assert torch.equal(edges[pairs[:, 0]], edges[pairs[:, 1]])
    y = dataset._data.y
    assert (y[pairs[:, 0]] != y[pairs[:, 1]]).all()  # one satisfiable, one not
    with pytest.raises(ValueError):
        exp_pairs(7)


def test_pairs_are_1wl_equivalent(dataset):
    for i in range(0, 600, 15):
        a, b = (_to_networkx(dataset[int(j)]) for j in dataset.pairs[i])
        assert _wl_hash(a, 'x') == _wl_hash(b, 'x')  # colour refinement from the features
        assert _wl_hash(a, 'c') == _wl_hash(b, 'c')  # ... and from uniform colours
    # ... while the hash does tell graphs of different pairs apart
    hashes = {_wl_hash(_to_networkx(dataset[2 * i]), 'x') for i in range(0, 600, 15)}
    assert len(hashes) > 30


def test_pairs_are_not_isomorphic(dataset):
    for i in (0, 1, 299, 599):
        a, b = (_to_networkx(dataset[int(j)]) for j in dataset.pairs[i])
        assert not nx.is_isomorphic(a, b)


def test_exp_classify_splits(root, dataset):
    splits = {split: EXPClassify(str(root), split=split) for split in ('train', 'val', 'test')}
    assert {k: len(v) for k, v in splits.items()} == {'train': 800, 'val': 200, 'test': 200}
    assert repr(splits['val']) == "EXPClassify(200, split='val')"
    # val = graphs [0, 200), test = [200, 400), train = [400, 1200) of EXP.
    offsets = {'val': 0, 'test': 200, 'train': 400}
    covered = []
    for split, ds in splits.items():
        covered += range(offsets[split], offsets[split] + len(ds))
        for i in list(range(0, len(ds), 37)) + [len(ds) - 1]:
            a, b = ds[i], dataset[offsets[split] + i]
            assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
            assert torch.equal(a.y, b.y)
        assert (ds._data.y[ds.pairs[:, 0]] != ds._data.y[ds.pairs[:, 1]]).all()
    assert sorted(covered) == list(range(1200))  # disjoint and exhaustive


def test_exp_classify_unknown_split(root):
    with pytest.raises(ValueError, match="'validation'"):
        EXPClassify(str(root), split='validation')


def test_pre_filter_and_pre_transform(root, tmp_path):
    shutil.copytree(root / 'exp' / 'raw', tmp_path / 'exp' / 'raw')

    def add_size(data):
        data.size_attr = torch.tensor([data.num_nodes])
        return data

    ds = EXPClassify(str(tmp_path), split='test', pre_transform=add_size,
                     pre_filter=lambda data: int(data.y) == 1)
    assert len(ds) == 100
    assert (ds._data.y == 1).all()
    assert int(ds[0].size_attr) == ds[0].num_nodes


def test_download_url(monkeypatch, tmp_path, shared_data_dir):
    src = shared_data_dir / 'exp' / 'raw' / 'GRAPHSAT.pkl'
    if not src.is_file():
        pytest.skip('offline copy of GRAPHSAT.pkl not found')
    urls = []

    def fake_download_url(url, folder, *args, **kwargs):
        urls.append(url)
        shutil.copyfile(src, os.path.join(folder, url.rsplit('/', 1)[-1]))

    monkeypatch.setattr(exp_module, 'download_url', fake_download_url)
    assert len(EXP(str(tmp_path))) == 1200
    assert urls == [EXP.url] and 'ralphabb/GNN-RNI' in EXP.url


def test_offline_download_says_where_to_put_the_file(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError('no network')

    monkeypatch.setattr(exp_module, 'download_url', offline)
    with pytest.raises(OSError, match=r'GRAPHSAT\.pkl into .*exp.raw') as info:
        EXP(str(tmp_path))
    assert EXP.url in str(info.value) and 'no network' in str(info.value)


# restricted unpickler ------------------------------------------------------------------

class _ShellPayload:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command, ))


def test_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / 'executed'
    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps([_ShellPayload(f'touch {marker}')]))
    with pytest.raises(pickle.UnpicklingError, match=r"'(os|posix|nt)\.system'"):
        load_exp_pickle(str(path))
    assert not marker.exists()
    # Control: an ordinary unpickler really would run the payload.
    with open(path, 'rb') as f:
        pickle.load(f)
    assert marker.exists()


def test_unpickler_refuses_arbitrary_class(tmp_path):
    path = tmp_path / 'fraction.pkl'
    path.write_bytes(pickle.dumps([fractions.Fraction(1, 3)]))
    with pytest.raises(pickle.UnpicklingError, match=r"'fractions\.Fraction'"):
        load_exp_pickle(str(path))


def test_unpickler_refuses_builtins_eval(tmp_path):
    path = tmp_path / 'eval.pkl'
    path.write_bytes(b"cbuiltins\neval\n(S'__import__(\"os\")'\ntR.")
    with pytest.raises(pickle.UnpicklingError, match=r"'builtins\.eval'"):
        load_exp_pickle(str(path))


def test_unpickler_never_builds_real_data(shared_data_dir):
    src = shared_data_dir / 'exp' / 'raw' / 'GRAPHSAT.pkl'
    if not src.is_file():
        pytest.skip('offline copy of GRAPHSAT.pkl not found')
    target = RestrictedUnpickler.ALLOWED[('torch_geometric.data.data', 'Data')]
    assert target is not torch_geometric.data.Data
    assert not issubclass(target, torch_geometric.data.Data)
    states = load_exp_pickle(str(src))
    assert len(states) == 1200
    assert all(type(state) is dict for state in states)
    assert {'x', 'edge_index', 'y'} <= set(states[0])
