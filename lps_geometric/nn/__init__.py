r"""Layers: the :class:`Symmetrize` wrapper, backbones and their building blocks."""
from .backbones import AdjacencyPatchTransformer
from .patch_embedding import AdjacencyPatchEmbedding
from .symmetrize import Symmetrize
from .transformer import TransformerEncoder

__all__ = [
    'Symmetrize', 'AdjacencyPatchTransformer', 'AdjacencyPatchEmbedding',
    'TransformerEncoder'
]
