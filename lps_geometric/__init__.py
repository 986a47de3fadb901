r"""lps_geometric: symmetrization of any network for PyTorch Geometric."""
from lps_geometric.groups import Permutation, SymmetricGroup
from lps_geometric.nn import AdjacencyMLP, AdjacencyPatchTransformer, Symmetrize
from lps_geometric.samplers import (ExhaustivePermutationSampler, GroupSample,
                                    PermutationSampler, UniformPermutationSampler)
from lps_geometric.diagnostics import EquivarianceReport, equivariance_error
from lps_geometric.utils import GraphInputError, validate_graph_batch

__version__ = '0.1.0'

__all__ = [
    'Symmetrize', 'AdjacencyPatchTransformer', 'AdjacencyMLP', 'PermutationSampler',
    'UniformPermutationSampler', 'ExhaustivePermutationSampler', 'GroupSample',
    'Permutation', 'SymmetricGroup', 'validate_graph_batch', 'GraphInputError',
    'equivariance_error', 'EquivarianceReport',
    '__version__'
]
