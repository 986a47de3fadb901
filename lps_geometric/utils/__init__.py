r"""Utilities: batch layout helpers, sparse neighbourhood sums, input validation and the
deterministic mode."""
from .batch import graph_ptr, replicate_batch, replicate_graphs
from .sparse import NeighborSum, gin_update
from .determinism import deterministic
from .validation import (GraphInputError, check_positive_int, checked_input,
                         validate_graph_batch)

# checked_input and check_positive_int serve the package's own entry points (they stay
# importable from lps_geometric.utils.validation)
__all__ = ['NeighborSum', 'gin_update', 'graph_ptr', 'replicate_batch', 'replicate_graphs',
           'validate_graph_batch', 'GraphInputError', 'deterministic']
