r"""Backbones :math:`f`: networks that need not be equivariant themselves."""
from .adjacency_mlp import AdjacencyMLP
from .adjacency_patch_transformer import AdjacencyPatchTransformer
from .concat_features import ConcatNodeFeatures
from .edge_geometry import ConcatEdgeGeometry
from .mpnn import MPNN, MPNNLayer
from .position_encoding import PositionEncoding
from .positional_gin import PositionalGIN
from .pyg_backbone import PyGBackbone

__all__ = ['AdjacencyPatchTransformer', 'AdjacencyMLP', 'ConcatNodeFeatures',
           'ConcatEdgeGeometry', 'MPNN', 'MPNNLayer', 'PositionalGIN', 'PositionEncoding',
           'PyGBackbone']
