r"""Utilities: batch layout helpers, input validation and equivariance measurement."""
from .batch import graph_ptr, replicate_batch
from .validation import GraphInputError, validate_graph_batch

__all__ = ['graph_ptr', 'replicate_batch', 'validate_graph_batch', 'GraphInputError']
