r"""Deterministic frames: frame averaging (FA) and minimal frame averaging (MFA).

Every frame is a sampler (``sampler(data) -> GroupSample``) that returns the whole frame
of every graph with averaging weights, so :class:`~lps_geometric.nn.Symmetrize` runs FA,
MFA, canonicalization, group averaging and LPS alike.

==========================================  =========================================
Group                                       Frame
==========================================  =========================================
:math:`O(d), SO(d), E(d), SE(d)`            :class:`PCAFrameSampler` (FA),
                                            :class:`OrthogonalMinimalFrameSampler` (MFA)
:math:`S_n` on graphs                       :class:`LaplacianFrameSampler` (FA),
                                            :class:`GraphMinimalFrameSampler` (MFA, nauty)
:math:`S_n` on sets                         :class:`SetMinimalFrameSampler` (MFA)
:math:`S_n \times O(d)` (and E, SO, SE)     :class:`SortedProductFrameSampler` (FA),
                                            :class:`ProductMinimalFrameSampler` (MFA)
:math:`O(1, d-1)`, :math:`SO(1, d-1)`       :class:`LorentzMinimalFrameSampler` (MFA)
:math:`U(d)`, :math:`SU(d)`                 :class:`UnitaryMinimalFrameSampler` (MFA)
==========================================  =========================================
"""
from .base import INFINITE, FrameSampler, enumerate_group, random_group_elements
from .pca import PCAFrameSampler
from .orthogonal import (OrthogonalMinimalFrameSampler, apply_stabilizer,
                         pivoted_gram_schmidt, stabilizer_size)
from .laplacian import LaplacianFrameSampler, laplacian_eigenkeys
from .sets import SetMinimalFrameSampler
from .graphs import GraphMinimalFrameSampler
from .product import ProductMinimalFrameSampler
from .sorting import SortedProductFrameSampler
from lps_geometric.groups.nauty import CanonicalForm, canonical_form
from .linear import (LorentzMinimalFrameSampler, UnitaryMinimalFrameSampler,
                     lorentz_gram_schmidt)

# The construction internals imported above (``stabilizer_size``, ``apply_stabilizer``,
# ``enumerate_group``, ``random_group_elements``, ``INFINITE``, ``canonical_form``,
# ``CanonicalForm``) stay importable from here but are not part of the public list.
__all__ = [
    'FrameSampler',
    'PCAFrameSampler', 'OrthogonalMinimalFrameSampler', 'LaplacianFrameSampler',
    'SetMinimalFrameSampler', 'GraphMinimalFrameSampler', 'ProductMinimalFrameSampler',
    'SortedProductFrameSampler', 'LorentzMinimalFrameSampler',
    'UnitaryMinimalFrameSampler', 'lorentz_gram_schmidt', 'pivoted_gram_schmidt',
    'laplacian_eigenkeys'
]
