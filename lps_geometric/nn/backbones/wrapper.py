r"""The common base of backbone wrappers that rewrite the input before a backbone."""
from typing import Tuple

from torch import nn

__all__ = ['BackboneWrapper']


class BackboneWrapper(nn.Module):
    r"""Holds a backbone and exposes the attributes that
    :class:`~lps_geometric.nn.Symmetrize` reads to validate inputs (``level``,
    ``max_nodes``, ``edge_dim``: the names in :attr:`exposed`), so a wrapped backbone
    is checked like the backbone itself. Subclasses implement ``forward``."""
    exposed: Tuple[str, ...] = ('level', 'max_nodes', 'edge_dim')

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone
        for name in self.exposed:
            if hasattr(backbone, name):
                setattr(self, name, getattr(backbone, name))

    def reset_parameters(self):
        if hasattr(self.backbone, 'reset_parameters'):
            self.backbone.reset_parameters()
