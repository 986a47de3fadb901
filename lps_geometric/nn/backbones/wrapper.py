r"""The common base of backbone wrappers that rewrite the input before a backbone."""
from typing import List, Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.nn.capabilities import BackboneCapabilities, capabilities_of
from lps_geometric.utils.validation import GraphInputError

__all__ = ['BackboneWrapper']


class BackboneWrapper(nn.Module):
    r"""Holds a backbone and declares its
    :class:`~lps_geometric.nn.BackboneCapabilities` (output level, node limit, whether
    it reads the relaxed permutation), changed where the wrapper changes what the input
    must hold (:meth:`wrapped_capabilities`), so a wrapped backbone is checked and
    called like the backbone itself. Subclasses implement ``forward(data, band=None)``
    and call the backbone with :meth:`call_backbone`."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def wrapped_capabilities(self, inner: BackboneCapabilities) -> BackboneCapabilities:
        r"""The wrapper's capabilities given the backbone's (the same by default)."""
        return inner

    @property
    def capabilities(self) -> BackboneCapabilities:
        return self.wrapped_capabilities(capabilities_of(self.backbone))

    def call_backbone(self, data: Data, band: Optional[Tensor] = None) -> Tensor:
        r"""The backbone's output for ``data``, passing ``band`` on if it reads it."""
        if band is not None and capabilities_of(self.backbone).reads_band:
            return self.backbone(data, band=band)
        return self.backbone(data)

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
