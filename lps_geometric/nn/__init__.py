r"""Layers: the :class:`Symmetrize` wrapper, backbones and their building blocks.

The names below are imported on first use (:pep:`562`), so that a sampler importing a
network of :mod:`lps_geometric.nn.models` does not load the layer, which builds on the
samplers (``from lps_geometric.nn import Symmetrize`` works as usual).
"""
import importlib
from typing import TYPE_CHECKING, Any, List

#: The module that defines each public name.
_SOURCES = {
    'backbones': ('AdjacencyMLP', 'AdjacencyPatchTransformer', 'ConcatEdgeGeometry',
                  'ConcatNodeFeatures', 'MPNN', 'PositionalGIN', 'PositionEncoding',
                  'PyGBackbone'),
    'capabilities': ('BackboneCapabilities', 'capabilities_of'),
    'conv': ('EGNNConv',),
    'models': ('EGNN',),
    'patch_embedding': ('AdjacencyPatchEmbedding',),
    'pretrained': ('LoadReport', 'init_from_vit', 'load_vit_state_dict'),
    'relaxation': ('RelaxedLayer', 'relax', 'unrelax', 'set_relaxation'),
    'relaxed_graph': ('to_dense_image',),
    'symmetrize': ('Symmetrize',),
    'transformer': ('TransformerEncoder',),
}
_ORIGIN = {name: module for module, names in _SOURCES.items() for name in names}

__all__ = [
    'Symmetrize', 'AdjacencyPatchTransformer', 'AdjacencyMLP', 'AdjacencyPatchEmbedding',
    'TransformerEncoder', 'to_dense_image', 'EGNNConv', 'EGNN', 'ConcatNodeFeatures',
    'ConcatEdgeGeometry', 'MPNN', 'PositionalGIN', 'PositionEncoding', 'PyGBackbone',
    'init_from_vit', 'load_vit_state_dict', 'LoadReport', 'BackboneCapabilities',
    'capabilities_of', 'RelaxedLayer', 'relax', 'unrelax', 'set_relaxation'
]


def __getattr__(name: str) -> Any:
    if name not in _ORIGIN:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'{__name__}.{_ORIGIN[name]}'), name)
    globals()[name] = value          # later look-ups skip this function
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # pragma: no cover - for static analysis and IDEs only
    from .backbones import (MPNN, AdjacencyMLP, AdjacencyPatchTransformer,
                            ConcatEdgeGeometry, ConcatNodeFeatures, PositionalGIN,
                            PositionEncoding, PyGBackbone)
    from .capabilities import BackboneCapabilities, capabilities_of
    from .conv import EGNNConv
    from .models import EGNN
    from .patch_embedding import AdjacencyPatchEmbedding
    from .pretrained import LoadReport, init_from_vit, load_vit_state_dict
    from .relaxation import RelaxedLayer, relax, set_relaxation, unrelax
    from .relaxed_graph import to_dense_image
    from .symmetrize import Symmetrize
    from .transformer import TransformerEncoder
