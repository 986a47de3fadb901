r"""The common base of backbone wrappers that rewrite the input before a backbone."""
from typing import List, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.utils.validation import GraphInputError

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

    @staticmethod
    def read(data: Data, key: str, what: str = 'node attribute') -> Tensor:
        r"""``data[key]``, or a clear error naming what is missing."""
        value = getattr(data, key, None)
        if value is None:
            raise GraphInputError(f"The backbone reads the {what} '{key}', which the data "
                                  f"does not have")
        return value

    @staticmethod
    def concat(parts: List[Tensor]) -> Tensor:
        r"""Concatenates feature blocks along the last dimension in the first floating
        dtype among them (integer blocks such as atom types are cast)."""
        dtype = next((p.dtype for p in parts if p.is_floating_point()), torch.float32)
        return torch.cat([p.to(dtype) for p in parts], dim=-1)
