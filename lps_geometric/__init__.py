r"""lps_geometric: symmetrization of any network for PyTorch Geometric.

The names below are imported on first use (:pep:`562`), so ``import lps_geometric``
and the ``lps-geometric`` command line start without loading PyTorch; ``from
lps_geometric import Symmetrize`` and ``lps_geometric.nn`` work as usual.
"""
import importlib
from typing import TYPE_CHECKING, Any, List

__version__ = '0.1.0'

#: The sub-package that defines each public name.
_SOURCES = {
    'groups': ('EuclideanGroup', 'LorentzGroup', 'OrthogonalGroup', 'Permutation',
               'ProductGroup', 'SymmetricGroup', 'UnitaryGroup'),
    'nn': ('EGNN', 'AdjacencyMLP', 'AdjacencyPatchTransformer', 'ConcatEdgeGeometry',
           'ConcatNodeFeatures', 'EGNNConv', 'MPNN', 'PositionalGIN', 'PositionEncoding',
           'PyGBackbone', 'Symmetrize'),
    'samplers': ('EuclideanFrameSampler', 'ExhaustivePermutationSampler', 'GroupSample',
                 'PermutationSampler', 'ProductSampler', 'UniformPermutationSampler',
                 'UniformProductSampler', 'UniformRotationSampler', 'build_sampler'),
    'frames': ('GraphMinimalFrameSampler', 'LaplacianFrameSampler',
               'LorentzMinimalFrameSampler', 'OrthogonalMinimalFrameSampler',
               'PCAFrameSampler', 'ProductMinimalFrameSampler', 'SetMinimalFrameSampler',
               'SortedProductFrameSampler', 'UnitaryMinimalFrameSampler'),
    'diagnostics': ('EquivarianceReport', 'LayerwiseReport', 'SampleSpread',
                    'equivariance_error', 'layerwise_equivariance_error', 'sample_spread'),
    'utils': ('GraphInputError', 'validate_graph_batch'),
}
_ORIGIN = {name: module for module, names in _SOURCES.items() for name in names}
_SUBPACKAGES = ('datasets', 'diagnostics', 'frames', 'groups', 'nn', 'samplers',
                'testing', 'training', 'utils')

__all__ = [
    'Symmetrize', 'AdjacencyPatchTransformer', 'AdjacencyMLP', 'ConcatNodeFeatures',
    'ConcatEdgeGeometry', 'MPNN', 'PositionalGIN', 'PyGBackbone', 'PositionEncoding',
    'EGNNConv', 'EGNN', 'PermutationSampler',
    'UniformPermutationSampler',
    'ExhaustivePermutationSampler', 'EuclideanFrameSampler', 'ProductSampler',
    'UniformRotationSampler', 'UniformProductSampler', 'GroupSample', 'Permutation',
    'SymmetricGroup', 'OrthogonalGroup', 'EuclideanGroup', 'ProductGroup',
    'LorentzGroup', 'UnitaryGroup', 'build_sampler', 'PCAFrameSampler',
    'OrthogonalMinimalFrameSampler', 'LaplacianFrameSampler', 'SetMinimalFrameSampler',
    'GraphMinimalFrameSampler', 'ProductMinimalFrameSampler', 'SortedProductFrameSampler',
    'LorentzMinimalFrameSampler', 'UnitaryMinimalFrameSampler',
    'validate_graph_batch', 'GraphInputError', 'equivariance_error',
    'EquivarianceReport', 'layerwise_equivariance_error', 'LayerwiseReport', 'sample_spread',
    'SampleSpread', '__version__'
]


def __getattr__(name: str) -> Any:
    if name in _ORIGIN:
        value = getattr(importlib.import_module(f'{__name__}.{_ORIGIN[name]}'), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f'{__name__}.{name}')
    else:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    globals()[name] = value          # later look-ups skip this function
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBPACKAGES))


if TYPE_CHECKING:  # pragma: no cover - for static analysis and IDEs only
    from lps_geometric.diagnostics import (EquivarianceReport, LayerwiseReport,
                                           SampleSpread, equivariance_error,
                                           layerwise_equivariance_error, sample_spread)
    from lps_geometric.frames import (GraphMinimalFrameSampler, LaplacianFrameSampler,
                                      LorentzMinimalFrameSampler,
                                      OrthogonalMinimalFrameSampler, PCAFrameSampler,
                                      ProductMinimalFrameSampler, SetMinimalFrameSampler,
                                      SortedProductFrameSampler,
                                      UnitaryMinimalFrameSampler)
    from lps_geometric.groups import (EuclideanGroup, LorentzGroup, OrthogonalGroup,
                                      Permutation, ProductGroup, SymmetricGroup,
                                      UnitaryGroup)
    from lps_geometric.nn import (EGNN, MPNN, AdjacencyMLP, AdjacencyPatchTransformer,
                                  ConcatEdgeGeometry, ConcatNodeFeatures, EGNNConv,
                                  PositionalGIN, PositionEncoding, PyGBackbone,
                                  Symmetrize)
    from lps_geometric.samplers import (EuclideanFrameSampler,
                                        ExhaustivePermutationSampler, GroupSample,
                                        PermutationSampler, ProductSampler,
                                        UniformPermutationSampler, UniformProductSampler,
                                        UniformRotationSampler, build_sampler)
    from lps_geometric.utils import GraphInputError, validate_graph_batch
