r"""Feeding coordinates to a backbone that only reads ``x``."""
import copy
from typing import Optional, Sequence

from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.utils.validation import GraphInputError, validate_graph_batch

from ..capabilities import BackboneCapabilities
from .wrapper import BackboneWrapper

__all__ = ['ConcatNodeFeatures']


class ConcatNodeFeatures(BackboneWrapper):
    r"""Concatenates node attributes (positions, velocities, ...) onto ``x`` before
    calling a backbone, so that any graph backbone can read a point cloud:

    .. math::
        x_v' = [\, x_v \,\|\, \mathrm{pos}_v \,\|\, \mathrm{vel}_v \,\|\, \dots ]

    Inside :class:`~lps_geometric.nn.Symmetrize` the backbone receives the canonicalized
    input :math:`g^{-1} \cdot G`, so the coordinates it reads are already expressed in the
    sampled frame; this wrapper only changes where they are stored.

    Args:
        backbone (torch.nn.Module): Reads ``data.x`` of width
            ``in_channels + 3 * len(keys)`` (vector attributes of shape
            :obj:`(|V|, C, 3)` count :math:`3C`).
        keys (sequence of str, optional): Node attributes to append, in order.
            (default: :obj:`("pos", "vel")`)
        in_channels (int, optional): Width of the original ``data.x`` (:obj:`0`: no
            ``x``). (default: :obj:`0`)

    The wrapper declares the backbone's capabilities (``level``, ``max_nodes``,
    ``edge_dim``, whether it reads ``band``) with its own ``in_channels``, so that
    :class:`~lps_geometric.nn.Symmetrize` validates inputs against them.
    """
    def __init__(self, backbone: nn.Module, keys: Sequence[str] = ('pos', 'vel'),
                 in_channels: int = 0):
        super().__init__(backbone)
        self.keys = tuple(keys)
        self.in_channels = in_channels

    def wrapped_capabilities(self, inner: BackboneCapabilities) -> BackboneCapabilities:
        return inner.with_changes(in_channels=self.in_channels or None)

    def forward(self, data: Data, band: Optional[Tensor] = None) -> Tensor:
        validate_graph_batch(data, node_channels=self.in_channels,
                             require_pos='pos' in self.keys)
        parts = []
        x = getattr(data, 'x', None)
        if self.in_channels > 0:
            if x is None:
                raise GraphInputError('The backbone expects node features x')
            parts.append(x.view(x.size(0), -1))
        for key in self.keys:
            value = self.read(data, key)
            parts.append(value.reshape(value.size(0), -1))
        out = copy.copy(data)
        out.x = self.concat(parts)
        return self.call_backbone(out, band)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.backbone}, keys={self.keys}, '
                f'in_channels={self.in_channels})')
