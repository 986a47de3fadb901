r"""Backbones :math:`f`: networks that need not be equivariant themselves."""
from .adjacency_mlp import AdjacencyMLP
from .adjacency_patch_transformer import AdjacencyPatchTransformer

__all__ = ['AdjacencyPatchTransformer', 'AdjacencyMLP']
