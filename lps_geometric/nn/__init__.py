r"""Layers: the :class:`Symmetrize` wrapper, backbones and their building blocks."""
from .backbones import (AdjacencyMLP, AdjacencyPatchTransformer, ConcatEdgeGeometry,
                        ConcatNodeFeatures, MPNN, PositionalGIN, PositionEncoding,
                        PyGBackbone)
from .conv import EGNNConv
from .models import EGNN
from .patch_embedding import AdjacencyPatchEmbedding
from .pretrained import LoadReport, init_from_vit, load_vit_state_dict
from .relaxed_graph import to_dense_image
from .symmetrize import Symmetrize
from .transformer import TransformerEncoder

__all__ = [
    'Symmetrize', 'AdjacencyPatchTransformer', 'AdjacencyMLP', 'AdjacencyPatchEmbedding',
    'TransformerEncoder', 'to_dense_image', 'EGNNConv', 'EGNN', 'ConcatNodeFeatures',
    'ConcatEdgeGeometry', 'MPNN', 'PositionalGIN', 'PositionEncoding', 'PyGBackbone',
    'init_from_vit', 'load_vit_state_dict', 'LoadReport'
]
