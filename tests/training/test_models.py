r"""The molecule models build their samplers with the factory: the same class as
``build_sampler`` for every method, and a method registered by a program works too."""
import pytest

from lps_geometric.frames import GraphMinimalFrameSampler
from lps_geometric.samplers import build_sampler, register_sampler, unregister_sampler
from lps_geometric.training.models import E3SymmetrizedMolecule, SymmetrizedMolecule

SMALL = dict(embed_dim=8, depth=1, num_heads=2)


@pytest.mark.parametrize('method', ['lps', 'ga', 'fa', 'mfa', 'canonical'])
def test_symmetrized_molecules_use_the_factory(method):
    model = SymmetrizedMolecule(1, method, max_nodes=8, feature_dim=4, **SMALL)
    expected = build_sampler(method, 'S_n', in_channels=4)
    assert type(model.model.sampler) is type(expected)
    if method in ('lps', 'canonical'):     # the learned sampler reads the bond features
        assert model.model.sampler.edge_dim == 4
    assert (model.model.num_samples, model.model.eval_num_samples) == (1, 10)
    model = E3SymmetrizedMolecule(3, 1, method, max_nodes=8, **SMALL)
    expected = build_sampler(method, 'S_n x E(3)', in_channels=3)
    assert type(model.model.sampler) is type(expected)


def test_the_backbone_alone():
    model = SymmetrizedMolecule(1, 'none', max_nodes=8, **SMALL)
    assert not hasattr(model.model, 'sampler')


def test_a_registered_method_reaches_the_models():
    register_sampler('small-mfa', 'permutation',
                     lambda group, **kwargs: GraphMinimalFrameSampler(budget=2))
    try:
        model = SymmetrizedMolecule(1, 'small-mfa', max_nodes=8, **SMALL)
        assert type(model.model.sampler) is GraphMinimalFrameSampler
        assert model.model.sampler.budget == 2
    finally:
        unregister_sampler('small-mfa', 'permutation')
