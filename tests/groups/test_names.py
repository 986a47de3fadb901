import pytest

from lps_geometric.groups import (EuclideanGroup, LorentzGroup, OrthogonalGroup,
                                  ProductGroup, SymmetricGroup, UnitaryGroup,
                                  normalize_group_name, resolve_group)


@pytest.mark.parametrize('name,cls,dim,special', [
    ('O(3)', OrthogonalGroup, 3, False),
    ('so3', OrthogonalGroup, 3, True),
    ('E(3)', EuclideanGroup, 3, False),
    ('SE(3)', EuclideanGroup, 3, True),
    ('O(5)', OrthogonalGroup, 5, False),
    ('se2', EuclideanGroup, 2, True),
    ('O(1,3)', LorentzGroup, 4, False),
    ('SO(1, 2)', LorentzGroup, 3, True),
    ('Lorentz', LorentzGroup, 4, False),
    ('U(2)', UnitaryGroup, 2, False),
    ('SU(3)', UnitaryGroup, 3, True),
])
def test_matrix_group_names(name, cls, dim, special):
    group = resolve_group(name)
    assert type(group) is cls and group.dim == dim and group.special == special


@pytest.mark.parametrize('name', ['S_n', 'permutation', 'Sn', 'symmetric', None])
def test_permutation_group_names(name):
    assert isinstance(resolve_group(name), SymmetricGroup)


@pytest.mark.parametrize('name,inner,dim,special', [
    ('S_n x E(3)', EuclideanGroup, 3, False),
    ('S_n x SO(3)', OrthogonalGroup, 3, True),
    ('snxse2', EuclideanGroup, 2, True),
    ('S_n x O(4)', OrthogonalGroup, 4, False),
])
def test_product_group_names(name, inner, dim, special):
    group = resolve_group(name)
    assert isinstance(group, ProductGroup)
    assert type(group.euclidean) is inner
    assert group.euclidean.dim == dim and group.euclidean.special == special


def test_objects_pass_through_and_names_normalize():
    group = EuclideanGroup(2)
    assert resolve_group(group) is group
    assert normalize_group_name('S_n x E(3)') == 'snxe3'
    assert normalize_group_name(' SO( 3 ) ') == 'so3'


@pytest.mark.parametrize('name', ['GL(3)', 'E', 'S_n x', 'O(x)', 'sp4', ''])
def test_unknown_names_are_refused(name):
    with pytest.raises(ValueError, match='Unknown group'):
        resolve_group(name)
