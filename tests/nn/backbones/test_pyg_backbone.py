import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import MLP, GINConv, GINEConv, GPSConv, global_add_pool
from torch_geometric.nn.models import GAT, GIN, PNA, GraphSAGE

from lps_geometric import GraphInputError, PermutationSampler, Symmetrize, equivariance_error
from lps_geometric.groups import SymmetricGroup
from lps_geometric.samplers import ExhaustivePermutationSampler
from lps_geometric.diagnostics import assert_equivariant
from lps_geometric.nn import PyGBackbone
from lps_geometric.testing import random_batch, symmetric_graph, transport_noise

HIDDEN = 16


class GINE(nn.Module):
    r"""A GINE stack (PyG's ``GIN`` model has no edge features)."""
    def __init__(self, in_channels, hidden_channels, num_layers, edge_dim):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = hidden_channels
        self.convs = nn.ModuleList([
            GINEConv(MLP([in_channels if i == 0 else hidden_channels, hidden_channels,
                          hidden_channels], norm=None), edge_dim=edge_dim)
            for i in range(num_layers)])

    def forward(self, x, edge_index, edge_attr):
        for conv in self.convs:
            x = conv(x, edge_index, edge_attr).relu()
        return x


class GPS(nn.Module):
    r"""A stack of GPS layers (local GIN + global attention over each graph)."""
    def __init__(self, channels, num_layers=2, pool=False):
        super().__init__()
        self.pool = pool
        self.convs = nn.ModuleList([
            GPSConv(channels, GINConv(MLP([channels, channels, channels], norm=None)),
                    heads=2) for _ in range(num_layers)])

    def forward(self, x, edge_index, batch=None):
        for conv in self.convs:
            x = conv(x, edge_index, batch)
        return global_add_pool(x, batch) if self.pool else x


def pyg_model(name):
    if name == 'gin':
        return GIN(HIDDEN, HIDDEN, num_layers=2)
    if name == 'gat':
        return GAT(HIDDEN, HIDDEN, num_layers=2, heads=2, edge_dim=4)
    if name == 'sage':
        return GraphSAGE(HIDDEN, HIDDEN, num_layers=2)
    if name == 'pna':
        return PNA(HIDDEN, HIDDEN, num_layers=2, aggregators=['mean', 'max', 'std'],
                   scalers=['identity', 'amplification'], deg=torch.tensor([1, 3, 3, 2]),
                   edge_dim=4)
    if name == 'gine':
        return GINE(HIDDEN, HIDDEN, num_layers=2, edge_dim=4)
    return GPS(HIDDEN)


def backbone(name, level='graph', **kw):
    model = pyg_model(name)
    if name == 'gps':
        kw.setdefault('model_in_channels', HIDDEN)
        kw.setdefault('head', nn.Linear(HIDDEN, 2))
    else:
        kw.setdefault('out_channels', 2)
    return PyGBackbone(model, 3, max_nodes=8, level=level, **kw)


def lps(name, level, k=3, **kw):
    sampler = PermutationSampler(3, hidden_channels=16, edge_dim=4, dropout=0.0, tau=0.5)
    return Symmetrize(backbone(name, level, **kw), sampler, num_samples=k)


MODELS = ['gin', 'gat', 'sage', 'pna', 'gine', 'gps']


@pytest.mark.parametrize('level', ['graph', 'node'])
@pytest.mark.parametrize('name', MODELS)
def test_exhaustive_averaging_is_exact(name, level):
    torch.manual_seed(0)
    data = random_batch(sizes=(4, 3, 1, 4))
    model = Symmetrize(backbone(name, level), ExhaustivePermutationSampler()).eval()
    with torch.no_grad():
        out = model(data)
    assert out.shape == ((4, 2) if level == 'graph' else (data.num_nodes, 2))
    assert_equivariant(model, data, 'permutation', num_trials=2, level=level, rtol=1e-5)
    # The backbone reads positions, so on its own it is not invariant.
    raw = equivariance_error(model.backbone, data, num_trials=2, level=level)
    assert raw.max_abs > 1e-3


@pytest.mark.parametrize('level', ['graph', 'node'])
@pytest.mark.parametrize('name', ['gin', 'gat', 'pna'])
def test_lps_is_exact_when_the_noise_moves_along(name, level):
    torch.manual_seed(0)
    data = random_batch(sizes=(6, 4, 1, 7))
    model = lps(name, level).eval()
    group, k = SymmetricGroup(), model.eval_num_samples
    g = group.random_element(data)
    noise = torch.rand(k * data.num_nodes, 1)
    with torch.no_grad():
        out = model(data, noise=noise)
        out_g = model(group.act(g, data), noise=transport_noise(g, noise, data, k))
    assert torch.allclose(out_g, group.act_on_output(g, out, level), atol=1e-5)


@pytest.mark.parametrize('level', ['graph', 'node'])
@pytest.mark.parametrize('name', ['gin', 'gat'])
def test_minimal_frame_averaging_is_exact_on_symmetric_graphs(name, level):
    pytest.importorskip('pynauty')
    from lps_geometric.frames import GraphMinimalFrameSampler
    torch.manual_seed(0)
    graphs = [symmetric_graph('cycle', 6), symmetric_graph('star', 4)]
    for g in random_batch((5, 4, 1), seed=0, node_channels=0,
                          edge_channels=0).to_data_list():
        graphs.append(Data(x=torch.ones(g.num_nodes, 1), edge_index=g.edge_index,
                           num_nodes=g.num_nodes))
    data = Batch.from_data_list(graphs)
    model = Symmetrize.from_pyg(pyg_model(name), 'mfa', in_channels=1, out_channels=2,
                                max_nodes=8, level=level).eval()
    sample = model.sampler(data)
    assert sample.frame_size[:2].tolist() == [12, 6]     # |Aut(C_6)|, |Aut(star)|
    assert_equivariant(model, data, 'S_n', num_trials=3, level=level, rtol=1e-5)
    raw = equivariance_error(model.backbone, data, num_trials=3, level=level)
    assert raw.max_abs > 1e-3


@pytest.mark.parametrize('positions', ['learned', 'random', 'sinusoidal'])
@pytest.mark.parametrize('name', ['gin', 'gat'])
def test_gradients_reach_the_sampler(name, positions):
    torch.manual_seed(0)
    data = random_batch(sizes=(5, 4, 6))
    model = lps(name, 'graph', positions=positions)
    model(data).square().sum().backward()
    sampler_grad = sum(float(p.grad.abs().sum()) for p in model.sampler.parameters()
                       if p.grad is not None)
    assert sampler_grad > 0
    assert all(p.grad is not None for p in model.backbone.parameters())


def test_straight_through_forward_equals_the_hard_order():
    # In training the codes are read through the relaxed band; its forward value is
    # the hard permutation's, so training and evaluation agree for the same noise.
    torch.manual_seed(0)
    data = random_batch(sizes=(5, 4, 6))
    model = lps('gat', 'node')
    noise = torch.rand(3 * data.num_nodes, 1)
    out_train = model.train()(data, noise=noise)
    assert model.last_sample.band is not None and out_train.requires_grad
    with torch.no_grad():
        out_eval = model.eval()(data, noise=noise)
    assert torch.allclose(out_train, out_eval, atol=1e-6)


@pytest.mark.parametrize('name', ['gat', 'pna', 'gine'])
def test_edge_features_reach_models_that_take_them(name):
    torch.manual_seed(0)
    data = random_batch(sizes=(5, 4))
    bb = backbone(name).eval()
    assert bb.passes_edge_attr
    other = data.clone()
    other.edge_attr = torch.randn_like(data.edge_attr)
    with torch.no_grad():
        assert not torch.allclose(bb(data), bb(other), atol=1e-4)
    assert 'edge_attr=True' in repr(bb)


def test_edge_features_are_not_sent_where_they_would_be_ignored():
    data = random_batch(sizes=(5, 4))
    for name in ('gin', 'sage'):   # GIN declares supports_edge_attr=False; SAGE too
        assert not backbone(name).passes_edge_attr
        with pytest.raises(ValueError, match='does not use edge features'):
            backbone(name, edge_attr=True)
    bb = backbone('gat', edge_attr=False).eval()
    other = data.clone()
    other.edge_attr = torch.randn_like(data.edge_attr)
    with torch.no_grad():
        assert torch.equal(bb(data), bb(other))
    missing = data.clone()
    missing.edge_attr = None
    with pytest.raises(ValueError, match="'edge_attr'"):
        backbone('gine', edge_attr=True)(missing)


def _cycle_and_two_triangles():
    c6 = torch.tensor([[i, (i + 1) % 6] for i in range(6)]).t()
    t = torch.tensor([[0, 1], [1, 2], [2, 0], [3, 4], [4, 5], [5, 3]]).t()
    return Batch.from_data_list([
        Data(x=torch.ones(6, 1), edge_index=torch.cat([e, e.flip(0)], dim=1))
        for e in (c6, t)])


def test_positions_make_it_more_expressive_than_the_gnn():
    # C_6 and two triangles are 1-WL-equivalent (both 2-regular): a GIN cannot tell
    # them apart, symmetrized or not; with position codes the average over all
    # orders (relational pooling) does.
    torch.manual_seed(0)
    data = _cycle_and_two_triangles()
    plain_gin = GIN(1, HIDDEN, num_layers=3)
    with pytest.warns(UserWarning, match='gains nothing'):
        without = Symmetrize.from_pyg(plain_gin, 'exhaustive', in_channels=1,
                                      positions=None).eval()
    model = Symmetrize.from_pyg(GIN(HIDDEN, HIDDEN, num_layers=3), 'exhaustive',
                                in_channels=1, max_nodes=6).eval()
    with torch.no_grad():
        out = without(data)
        # Without positions the symmetrized model is the GNN itself.
        gnn = global_add_pool(plain_gin(data.x, data.edge_index), data.batch)
        assert torch.allclose(out, gnn, atol=1e-4)
        assert torch.allclose(out[0], out[1], atol=1e-5)
        with_positions = model(data)
    assert model.last_sample.copies == 720 and model.last_sample.num_samples is None
    gap = (with_positions[0] - with_positions[1]).abs().max()
    assert gap > 1e-3 * with_positions.abs().max(), with_positions


def test_combine_concat_and_pooling_options():
    torch.manual_seed(0)
    data = random_batch(sizes=(5, 4, 1))
    bb = PyGBackbone(GIN(3 + 8, HIDDEN, num_layers=2), 3, 2, max_nodes=8,
                     combine='concat')
    assert bb.lin is None and bb.position_channels == 8
    assert bb(data).shape == (3, 2)
    for pool in ('mean', 'max'):
        out = backbone('gin', pool=pool)(data)
        assert out.shape == (3, 2) and torch.isfinite(out).all()
    # A model that pools itself receives the batch vector.
    bb = PyGBackbone(GPS(HIDDEN, pool=True), 3, max_nodes=8, pool=None,
                     model_in_channels=HIDDEN, head=nn.Linear(HIDDEN, 2)).eval()
    model = Symmetrize(bb, ExhaustivePermutationSampler()).eval()
    assert model(data).shape == (3, 2)
    assert_equivariant(model, data, num_trials=2, level='graph', rtol=1e-5)
    # No node features: the model reads the codes alone.
    data.x = None
    bb = PyGBackbone(GIN(HIDDEN, HIDDEN, num_layers=2), 0, 2, max_nodes=8)
    assert bb(data).shape == (3, 2)


@pytest.mark.parametrize('method', ['ga', 'canonical', 'fa'])
def test_from_pyg_builds_every_method(method):
    data = random_batch(sizes=(5, 4))
    model = Symmetrize.from_pyg(GAT(HIDDEN, HIDDEN, num_layers=2), method,
                                in_channels=3, out_channels=2, max_nodes=8,
                                level='node', num_samples=2)
    assert model.level == 'node' and model(data).shape == (9, 2)


class _ReadsData(nn.Module):
    def forward(self, data):
        return data.x


def test_bad_models_and_settings_get_clear_errors():
    with pytest.raises(TypeError, match=r'model\(x, edge_index'):
        PyGBackbone(_ReadsData(), 3, max_nodes=8)
    with pytest.raises(TypeError, match='torch.nn.Module'):
        PyGBackbone(lambda x, edge_index: x, 3, max_nodes=8)
    with pytest.raises(ValueError, match='receives in_channels \\+ position_channels'):
        PyGBackbone(GIN(12, HIDDEN, 2), 3, max_nodes=8, combine='concat',
                    position_channels=8)
    with pytest.raises(ValueError, match='position_channels'):
        PyGBackbone(GIN(3, HIDDEN, 2), 3, max_nodes=8, combine='concat')
    with pytest.raises(ValueError, match='max_nodes'):
        PyGBackbone(GIN(HIDDEN, HIDDEN, 2), 3)
    with pytest.raises(ValueError, match='position code'):
        PyGBackbone(GIN(HIDDEN, HIDDEN, 2), 3, max_nodes=8, positions='onehot')
    with pytest.raises(ValueError, match="'combine'"):
        PyGBackbone(GIN(HIDDEN, HIDDEN, 2), 3, max_nodes=8, combine='add')
    with pytest.raises(ValueError, match="'pool'"):
        PyGBackbone(GIN(HIDDEN, HIDDEN, 2), 3, max_nodes=8, pool='median')
    with pytest.raises(ValueError, match="takes no 'batch'"):
        PyGBackbone(GINE(HIDDEN, HIDDEN, 2, 4), 3, max_nodes=8, pool=None)
    with pytest.raises(ValueError, match='model_in_channels'):
        PyGBackbone(GPS(HIDDEN), 3, max_nodes=8)
    with pytest.raises(ValueError, match="pass 'head'"):
        PyGBackbone(GPS(HIDDEN), 3, 2, max_nodes=8, model_in_channels=HIDDEN)
    with pytest.raises(ValueError, match='level'):
        PyGBackbone(GIN(HIDDEN, HIDDEN, 2), 3, max_nodes=8, level='edge')
    with pytest.warns(UserWarning, match='gains nothing'):
        with pytest.raises(ValueError, match='reads 16 input channels'):
            PyGBackbone(GIN(HIDDEN, HIDDEN, 2), 3, positions=None)


def test_bad_inputs_get_clear_errors():
    big = random_batch(sizes=(9, 3))
    with pytest.raises(GraphInputError, match='max_nodes'):
        backbone('gin')(big)
    with pytest.raises(GraphInputError, match='exceeds'):
        lps('gin', 'graph')(big)
    data = random_batch(sizes=(4, 3))
    data.x = None
    with pytest.raises(ValueError, match="'x'"):
        backbone('gin')(data)
    wide = random_batch(sizes=(4, 3), node_channels=5)
    with pytest.raises(GraphInputError, match='node feature'):
        Symmetrize(backbone('gin'), ExhaustivePermutationSampler())(wide)


def test_repr_and_reset_parameters():
    model = lps('gat', 'graph')
    text = repr(model.backbone)
    for part in ('PyGBackbone(GAT(', 'in_channels=3', 'out_channels=2', 'max_nodes=8',
                 'positions=learned', 'combine=project', 'pool=sum'):
        assert part in text, text
    before = [p.detach().clone() for p in model.backbone.parameters()]
    torch.manual_seed(1)
    model.reset_parameters()
    after = list(model.backbone.parameters())
    # Every weight matrix is drawn again (PyG initialises biases to zero).
    assert all(not torch.equal(a, b) for a, b in zip(before, after) if a.dim() > 1)
