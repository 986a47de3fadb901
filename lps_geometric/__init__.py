r"""lps_geometric: symmetrization of any network for PyTorch Geometric."""
from lps_geometric.groups import (EuclideanGroup, OrthogonalGroup, Permutation,
                                  ProductGroup, SymmetricGroup)
from lps_geometric.nn import (EGNN, AdjacencyMLP, AdjacencyPatchTransformer,
                              ConcatNodeFeatures, EGNNConv, Symmetrize)
from lps_geometric.samplers import (EuclideanFrameSampler, ExhaustivePermutationSampler,
                                    GroupSample, PermutationSampler, ProductSampler,
                                    UniformPermutationSampler, UniformProductSampler,
                                    UniformRotationSampler)
from lps_geometric.diagnostics import EquivarianceReport, equivariance_error
from lps_geometric.utils import GraphInputError, validate_graph_batch

__version__ = '0.1.0'

__all__ = [
    'Symmetrize', 'AdjacencyPatchTransformer', 'AdjacencyMLP', 'ConcatNodeFeatures',
    'EGNNConv', 'EGNN', 'PermutationSampler', 'UniformPermutationSampler',
    'ExhaustivePermutationSampler', 'EuclideanFrameSampler', 'ProductSampler',
    'UniformRotationSampler', 'UniformProductSampler', 'GroupSample', 'Permutation',
    'SymmetricGroup', 'OrthogonalGroup', 'EuclideanGroup', 'ProductGroup',
    'validate_graph_batch', 'GraphInputError', 'equivariance_error',
    'EquivarianceReport', '__version__'
]
