r"""Groups by name: ``"S_n"``, ``"O(3)"``, ``"S_n x E(3)"``, ``"SO(1,3)"``, ``"U(2)"``, ...
(pure parsing; used by the diagnostics, the sampler factory and the command line)."""
import re
from typing import Union

from lps_geometric.groups.euclidean import EuclideanGroup, OrthogonalGroup, ProductGroup
from lps_geometric.groups.linear import LorentzGroup, UnitaryGroup
from lps_geometric.groups.symmetric import SymmetricGroup

__all__ = ['resolve_group', 'normalize_group_name']

_GROUPS = {
    'permutation': SymmetricGroup,
    's_n': SymmetricGroup,
    'sn': SymmetricGroup,
    'symmetric': SymmetricGroup,
    'o3': lambda: OrthogonalGroup(3),
    'so3': lambda: OrthogonalGroup(3, special=True),
    'e3': lambda: EuclideanGroup(3),
    'se3': lambda: EuclideanGroup(3, special=True),
    'snxo3': lambda: ProductGroup(OrthogonalGroup(3)),
    'snxso3': lambda: ProductGroup(OrthogonalGroup(3, special=True)),
    'snxe3': lambda: ProductGroup(EuclideanGroup(3)),
    'snxse3': lambda: ProductGroup(EuclideanGroup(3, special=True)),
}


def normalize_group_name(name: str) -> str:
    r"""``name`` in lower case with everything but letters and digits removed
    (:obj:`"S_n x E(3)"` becomes :obj:`"snxe3"`)."""
    return ''.join(c for c in name.lower() if c.isalnum())


_EUCLIDEAN_NAME = re.compile(r'^(snx)?(s?)([oe])(\d+)$')
_LORENTZ_NAME = re.compile(r'^\s*(s?)o\(\s*1\s*,\s*(\d+)\s*\)\s*$')
_UNITARY_NAME = re.compile(r'^\s*(s?)u\(\s*(\d+)\s*\)\s*$')


def _parse_matrix_group(name: str):
    lowered = name.lower()
    if lowered == 'lorentz':
        return LorentzGroup(4)
    match = _LORENTZ_NAME.match(lowered)
    if match:
        return LorentzGroup(int(match.group(2)) + 1, special=bool(match.group(1)))
    match = _UNITARY_NAME.match(lowered)
    if match:
        return UnitaryGroup(int(match.group(2)), special=bool(match.group(1)))
    return None


def _parse_euclidean(key: str):
    match = _EUCLIDEAN_NAME.match(key)
    if match is None:
        return None
    product, special, kind, dim = match.groups()
    cls = EuclideanGroup if kind == 'e' else OrthogonalGroup
    group = cls(int(dim), special=bool(special))
    return ProductGroup(group) if product else group


def resolve_group(group: Union[str, object, None]):
    r"""A group object from a name or the object itself. Names (case, spaces, brackets
    and underscores ignored): :obj:`"permutation"`/:obj:`"S_n"`, :obj:`"O(3)"`,
    :obj:`"SO(3)"`, :obj:`"E(3)"`, :obj:`"SE(3)"`, :obj:`"S_n x O(3)"`,
    :obj:`"S_n x E(3)"`, :obj:`"S_n x SO(3)"`, :obj:`"S_n x SE(3)"`, and the same with
    any dimension :math:`d` (:obj:`"O(5)"`, :obj:`"S_n x E(2)"`); the Lorentz groups
    :obj:`"O(1,3)"`, :obj:`"SO(1,3)"` (:obj:`"Lorentz"` is :math:`O(1, 3)`) and the
    unitary groups :obj:`"U(2)"`, :obj:`"SU(3)"`."""
    if group is None:
        return SymmetricGroup()
    if isinstance(group, str):
        matrix_group = _parse_matrix_group(group)
        if matrix_group is not None:
            return matrix_group
        key = group.lower() if group.lower() in _GROUPS else normalize_group_name(group)
        if key in _GROUPS:
            return _GROUPS[key]()
        parsed = _parse_euclidean(key)
        if parsed is None:
            raise ValueError(f"Unknown group '{group}' (known: {sorted(_GROUPS)}, and "
                             f"'O(d)', 'SO(d)', 'E(d)', 'SE(d)', 'S_n x O(d)', ... for "
                             f"any d)")
        return parsed
    return group
