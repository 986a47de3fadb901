r"""MovedNoise: the noise of symmetrized layers anywhere inside a model moved along with
g, so that a stochastic model is compared draw by draw."""
import pytest
import torch
from torch import nn

from lps_geometric.diagnostics.moved_noise import MovedNoise
from lps_geometric.groups import ProductGroup
from lps_geometric.groups.linear import LorentzGroup
from lps_geometric.diagnostics import resolve_group
from lps_geometric.nn import MPNN, ConcatNodeFeatures, Symmetrize, relax, set_relaxation
from lps_geometric.testing import random_point_cloud_batch


def symmetrized(method='lps', group='E(3)'):
    torch.manual_seed(0)
    net = MPNN(1 + 3, 3, hidden_channels=16, num_layers=2, level='node')
    backbone = ConcatNodeFeatures(net, keys=('pos',), in_channels=1)
    kwargs = dict(hidden_channels=16, num_layers=2) if method == 'lps' else {}
    return Symmetrize.from_method(backbone, method, group, in_channels=1,
                                  output='vector', sampler_kwargs=kwargs,
                                  num_samples=3).double().eval()


class Predictor(nn.Module):
    r"""``pos + layer(data)``: a symmetrized layer inside a larger model."""
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, data):
        return data.pos + self.layer(data)


def batch():
    return random_point_cloud_batch([5, 6], dtype=torch.float64,
                                    generator=torch.Generator().manual_seed(1))


def difference(model, data, group='E(3)', moved=True, seed=0):
    group = resolve_group(group)
    generator = torch.Generator().manual_seed(seed)
    g = group.random_element(data, generator)
    with torch.no_grad():
        if moved:
            with MovedNoise(model, group, generator) as noise:
                out = model(data)
                noise.move(g)
                out_g = model(group.act(g, data))
        else:
            out, out_g = model(data), model(group.act(g, data))
    expected = group.act_on_output(g, out, 'node', 'position')
    return (out_g - expected).abs().max().item()


@pytest.mark.parametrize('group', ['E(3)', 'S_n x E(3)'])
def test_a_symmetrized_layer_inside_a_model_is_exact_with_the_noise_moved(group):
    model = Predictor(symmetrized('lps', group))
    data = batch()
    assert MovedNoise(model, group).active
    assert difference(model, data, group) < 1e-9
    assert difference(model, data, group, moved=False) > 1e-3   # fresh noise: MC spread


def test_a_relaxed_model_is_exact_at_zero_and_measurably_not_above():
    model = relax(Predictor(symmetrized('lps')), coefficient=0.0)
    data = batch()
    assert difference(model, data) < 1e-9
    errors = []
    for alpha in (0.1, 1.0):
        set_relaxation(model, alpha)
        errors.append(difference(model, data))
    assert 1e-4 < errors[0] < errors[1]


def test_what_cannot_be_moved_is_said():
    ga = Predictor(symmetrized('ga'))           # Haar rotations: no noise to move
    mover = MovedNoise(ga, 'E(3)')
    assert not mover.active and 'UniformRotationSampler' in mover.obstacle
    plain = MPNN(1, 3, hidden_channels=8, num_layers=1, level='node')
    mover = MovedNoise(plain, 'E(3)')
    assert not mover.active and mover.obstacle == '' and 'nothing to move' in repr(mover)
    lps = symmetrized('lps')
    mover = MovedNoise(lps, LorentzGroup(dim=4))
    assert not mover.active and 'invariant' in mover.obstacle
    mover = MovedNoise(Predictor(Symmetrize(lps, lps.sampler)), 'E(3)')
    assert not mover.active and 'nested' in mover.obstacle
    # without moving, the comparison runs on fresh noise
    data = batch()
    with MovedNoise(ga, 'E(3)') as noise:
        noise.move(ProductGroup().random_element(data, torch.Generator()))
        ga(data)


def test_replay_errors_and_explicit_noise():
    model = Predictor(symmetrized('lps'))
    data = batch()
    group = resolve_group('E(3)')
    g = group.random_element(data, torch.Generator().manual_seed(0))
    with MovedNoise(model, group) as noise:
        with pytest.raises(RuntimeError, match='no noise was recorded'):
            noise.move(g)
        model(data)
        noise.move(g)
        model(group.act(g, data))
        with pytest.raises(RuntimeError, match='more often'):
            model(group.act(g, data))
    # hooks are gone after the block; explicit noise is never replaced
    eps = torch.randn(3 * data.num_nodes, 3, dtype=torch.float64)
    with MovedNoise(model.layer, group) as noise:
        a = model.layer(data, noise=eps)
    assert torch.equal(a, model.layer(data, noise=eps))
    assert not model.layer._forward_pre_hooks


def test_every_calling_convention_and_a_second_block():
    layer = symmetrized('lps')
    data = batch()
    group = resolve_group('E(3)')
    g = group.random_element(data, torch.Generator().manual_seed(0))
    moved = group.act(g, data)
    calls = [lambda d: layer(d), lambda d: layer(data=d),
             lambda d: layer(d, num_samples=2)]
    mover = MovedNoise(layer, group, torch.Generator().manual_seed(5))
    for call in calls:
        with torch.no_grad(), mover as noise:
            out = call(data)
            noise.move(g)
            out_g = call(moved)
        expected = group.act_on_output(g, out, 'node', 'vector')
        assert (out_g - expected).abs().max() < 1e-9
    with pytest.raises(ValueError):          # num_samples=0 is refused, not replaced
        with mover:
            layer(data, num_samples=0)


def test_tensor_inputs_under_permutations():
    from lps_geometric.testing import OrderedMLP
    torch.manual_seed(0)
    layer = Symmetrize.from_method(OrderedMLP(1, 2, max_nodes=6, keys=('x',),
                                              level='node'), 'lps', 'S_n',
                                   in_channels=1, num_samples=2).double().eval()
    data = batch()
    group = resolve_group('S_n')
    g = group.random_element(data, torch.Generator().manual_seed(1))
    moved = group.act(g, data)
    with torch.no_grad(), MovedNoise(layer, group) as noise:
        out = layer(data.x, data.edge_index, batch=data.batch)
        noise.move(g)
        out_g = layer(moved.x, moved.edge_index, batch=moved.batch)
    expected = group.act_on_output(g, out, 'node', 'scalar')
    assert (out_g - expected).abs().max() < 1e-9
