r"""The (method, group kind) table itself: kinds, look-ups and entries."""
import pytest

from lps_geometric.groups import EuclideanGroup, ProductGroup, SymmetricGroup
from lps_geometric.samplers import (GROUP_KINDS, PermutationSampler, SamplerEntry,
                                    group_kind, registered_samplers)
from lps_geometric.samplers.registry import lookup_sampler


def test_group_kinds_classify_names_and_objects():
    assert group_kind('S_n') == 'permutation' and group_kind('S_n (sets)') == 'sets'
    assert group_kind('SE(3)') == 'euclidean' and group_kind(EuclideanGroup(3)) == \
        'euclidean'
    assert group_kind(ProductGroup(EuclideanGroup(3))) == 'product'
    assert group_kind('SO(1,3)') == 'lorentz' and group_kind('SU(2)') == 'unitary'
    with pytest.raises(TypeError):
        GROUP_KINDS['toy'] = 'a toy group'          # read-only


def test_lookup_returns_the_entry_and_the_group():
    entry, group = lookup_sampler('LPS', 'S_n')
    assert isinstance(entry, SamplerEntry) and entry.method == 'lps' and entry.learned
    assert isinstance(group, SymmetricGroup)
    assert isinstance(entry.build(group, 3), PermutationSampler)


def test_lookup_errors_name_what_exists():
    with pytest.raises(ValueError, match='non-empty string'):
        lookup_sampler(None, 'S_n')
    with pytest.raises(ValueError, match="Unknown method 'toy'"):
        lookup_sampler('toy', 'S_n')
    with pytest.raises(ValueError, match="served by method 'mfa' only"):
        lookup_sampler('lps', 'SO(1,3)')


def test_entries_check_the_dimension():
    entry, group = lookup_sampler('ga', 'O(5)')
    assert entry.dims == (3,)
    with pytest.raises(ValueError, match='d = 3'):
        entry.build(group)


def test_the_table_is_a_copy():
    table = registered_samplers()
    table.clear()
    assert registered_samplers()
