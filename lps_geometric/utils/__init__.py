r"""Utilities: batch layout helpers and input validation."""
from .batch import graph_ptr, replicate_batch, replicate_graphs
from .validation import GraphInputError, validate_graph_batch

__all__ = ['graph_ptr', 'replicate_batch', 'replicate_graphs', 'validate_graph_batch', 'GraphInputError']
