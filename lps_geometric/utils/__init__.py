r"""Utilities: batch layout helpers, sparse neighbourhood sums and input validation."""
from .batch import graph_ptr, replicate_batch, replicate_graphs
from .sparse import NeighborSum
from .validation import GraphInputError, validate_graph_batch

__all__ = ['NeighborSum', 'graph_ptr', 'replicate_batch', 'replicate_graphs', 'validate_graph_batch', 'GraphInputError']
