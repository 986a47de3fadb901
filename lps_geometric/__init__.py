r"""lps_geometric: symmetrization of any network for PyTorch Geometric.

The top level holds the names most programs need: the layer (:class:`Symmetrize`), the
method builder (:func:`build_sampler`), the learned samplers, the main backbones,
the equivariance measurement and assertion, and the input error. Everything else lives
in its sub-package (:mod:`lps_geometric.nn`, ``.samplers``, ``.frames``, ``.groups``,
``.diagnostics``, ``.datasets``, ``.utils``, ``.testing``, ``.training``). Reading a name
that used to be here (``lps_geometric.OrthogonalGroup``) raises an
:class:`AttributeError` that says where it is now; ``from lps_geometric import
OrthogonalGroup`` raises Python's plain :class:`ImportError`.

The names are imported on first use (:pep:`562`), so ``import lps_geometric`` and the
``lps-geometric`` command line start without loading PyTorch; ``from lps_geometric import
Symmetrize`` and ``lps_geometric.nn`` work as usual.
"""
import importlib
from typing import TYPE_CHECKING, Any, List

__version__ = '0.1.0'

#: The sub-package that defines each public name.
_SOURCES = {
    'nn': ('Symmetrize', 'AdjacencyPatchTransformer', 'PositionalGIN', 'PyGBackbone',
           'MPNN'),
    'samplers': ('build_sampler', 'PermutationSampler', 'EuclideanFrameSampler',
                 'ProductSampler'),
    'diagnostics': ('equivariance_error', 'assert_equivariant'),
    'utils': ('GraphInputError',),
}
_ORIGIN = {name: module for module, names in _SOURCES.items() for name in names}

#: Names the top level exported before it was reduced, by the sub-package that has them.
_MOVED_FROM = {
    'groups': ('EuclideanGroup', 'LorentzGroup', 'OrthogonalGroup', 'Permutation',
               'ProductGroup', 'SymmetricGroup', 'UnitaryGroup'),
    'nn': ('EGNN', 'AdjacencyMLP', 'ConcatEdgeGeometry', 'ConcatNodeFeatures', 'EGNNConv',
           'PositionEncoding'),
    'samplers': ('ExhaustivePermutationSampler', 'GroupSample', 'UniformPermutationSampler',
                 'UniformProductSampler', 'UniformRotationSampler'),
    'frames': ('GraphMinimalFrameSampler', 'LaplacianFrameSampler',
               'LorentzMinimalFrameSampler', 'OrthogonalMinimalFrameSampler',
               'PCAFrameSampler', 'ProductMinimalFrameSampler', 'SetMinimalFrameSampler',
               'SortedProductFrameSampler', 'UnitaryMinimalFrameSampler'),
    'diagnostics': ('EquivarianceReport', 'LayerwiseReport', 'SampleSpread',
                    'layerwise_equivariance_error', 'sample_spread'),
    'utils': ('validate_graph_batch',),
}
_MOVED = {name: module for module, names in _MOVED_FROM.items() for name in names}

_SUBPACKAGES = ('datasets', 'diagnostics', 'frames', 'groups', 'nn', 'samplers',
                'testing', 'training', 'utils')

__all__ = [
    # the layer and the methods by name
    'Symmetrize', 'build_sampler',
    # learned samplers (LPS, canonicalization) for S_n, E(3) and S_n x E(3)
    'PermutationSampler', 'EuclideanFrameSampler', 'ProductSampler',
    # backbones
    'AdjacencyPatchTransformer', 'PositionalGIN', 'PyGBackbone', 'MPNN',
    # checks and errors
    'equivariance_error', 'assert_equivariant', 'GraphInputError',
    '__version__',
]


def __getattr__(name: str) -> Any:
    if name in _ORIGIN:
        value = getattr(importlib.import_module(f'{__name__}.{_ORIGIN[name]}'), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f'{__name__}.{name}')
    elif name in _MOVED:
        raise AttributeError(f'{__name__}.{name} moved: use '
                             f'{__name__}.{_MOVED[name]}.{name}')
    else:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    globals()[name] = value          # later look-ups skip this function
    return value


def __dir__() -> List[str]:
    dunders = {name for name in globals() if name.startswith('__')}
    return sorted(dunders | set(__all__) | set(_SUBPACKAGES))


if TYPE_CHECKING:  # pragma: no cover - for static analysis and IDEs only
    from lps_geometric.diagnostics import assert_equivariant, equivariance_error
    from lps_geometric.nn import (MPNN, AdjacencyPatchTransformer, PositionalGIN,
                                  PyGBackbone, Symmetrize)
    from lps_geometric.samplers import (EuclideanFrameSampler, PermutationSampler,
                                        ProductSampler, build_sampler)
    from lps_geometric.utils import GraphInputError
