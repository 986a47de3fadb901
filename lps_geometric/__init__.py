r"""lps_geometric: symmetrization of any network for PyTorch Geometric."""
from lps_geometric.groups import (EuclideanGroup, LorentzGroup, OrthogonalGroup,
                                  Permutation, ProductGroup, SymmetricGroup, UnitaryGroup)
from lps_geometric.nn import (EGNN, AdjacencyMLP, AdjacencyPatchTransformer,
                              ConcatEdgeGeometry, ConcatNodeFeatures, EGNNConv, MPNN,
                              PositionalGIN, Symmetrize)
from lps_geometric.samplers import (EuclideanFrameSampler, ExhaustivePermutationSampler,
                                    GroupSample, PermutationSampler, ProductSampler,
                                    UniformPermutationSampler, UniformProductSampler,
                                    UniformRotationSampler, build_sampler)
from lps_geometric.frames import (GraphMinimalFrameSampler, LaplacianFrameSampler,
                                  LorentzMinimalFrameSampler, OrthogonalMinimalFrameSampler,
                                  PCAFrameSampler, ProductMinimalFrameSampler,
                                  SetMinimalFrameSampler, SortedProductFrameSampler,
                                  UnitaryMinimalFrameSampler)
from lps_geometric.diagnostics import (EquivarianceReport, LayerwiseReport, SampleSpread,
                                       equivariance_error, layerwise_equivariance_error,
                                       sample_spread)
from lps_geometric.utils import GraphInputError, validate_graph_batch

__version__ = '0.1.0'

__all__ = [
    'Symmetrize', 'AdjacencyPatchTransformer', 'AdjacencyMLP', 'ConcatNodeFeatures',
    'ConcatEdgeGeometry', 'MPNN', 'PositionalGIN', 'EGNNConv', 'EGNN', 'PermutationSampler',
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
