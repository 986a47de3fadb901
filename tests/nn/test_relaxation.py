r"""Constraint relaxation: relaxed layers break equivariance by an amount that grows with
their coefficient, and removing the relaxation restores the exact model."""
import io

import pytest
import torch
from torch_geometric.nn import GCNConv, GINConv

from lps_geometric.nn import EGNN, MPNN
from lps_geometric.nn.conv import EGNNConv
from lps_geometric.nn.relaxation import (EGNNConvTerm, NodeOrderTerm, RelaxedLayer,
                                         relax, relaxation_coefficient, relaxed_layers,
                                         set_relaxation, unrelax)
from lps_geometric.testing import random_batch


def cloud(seed=0, n=6):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, generator=g)
    vec = torch.randn(n, 1, 3, generator=g)
    x = torch.randn(n, 2, generator=g)
    row, col = torch.meshgrid(torch.arange(n), torch.arange(n), indexing='ij')
    keep = row != col
    return x, pos, vec, torch.stack([row[keep], col[keep]])


def e3_error(model, seed=0):
    r"""Largest deviation of EGNN outputs from E(3) equivariance, relative to their
    size, for one random rotation and translation."""
    x, pos, vec, edge_index = cloud(seed)
    rotation = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator()
                                           .manual_seed(seed + 1)))[0]
    shift = torch.tensor([0.3, -1.0, 2.0])
    with torch.no_grad():
        h, p, v = model(x, pos, edge_index, vec=vec)
        h2, p2, v2 = model(x, pos @ rotation.T + shift, edge_index, vec=vec @ rotation.T)
    errors = [(h2 - h).abs().max() / h.abs().max(),
              (p2 - (p @ rotation.T + shift)).abs().max() / p.abs().max(),
              (v2 - v @ rotation.T).abs().max() / v.abs().max()]
    return float(max(errors))


def egnn():
    torch.manual_seed(0)
    return EGNN(2, 16, 2, vector_channels=1, out_vector_channels=1, update_pos=True)


def test_relaxed_egnn_breaks_equivariance_more_with_a_larger_coefficient():
    model = egnn()
    assert e3_error(model) < 1e-5
    relax(model)
    assert len(relaxed_layers(model)) == 2
    assert all(isinstance(layer.term, EGNNConvTerm) for layer in relaxed_layers(model))
    errors = []
    for alpha in (0.001, 0.01, 0.1, 1.0):
        set_relaxation(model, alpha)
        errors.append(e3_error(model))
    assert errors[0] > 1e-5                           # measurably non-zero
    assert errors == sorted(errors) and errors[-1] > 10 * errors[0]


def test_removing_the_relaxation_restores_the_layers_and_their_outputs():
    model = egnn()
    x, pos, vec, edge_index = cloud()
    with torch.no_grad():
        expected = model(x, pos, edge_index, vec=vec)
    relax(model, coefficient=0.0)
    with torch.no_grad():                            # alpha = 0: the equivariant model
        same = model(x, pos, edge_index, vec=vec)
    assert all(torch.equal(a, b) for a, b in zip(expected, same))
    set_relaxation(model, 0.7)
    with torch.no_grad():
        assert not torch.allclose(model(x, pos, edge_index, vec=vec)[0], expected[0])
    unrelax(model)
    assert all(type(conv) is EGNNConv for conv in model.convs)
    assert relaxation_coefficient(model) is None
    with torch.no_grad():
        restored = model(x, pos, edge_index, vec=vec)
    assert all(torch.equal(a, b) for a, b in zip(expected, restored))
    assert e3_error(model) < 1e-5


def relabelled(data):
    r"""``(perm, moved)``: ``data`` with the nodes of every graph relabelled by ``perm``
    (node ``i`` of ``moved`` is node ``perm[i]`` of ``data``)."""
    perm = torch.cat([torch.randperm(int(n), generator=torch.Generator().manual_seed(1))
                      + int(s) for n, s in zip(data.ptr[1:] - data.ptr[:-1],
                                               data.ptr[:-1])])
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(perm.numel())
    moved = data.clone()
    for key in ('x', 'pos'):
        if getattr(data, key, None) is not None:
            setattr(moved, key, data[key][perm])
    moved.edge_index = inverse[data.edge_index]
    return perm, moved


def permutation_error(model, data):
    perm, moved = relabelled(data)
    with torch.no_grad():
        out, out_moved = model(data), model(moved)
    return float((out_moved - out[perm]).abs().max() / out.abs().max())


def test_relaxed_mpnn_depends_on_the_node_order_until_unrelaxed():
    torch.manual_seed(0)
    data = random_batch(sizes=(5, 6), seed=0)
    model = MPNN(3, 2, hidden_channels=16, num_layers=2, level='node').eval()
    assert permutation_error(model, data) < 1e-5
    relax(model, coefficient=0.5)
    assert all(isinstance(layer.term, NodeOrderTerm) for layer in relaxed_layers(model))
    assert permutation_error(model, data) > 1e-3
    unrelax(model)
    assert permutation_error(model, data) < 1e-5


def test_pyg_layers_and_explicit_choices():
    from torch_geometric.nn import MLP
    model = torch.nn.ModuleDict({'conv': GCNConv(4, 8), 'gin': GINConv(MLP([4, 6, 5])),
                                 'bare': GINConv(torch.nn.Linear(4, 4))})
    relax(model)        # GCNConv has its widths, the GIN its MLP's; a bare Linear not
    assert isinstance(model['conv'], RelaxedLayer) and isinstance(model['bare'], GINConv)
    assert isinstance(model['gin'], GINConv)      # relaxed through its network
    assert isinstance(model['gin'].nn, RelaxedLayer)
    assert repr(model['gin'].nn.term) == 'NodeOrderTerm(4, 5, max_rows=64)'
    x = torch.randn(5, 4)
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    assert model['conv'](x, edge_index).shape == (5, 8)
    assert model['gin'](x, edge_index).shape == (5, 5)
    with pytest.raises(ValueError, match='No relaxation term for GINConv'):
        relax(torch.nn.ModuleDict({'gin': GINConv(torch.nn.Linear(4, 4))}),
              layers=[GINConv])
    custom = relax(torch.nn.ModuleDict({'gin': GINConv(torch.nn.Linear(4, 4))}),
                   layers=lambda name, m: name == 'gin',
                   make_term=lambda layer: NodeOrderTerm(4, 4))
    assert isinstance(custom['gin'].nn, RelaxedLayer)
    assert not relaxed_layers(unrelax(custom))
    with pytest.raises(ValueError, match='No layer'):
        relax(torch.nn.Linear(2, 2))


def test_the_coefficient_is_checked_and_saved():
    model = relax(egnn(), coefficient=0.25)
    with pytest.raises(ValueError, match='non-negative'):
        set_relaxation(model, -1.0)
    with pytest.raises(ValueError, match='non-negative'):
        set_relaxation(model, float('nan'))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    other = relax(egnn(), coefficient=0.0)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    assert relaxation_coefficient(other) == 0.25
    assert 'coefficient=0.25' in repr(relaxed_layers(other)[0])
    with pytest.raises(ValueError, match='already relaxed'):
        RelaxedLayer(relaxed_layers(other)[0], torch.nn.Identity())


def test_a_symmetrized_model_relaxed_as_a_whole():
    from lps_geometric.nn import Symmetrize
    from lps_geometric.nn.relaxation import SymmetrizeTerm
    from lps_geometric.samplers import ExhaustivePermutationSampler
    from lps_geometric.testing import OrderedMLP
    torch.manual_seed(0)
    data = random_batch(sizes=(4, 3), seed=0)
    data.pos = torch.randn(data.num_nodes, 3)
    model = torch.nn.ModuleDict({'sym': Symmetrize(OrderedMLP(3, 2, max_nodes=4),
                                                   ExhaustivePermutationSampler())})
    exact = model['sym']

    _, moved = relabelled(data)

    def error(module):                 # graph outputs: invariance
        with torch.no_grad():
            out = module(data)
            return float((module(moved) - out).abs().max() / out.abs().max())

    assert error(exact) < 1e-5
    relax(model, coefficient=0.5)
    relaxed = model['sym']
    assert isinstance(relaxed, RelaxedLayer) and isinstance(relaxed.term, SymmetrizeTerm)
    assert relaxed_layers(relaxed.layer) == []        # nothing relaxed inside it
    assert error(relaxed) > 1e-3
    assert float(relaxed.regularization_loss()) == 0.0   # the layer's methods reach through
    unrelax(model)
    assert model['sym'] is exact and error(model['sym']) < 1e-5


def test_a_symmetrize_at_the_top_is_wrapped_and_unwrapped():
    from lps_geometric.nn import Symmetrize
    from lps_geometric.samplers import ExhaustivePermutationSampler
    from lps_geometric.testing import OrderedMLP
    exact = Symmetrize(OrderedMLP(3, 2, max_nodes=4), ExhaustivePermutationSampler())
    relaxed = relax(exact, coefficient=0.5)
    assert isinstance(relaxed, RelaxedLayer) and relaxed.layer is exact
    assert unrelax(relaxed) is exact


def _transformed(data, seed=3):
    r"""``data`` relabelled and moved by a random rotation and translation."""
    from lps_geometric.groups import ProductGroup
    group = ProductGroup()
    g = group.random_element(data, torch.Generator().manual_seed(seed))
    return group, g, group.act(g, data)


@pytest.mark.parametrize('method,group', [('lps', 'E(3)'), ('lps', 'S_n')])
def test_relaxing_the_samplers_network_breaks_the_symmetrized_model_until_unrelaxed(
        method, group):
    r"""The E(3) and S_n samplers' networks (EGNN, GIN) relaxed with ``relax(sampler)``:
    the frames or orders they give are no longer equivariant, so neither is the
    symmetrized model; with the coefficient at zero, and after ``unrelax``, it is
    exactly equivariant again (with the noise moved along)."""
    from lps_geometric.diagnostics.moved_noise import MovedNoise
    from lps_geometric.groups import EuclideanGroup, SymmetricGroup
    from lps_geometric.nn import ConcatNodeFeatures, Symmetrize
    from lps_geometric.testing import OrderedMLP, random_point_cloud_batch
    torch.manual_seed(0)
    data = random_point_cloud_batch([5, 4], dtype=torch.float64,
                                    generator=torch.Generator().manual_seed(2))
    if group == 'E(3)':
        net = MPNN(1 + 3, 3, hidden_channels=16, num_layers=2, level='node')
        backbone = ConcatNodeFeatures(net, keys=('pos',), in_channels=1)
        kwargs = dict(output='vector')
        acting = EuclideanGroup()
    else:
        backbone = OrderedMLP(1, 2, max_nodes=5, keys=('x',), level='node')
        kwargs = {}
        acting = SymmetricGroup()
    model = Symmetrize.from_method(backbone, method, group, in_channels=1,
                                   sampler_kwargs=dict(hidden_channels=16, num_layers=2),
                                   num_samples=2, **kwargs).double().eval()
    g = acting.random_element(data, torch.Generator().manual_seed(3))
    moved = acting.act(g, data)
    out_kind = 'vector' if group == 'E(3)' else 'scalar'

    def error():
        gen = torch.Generator().manual_seed(4)
        with torch.no_grad(), MovedNoise(model, acting, gen) as noise:
            out = model(data)
            noise.move(g)
            out_g = model(moved)
        expected = acting.act_on_output(g, out, 'node', out_kind)
        return float((out_g - expected).abs().max() / out.abs().max())

    assert error() < 1e-9
    relax(model.sampler, coefficient=0.5)
    assert relaxed_layers(model.sampler)
    assert error() > 1e-3
    set_relaxation(model, 0.0)
    assert error() < 1e-9
    set_relaxation(model, 0.5)
    unrelax(model.sampler)
    assert not relaxed_layers(model) and error() < 1e-9


@pytest.mark.parametrize('edge_dim', [0, 2])
def test_positional_gin_is_relaxed_on_both_of_its_gin_paths(edge_dim):
    r"""Without edge features PositionalGIN sums neighbours with CSR products and calls
    the GIN network directly: the relaxation must act there too."""
    from lps_geometric.nn import PositionalGIN
    torch.manual_seed(0)
    data = random_batch(sizes=(4, 3), seed=1)
    if edge_dim:
        data.edge_attr = torch.randn(data.edge_index.size(1), edge_dim)
    model = PositionalGIN(3, 2, max_nodes=4, hidden_channels=8, num_layers=2,
                          edge_dim=edge_dim)
    with torch.no_grad():
        before = model(data)
        relax(model, coefficient=0.0)
        assert len(relaxed_layers(model)) == 2
        assert torch.equal(model(data), before)
        set_relaxation(model, 0.5)
        assert (model(data) - before).abs().max() > 1e-3
        assert torch.equal(unrelax(model)(data), before)


def test_relaxing_twice_finds_nothing_new():
    from torch_geometric.nn import MLP
    from lps_geometric.nn import PositionalGIN, Symmetrize
    from lps_geometric.nn.relaxation import NothingToRelaxError
    from lps_geometric.samplers import ExhaustivePermutationSampler
    from lps_geometric.testing import OrderedMLP
    gin = relax(PositionalGIN(3, 2, max_nodes=4, hidden_channels=8, num_layers=2))
    with pytest.raises(NothingToRelaxError):
        relax(gin)
    assert len(relaxed_layers(gin)) == 2
    wrapped = relax(Symmetrize(OrderedMLP(3, 2, max_nodes=4), ExhaustivePermutationSampler()))
    with pytest.raises(NothingToRelaxError):
        relax(wrapped)
    conv = relax(GINConv(MLP([4, 4])))          # a GIN at the top: through its network
    assert isinstance(conv, GINConv) and isinstance(conv.nn, RelaxedLayer)
    with pytest.raises(NothingToRelaxError):
        relax(conv)
