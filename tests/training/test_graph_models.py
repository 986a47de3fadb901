r"""The benchmark models: permutation equivariance of the node-level outputs and
invariance of the graph-level ones (exact for the deterministic baselines and the
frame-averaged model, exact with the noise moved along for LPS), positional
encodings, and errors."""
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import AddRandomWalkPE

from lps_geometric.diagnostics import MovedNoise
from lps_geometric.groups.names import resolve_group
from lps_geometric.training.graph_models import GNNBaseline, SymmetrizedGraph
from lps_geometric.training.models import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS


def _graphs(seed=0, count=4, dims=(3,), edge_dims=None, pe=None):
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(count):
        n = int(torch.randint(5, 11, (1,), generator=gen))
        adj = torch.triu(torch.rand(n, n, generator=gen) < 0.4, 1)
        adj[torch.arange(n - 1), torch.arange(1, n)] = True      # connected
        row, col = adj.nonzero(as_tuple=True)
        edge_index = torch.cat([torch.stack([row, col]), torch.stack([col, row])], 1)
        x = torch.stack([torch.randint(d, (n,), generator=gen) for d in dims], 1)
        data = Data(x=x.squeeze(1) if len(dims) == 1 else x, edge_index=edge_index,
                    num_nodes=n)
        if edge_dims:
            half = torch.stack([torch.randint(d, (row.numel(),), generator=gen)
                                for d in edge_dims], 1)
            data.edge_attr = half.repeat(2, 1)
        if pe is not None:
            data = pe(data)
        graphs.append(data)
    return Batch.from_data_list(graphs)


def _equivariance_error(model, data, level, moved=True):
    group = resolve_group('S_n')
    generator = torch.Generator().manual_seed(1)
    model.eval()
    with torch.no_grad():
        g = group.random_element(data, generator)
        with MovedNoise(model, group, generator) as noise:
            out = model(data)
            noise.move(g)
            out_g = model(group.act(g, data))
        expected = group.act_on_output(g, out, level, 'scalar')
    return float((out_g - expected).abs().max() / out.abs().max())


@pytest.mark.parametrize('level', ['node', 'graph'])
@pytest.mark.parametrize('method,backbone', [('lps', 'gin'), ('lps', 'transformer'),
                                             ('mfa', 'gin'), ('mfa', 'transformer'),
                                             ('lps', 'patches')])
def test_symmetrized_graph_is_equivariant(level, method, backbone):
    torch.manual_seed(0)
    tokens = 'patches' if backbone == 'patches' else 'rows'
    backbone = 'transformer' if backbone == 'patches' else backbone
    model = SymmetrizedGraph((3,), 2, level=level, method=method, backbone=backbone,
                             tokens=tokens,
                             max_nodes=12, embed_dim=16, depth=2, num_heads=2,
                             eval_num_samples=3)
    data = _graphs()
    assert _equivariance_error(model, data, level) < 1e-5
    out = model(data)
    assert out.shape == ((data.num_nodes, 2) if level == 'node' else (data.num_graphs, 2))


def test_symmetrized_graph_with_edge_features_is_equivariant():
    torch.manual_seed(0)
    model = SymmetrizedGraph(ATOM_FEATURE_DIMS, 8, edge_dims=BOND_FEATURE_DIMS,
                             level='node', backbone='gin', max_nodes=12, embed_dim=16,
                             depth=2, eval_num_samples=2)
    data = _graphs(dims=ATOM_FEATURE_DIMS, edge_dims=BOND_FEATURE_DIMS)
    assert _equivariance_error(model, data, 'node') < 1e-5


def test_the_unsymmetrized_backbone_is_not_equivariant():
    torch.manual_seed(0)
    model = SymmetrizedGraph((3,), 2, level='node', method='none', backbone='gin',
                             max_nodes=12, embed_dim=16, depth=2)
    assert _equivariance_error(model, _graphs(), 'node') > 1e-3


@pytest.mark.parametrize('conv', ['gin', 'gps'])
@pytest.mark.parametrize('level', ['node', 'graph'])
@pytest.mark.parametrize('pe', ['none', 'rwse'])
def test_baselines_are_equivariant(conv, level, pe):
    torch.manual_seed(0)
    model = GNNBaseline((3,), 2, conv=conv, level=level, hidden_channels=16,
                        num_layers=2, heads=2, pe=pe, pe_dim=4, pe_embed=4)
    data = _graphs(pe=AddRandomWalkPE(4) if pe == 'rwse' else None)
    # warm up batch-norm statistics in training, then compare in eval mode
    model.train()
    model(data)
    assert _equivariance_error(model, data, level) < 1e-5


def test_gine_baseline_reads_edge_features():
    torch.manual_seed(0)
    model = GNNBaseline(ATOM_FEATURE_DIMS, 3, edge_dims=BOND_FEATURE_DIMS, conv='gps',
                        level='graph', hidden_channels=16, num_layers=2, heads=2)
    data = _graphs(dims=ATOM_FEATURE_DIMS, edge_dims=BOND_FEATURE_DIMS)
    model.eval()
    out = model(data)
    changed = data.clone()
    changed.edge_attr = (changed.edge_attr + 1) % torch.tensor(BOND_FEATURE_DIMS)
    assert not torch.allclose(model(changed), out)
    assert _equivariance_error(model, data, 'graph') < 1e-5


def test_laplacian_signs_are_flipped_in_training_only():
    torch.manual_seed(0)
    model = GNNBaseline((3,), 2, level='node', hidden_channels=16, num_layers=1,
                        pe='lappe', pe_dim=3, pe_embed=4)
    data = _graphs(count=3)
    data.laplacian_eigenvector_pe = torch.randn(data.num_nodes, 3)
    model.eval()
    a, b = model._encoding(data), model._encoding(data)
    assert torch.equal(a, b)
    model.pe_norm, model.pe_encoder = torch.nn.Identity(), torch.nn.Identity()
    model.train()
    torch.manual_seed(1)
    patterns = set()
    for _ in range(6):
        ratio = model._encoding(data) / data.laplacian_eigenvector_pe
        assert set(ratio.round().unique().tolist()) <= {-1.0, 1.0}
        for graph in range(data.num_graphs):    # one sign per graph and column
            rows = ratio[data.batch == graph]
            assert (rows == rows[:1]).all()
        patterns.add(tuple(ratio[data.ptr[:-1]].view(-1).tolist()))
    assert len(patterns) > 1
    model.eval()
    assert torch.equal(model._encoding(data), data.laplacian_eigenvector_pe)


def test_a_missing_encoding_is_named():
    model = GNNBaseline((3,), 2, pe='rwse', pe_dim=4, pe_embed=4, hidden_channels=16)
    with pytest.raises(ValueError, match='AddRandomWalkPE'):
        model(_graphs())


@pytest.mark.parametrize('kwargs,match', [
    (dict(conv='gat'), 'conv'), (dict(pe='spe'), 'pe'),
    (dict(conv='gps', hidden_channels=10, heads=4), 'multiple'),
    (dict(pe='rwse', pe_embed=64, hidden_channels=64), 'pe_embed'),
])
def test_baseline_settings_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GNNBaseline((3,), 2, **kwargs)


def test_symmetrized_graph_settings_are_checked():
    with pytest.raises(ValueError, match='backbone'):
        SymmetrizedGraph((3,), 2, backbone='mlp')
    with pytest.raises(ValueError, match='level'):
        SymmetrizedGraph((3,), 2, level='edge')


def test_reset_parameters_and_repr():
    torch.manual_seed(0)
    model = GNNBaseline((3,), 2, conv='gps', hidden_channels=16, heads=2)
    before = [p.clone() for p in model.parameters()]
    model.reset_parameters()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert 'conv=gps' in repr(model)
    sym = SymmetrizedGraph((3,), 2, level='node', backbone='gin', max_nodes=8,
                           embed_dim=8, depth=1)
    sym.reset_parameters()
    assert 'method=lps' in repr(sym) and 'level=node' in repr(sym)
    assert sym.regularization_loss().dim() == 0
