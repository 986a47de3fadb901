r"""Groups as pure tensor math: elements, composition, inverses and actions.

Nothing here imports :mod:`lps_geometric.nn`: layers build on the group math, not the other
way round.

- :math:`S_n`: :class:`Permutation`, :class:`SymmetricGroup`
- :math:`O(d), SO(d), E(d), SE(d)`: :class:`EuclideanTransform`, :class:`OrthogonalGroup`,
  :class:`EuclideanGroup`, :func:`haar_orthogonal`; frames from equivariant vectors:
  :func:`polar_frame`, :func:`frame_conditioning`
- :math:`S_n \times E(d)`: :class:`ProductElement`, :class:`ProductGroup`
- :math:`O(1, d-1), SO(1, d-1), U(d), SU(d)`: :class:`LinearTransform`,
  :class:`LorentzGroup`, :class:`UnitaryGroup`
- groups by name (:obj:`"S_n x E(3)"`): :func:`resolve_group`; the spread of sampled
  elements: :func:`rotation_spread`, :func:`permutation_spread`; a sampler's noise moved
  along with an element: :func:`transport_noise`
"""
from .symmetric import Permutation, SymmetricGroup, band_positions, segment_argsort
from .euclidean import (POSITION_KEYS, VECTOR_KEYS, EuclideanGroup, EuclideanTransform,
                        OrthogonalGroup, ProductElement, ProductGroup,
                        canonicalizing_transform, haar_orthogonal, split_element)
from .polar import frame_conditioning, polar_frame
from .names import normalize_group_name, resolve_group
from .spread import permutation_spread, rotation_spread
from .transport import transport_noise
from .linear import (LinearTransform, LorentzGroup, UnitaryGroup, haar_unitary,
                     minkowski_inner, minkowski_metric, random_lorentz)

__all__ = [
    'Permutation', 'SymmetricGroup', 'segment_argsort', 'band_positions',
    'EuclideanTransform', 'canonicalizing_transform',
    'ProductElement', 'OrthogonalGroup', 'EuclideanGroup', 'ProductGroup',
    'haar_orthogonal', 'split_element', 'POSITION_KEYS', 'VECTOR_KEYS', 'LinearTransform',
    'LorentzGroup', 'UnitaryGroup', 'haar_unitary', 'minkowski_inner', 'minkowski_metric',
    'random_lorentz', 'polar_frame', 'frame_conditioning', 'resolve_group',
    'rotation_spread', 'permutation_spread', 'transport_noise'
]
