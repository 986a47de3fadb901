r"""Utilities: batch layout helpers, sparse neighbourhood sums and input validation."""
from .batch import graph_ptr, replicate_batch, replicate_graphs
from .sparse import NeighborSum, gin_update
from .validation import GraphInputError, validate_graph_batch

__all__ = ['NeighborSum', 'gin_update', 'graph_ptr', 'replicate_batch', 'replicate_graphs', 'validate_graph_batch', 'GraphInputError']
