r"""``build_sampler`` and its registry: every built-in (method, group) builds the sampler
class it always built, with the same settings; programs register their own; refusals
name the alternatives."""
import pickle

import pytest
import torch

from lps_geometric import frames
from lps_geometric.groups import (EuclideanGroup, LorentzGroup, OrthogonalGroup,
                                  ProductGroup, SymmetricGroup, UnitaryGroup)
from lps_geometric.nn import Symmetrize
from lps_geometric.samplers import (GROUP_KINDS, METHODS, EuclideanFrameSampler,
                                    ExhaustivePermutationSampler, PermutationSampler,
                                    ProductSampler, UniformPermutationSampler,
                                    UniformProductSampler, UniformRotationSampler,
                                    available_methods, build_sampler, group_kind,
                                    register_sampler, registered_samplers,
                                    unregister_sampler)

#: (method, group name) -> the class ``build_sampler`` returns, written out in full.
EXPECTED = {
    ('lps', 'S_n'): PermutationSampler,
    ('lps', 'O(3)'): EuclideanFrameSampler,
    ('lps', 'SO(3)'): EuclideanFrameSampler,
    ('lps', 'E(3)'): EuclideanFrameSampler,
    ('lps', 'SE(3)'): EuclideanFrameSampler,
    ('lps', 'S_n x O(3)'): ProductSampler,
    ('lps', 'S_n x E(3)'): ProductSampler,
    ('lps', 'S_n x SE(3)'): ProductSampler,
    ('canonical', 'S_n'): PermutationSampler,
    ('canonical', 'E(3)'): EuclideanFrameSampler,
    ('canonical', 'SO(3)'): EuclideanFrameSampler,
    ('canonical', 'S_n x E(3)'): ProductSampler,
    ('ga', 'S_n'): UniformPermutationSampler,
    ('ga', 'O(3)'): UniformRotationSampler,
    ('ga', 'E(3)'): UniformRotationSampler,
    ('ga', 'S_n x E(3)'): UniformProductSampler,
    ('ga', 'S_n x SO(3)'): UniformProductSampler,
    ('exhaustive', 'S_n'): ExhaustivePermutationSampler,
    ('fa', 'S_n'): frames.LaplacianFrameSampler,
    ('fa', 'O(3)'): frames.PCAFrameSampler,
    ('fa', 'E(3)'): frames.PCAFrameSampler,
    ('fa', 'SE(2)'): frames.PCAFrameSampler,
    ('fa', 'S_n x E(3)'): frames.SortedProductFrameSampler,
    ('fa', 'S_n x O(4)'): frames.SortedProductFrameSampler,
    ('mfa', 'S_n'): frames.GraphMinimalFrameSampler,
    ('mfa', 'S_n (sets)'): frames.SetMinimalFrameSampler,
    ('mfa', 'sets'): frames.SetMinimalFrameSampler,
    ('mfa', 'O(3)'): frames.OrthogonalMinimalFrameSampler,
    ('mfa', 'E(5)'): frames.OrthogonalMinimalFrameSampler,
    ('mfa', 'S_n x E(3)'): frames.ProductMinimalFrameSampler,
    ('mfa', 'S_n x SO(2)'): frames.ProductMinimalFrameSampler,
    ('mfa', 'O(1,3)'): frames.LorentzMinimalFrameSampler,
    ('mfa', 'SO(1,2)'): frames.LorentzMinimalFrameSampler,
    ('mfa', 'Lorentz'): frames.LorentzMinimalFrameSampler,
    ('mfa', 'U(2)'): frames.UnitaryMinimalFrameSampler,
    ('mfa', 'SU(3)'): frames.UnitaryMinimalFrameSampler,
}

#: Every built-in registry entry, as (method, group kind).
BUILT_IN = {
    ('lps', 'permutation'), ('lps', 'euclidean'), ('lps', 'product'),
    ('canonical', 'permutation'), ('canonical', 'euclidean'), ('canonical', 'product'),
    ('ga', 'permutation'), ('ga', 'euclidean'), ('ga', 'product'),
    ('fa', 'permutation'), ('fa', 'euclidean'), ('fa', 'product'),
    ('mfa', 'permutation'), ('mfa', 'sets'), ('mfa', 'euclidean'), ('mfa', 'product'),
    ('mfa', 'lorentz'), ('mfa', 'unitary'),
    ('exhaustive', 'permutation'),
}


@pytest.fixture
def restore_registry():
    r"""Puts the table back as it was after a test that registers samplers."""
    before = registered_samplers()
    yield
    for key in set(registered_samplers()) - set(before):
        unregister_sampler(*key)
    for (method, kind), entry in before.items():
        register_sampler(method, kind, entry.constructor, learned=entry.learned,
                         dims=entry.dims, num_samples=entry.num_samples, replace=True)


@pytest.mark.parametrize('method, group', sorted(EXPECTED))
def test_every_built_in_pair_builds_its_class(method, group):
    assert type(build_sampler(method, group, in_channels=2)) is EXPECTED[method, group]
    assert method in available_methods(group)


def test_the_built_in_table_is_complete():
    assert set(registered_samplers()) == BUILT_IN
    assert {(m, group_kind(g)) for m, g in EXPECTED} == BUILT_IN
    assert available_methods() == METHODS
    assert available_methods('E(3)') == ('lps', 'ga', 'fa', 'mfa', 'canonical')
    assert available_methods('S_n') == METHODS
    assert available_methods('S_n (sets)') == available_methods('SU(2)') == ('mfa',)
    learned = {key for key, entry in registered_samplers().items() if entry.learned}
    assert learned == {(m, k) for m, k in BUILT_IN if m in ('lps', 'canonical')}
    assert set(registered_samplers('lorentz')) == {('mfa', 'lorentz')}


def test_group_kinds():
    assert set(GROUP_KINDS) == {'permutation', 'sets', 'euclidean', 'product', 'lorentz',
                                'unitary'}
    cases = {'S_n': 'permutation', 'permutation': 'permutation', 'S_n (sets)': 'sets',
             'O(3)': 'euclidean', 'SE(2)': 'euclidean', 'S_n x E(3)': 'product',
             'O(1,3)': 'lorentz', 'U(2)': 'unitary'}
    for name, kind in cases.items():
        assert group_kind(name) == kind
    assert group_kind(None) == 'permutation'
    assert group_kind(SymmetricGroup()) == 'permutation'
    assert group_kind(EuclideanGroup(3, special=True)) == 'euclidean'
    assert group_kind(ProductGroup(OrthogonalGroup(2))) == 'product'
    assert group_kind(LorentzGroup(3)) == 'lorentz'      # before its base OrthogonalGroup
    assert group_kind(UnitaryGroup(2)) == 'unitary'
    with pytest.raises(ValueError, match='No sampler for group'):
        group_kind(object())


def test_settings_follow_the_group_and_the_keywords():
    s = build_sampler('lps', 'SE(3)', 2)
    assert (s.special, s.translation, s.noise_scale) == (True, 'centroid', 1.0)
    s = build_sampler('canonical', 'O(3)', 2)
    assert (s.special, s.translation, s.noise_scale) == (False, 'none', 0.0)
    assert build_sampler('canonical', 'S_n', 2).noise_scale == 0.0
    assert build_sampler('canonical', 'S_n', 2, noise_scale=0.5).noise_scale == 0.5
    s = build_sampler('lps', 'S_n x E(3)', 2, tau=0.3, translation='none')
    assert (s.tau, s.translation) == (0.3, 'none')
    s = build_sampler('ga', 'S_n x O(3)')
    assert (s.special, s.center) == (False, False)
    assert build_sampler('ga', 'SE(3)').center
    assert build_sampler('mfa', 'S_n', budget=3).budget == 3
    assert build_sampler('exhaustive', 'S_n', max_nodes=5).max_nodes == 5
    s = build_sampler('mfa', 'S_n x SO(2)')
    assert (s.dim, s.special, s.translation) == (2, True, False)
    s = build_sampler('mfa', 'SO(1,3)')
    assert (s.dim, s.special) == (4, True)
    # 'fa' on a product: the PCA keys go to the frame, the rest to the node sorting
    s = build_sampler('fa', 'S_n x E(3)', tie_samples=2, tie_tol=1e-3, decimals=3)
    assert (s.decimals, s.tie_samples) == (3, 4)
    assert (s.euclidean.tie_samples, s.euclidean.tie_tol) == (2, 1e-3)
    assert (s.euclidean.dim, s.euclidean.special, s.euclidean.translation) == \
        (3, False, True)
    assert build_sampler('LPS', 'S_n', 2).in_channels == 2      # case is ignored


def test_refusals_name_the_alternatives():
    with pytest.raises(ValueError, match=r"Unknown method 'magic' \(known: \('lps'"):
        build_sampler('magic', 'S_n')
    for method in ('lps', 'canonical'):
        for group in ('S_n', 'E(3)', 'S_n x E(3)'):
            with pytest.raises(ValueError, match="learns a sampler: pass 'in_channels'"):
                build_sampler(method, group)
    with pytest.raises(ValueError, match="served by method 'mfa' only.*use 'S_n'"):
        build_sampler('lps', 'S_n (sets)', 2)
    with pytest.raises(ValueError, match=r"O\(1,3\) is served by method 'mfa' only "
                                         r"\(got 'fa'\)"):
        build_sampler('fa', 'O(1,3)')
    with pytest.raises(ValueError, match=r"served by method 'mfa' only"):
        build_sampler('ga', 'U(2)')
    for method in ('lps', 'canonical', 'ga'):
        with pytest.raises(ValueError, match=r"implemented for d = 3 \(got d = 5\); "
                                             r"'fa' and 'mfa' work for any d"):
            build_sampler(method, 'O(5)', 2)
    with pytest.raises(ValueError, match=r"'exhaustive' is for S_n only"):
        build_sampler('exhaustive', 'E(3)')
    with pytest.raises(ValueError, match='Unknown group'):
        build_sampler('mfa', 'GL(3)')
    with pytest.raises(ValueError, match='No sampler for group'):
        build_sampler('mfa', object())
    with pytest.raises(ValueError, match='No sampler for group'):
        build_sampler('mfa', ProductGroup(SymmetricGroup()))
    # the method is checked before the group
    with pytest.raises(ValueError, match='Unknown method'):
        build_sampler('magic', 'GL(3)')


class _Fixed(torch.nn.Module):
    def __init__(self, dim, scale=1.0):
        super().__init__()
        self.dim, self.scale = dim, scale


def test_a_program_registers_its_own_sampler(restore_registry):
    @register_sampler('toy', 'lorentz')
    def toy(group, **kwargs):
        return _Fixed(group.dim, **kwargs)

    assert toy.__name__ == 'toy'                 # the decorator returns the function
    s = build_sampler('toy', 'SO(1,3)', scale=2.0)
    assert isinstance(s, _Fixed) and (s.dim, s.scale) == (4, 2.0)
    assert available_methods() == METHODS + ('toy',)
    assert available_methods('O(1,2)') == ('mfa', 'toy')
    with pytest.raises(ValueError, match=r"served by methods 'mfa' and 'toy' only"):
        build_sampler('ga', 'O(1,3)')
    with pytest.raises(ValueError, match="'toy' is for O"):
        build_sampler('toy', 'S_n')
    with pytest.raises(ValueError, match='already has a sampler'):
        register_sampler('TOY', 'lorentz', toy)
    # a learned method limited to some dimensions
    register_sampler('toy', 'euclidean', lambda g, c, **kw: _Fixed(c, **kw), learned=True,
                     dims=(2, 3))
    assert build_sampler('toy', 'E(2)', in_channels=7).dim == 7
    with pytest.raises(ValueError, match='pass .in_channels.'):
        build_sampler('toy', 'E(2)')
    with pytest.raises(ValueError, match=r"implemented for d in \(2, 3\)"):
        build_sampler('toy', 'E(4)', in_channels=7)
    assert unregister_sampler('toy', 'lorentz').constructor is toy
    assert available_methods('O(1,3)') == ('mfa',)


def test_the_layer_builds_through_the_registry(restore_registry):
    @register_sampler('small-mfa', 'lorentz')
    def small(group, **kwargs):
        return frames.LorentzMinimalFrameSampler(group.dim, group.special, budget=2)

    model = Symmetrize.from_method(torch.nn.Identity(), 'small-mfa', 'SO(1,3)')
    assert type(model.sampler) is frames.LorentzMinimalFrameSampler
    assert (model.sampler.budget, model.sampler.dim) == (2, 4)


def test_an_entry_sets_the_default_number_of_samples(restore_registry):
    canonical = Symmetrize.from_method(torch.nn.Identity(), 'canonical', 'S_n',
                                       in_channels=3)
    assert (canonical.num_samples, canonical.eval_num_samples) == (1, 1)
    assert registered_samplers('permutation')[('canonical', 'permutation')].num_samples == 1
    lps = Symmetrize.from_method(torch.nn.Identity(), 'lps', 'S_n', in_channels=3,
                                 num_samples=4)
    assert (lps.num_samples, lps.eval_num_samples) == (4, 4)

    register_sampler('ga3', 'permutation',
                     lambda group, **kw: UniformPermutationSampler(), num_samples=3)
    model = Symmetrize.from_method(torch.nn.Identity(), 'ga3', 'S_n')
    assert (model.num_samples, model.eval_num_samples) == (3, 3)
    explicit = Symmetrize.from_method(torch.nn.Identity(), 'ga3', 'S_n', num_samples=2)
    assert explicit.num_samples == 2
    with pytest.raises(ValueError, match="'num_samples'"):
        register_sampler('ga0', 'permutation', lambda group, **kw: None, num_samples=0)


def test_a_program_replaces_a_built_in_sampler(restore_registry):
    register_sampler('ga', 'permutation', lambda group, **kw: _Fixed(0), replace=True)
    assert isinstance(build_sampler('ga', 'S_n'), _Fixed)
    assert available_methods() == METHODS                # the order is kept


def test_the_built_ins_come_back_after_a_replacement():
    assert type(build_sampler('ga', 'S_n')) is UniformPermutationSampler


def test_bad_registrations_are_refused():
    with pytest.raises(ValueError, match='Unknown group kind'):
        register_sampler('toy', 'graphs', lambda g: None)
    with pytest.raises(ValueError, match='non-empty string'):
        register_sampler('', 'permutation', lambda g: None)
    with pytest.raises(ValueError, match="'dims'"):
        register_sampler('toy', 'permutation', lambda g: None, dims=(3,))
    with pytest.raises(ValueError, match="'dims'"):
        register_sampler('toy', 'euclidean', lambda g: None, dims=())
    with pytest.raises(TypeError, match='callable'):
        register_sampler('toy', 'euclidean', 3)
    with pytest.raises(ValueError, match='has no sampler'):
        unregister_sampler('toy', 'euclidean')
    assert 'toy' not in available_methods()


def test_built_samplers_pickle():
    for method, group in (('lps', 'S_n'), ('fa', 'S_n x E(3)'), ('mfa', 'SO(1,3)')):
        sampler = build_sampler(method, group, in_channels=2)
        assert type(pickle.loads(pickle.dumps(sampler))) is type(sampler)
