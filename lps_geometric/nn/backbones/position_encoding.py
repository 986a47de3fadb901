r"""Codes of the nodes' positions in the sampled order, with straight-through gradients
to the sampler."""
import math
from typing import Optional

import torch
from torch import Tensor, nn

from lps_geometric.groups.symmetric import Permutation, band_positions
from lps_geometric.utils.batch import local_index

__all__ = ['PositionEncoding', 'position_codes', 'position_table']

POSITION_KINDS = ('learned', 'random', 'sinusoidal')


def position_table(max_nodes: int, dim: int, kind: str, seed: int = 0) -> Tensor:
    r"""A fixed :obj:`(max_nodes, dim)` table of position codes.

    :obj:`"random"`: i.i.d. :math:`\mathcal{N}(0, 1)` rows from a seeded generator (the
    node identifiers of relational pooling / random node initialisation, drawn once);
    :obj:`"sinusoidal"`: the transformer's sine/cosine code
    :math:`(\sin(i \omega_j), \cos(i \omega_j))`, :math:`\omega_j = 10^{-4 j / d}`.
    """
    if kind == 'random':
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(max_nodes, dim, generator=gen)
    if kind == 'sinusoidal':
        position = torch.arange(max_nodes, dtype=torch.float).unsqueeze(1)
        freq = torch.exp(-math.log(1e4) * torch.arange(0, dim, 2).float() / dim)
        table = torch.zeros(max_nodes, dim)
        table[:, 0::2] = torch.sin(position * freq)
        table[:, 1::2] = torch.cos(position * freq)[:, :dim // 2]
        return table
    raise ValueError(f"Unknown position code '{kind}' (expected 'learned', 'random' or "
                     f"'sinusoidal')")


def position_codes(table: Tensor, batch: Tensor, ptr: Tensor,
                   band: Optional[Tensor] = None) -> Tensor:
    r"""The code of every node of a batch that is already in the sampled order (node
    :math:`v` of graph :math:`b` sits at position :math:`i_v = v - \mathrm{ptr}_b`).

    Without ``band`` this is the row :math:`E_{i_v}` of ``table``. With the
    straight-through relaxed permutation ``band``
    :math:`\tilde P \in \mathbb{R}^{|V| \times (2w+1)}` (one-hot forward, relaxed
    backward; :func:`~lps_geometric.samplers.straight_through`) it is

    .. math::
        \sum_{m=0}^{2w} \tilde P_{v,m} \, E_{i_v + m - w},

    whose forward value is :math:`E_{i_v}` and whose gradient reaches the sampler.
    Band weights outside a graph are zero, so the clamped indices there do not matter.

    Args:
        table (torch.Tensor): Codes :math:`E`, shape :obj:`(n_max, d)`.
        batch (torch.Tensor): Graph of every node, :obj:`(|V|,)`.
        ptr (torch.Tensor): Graph offsets, :obj:`(B + 1,)`.
        band (torch.Tensor, optional): :math:`\tilde P`, :obj:`(|V|, 2w + 1)`.

    Returns:
        torch.Tensor: :obj:`(|V|, d)`.
    """
    if band is None:
        return table[local_index(batch, ptr)]
    position, _ = band_positions(Permutation.identity(batch, ptr),
                                 (band.size(1) - 1) // 2)
    codes = table[position - ptr[batch].unsqueeze(1)]  # (|V|, 2w+1, d)
    return (band.to(codes.dtype).unsqueeze(-1) * codes).sum(dim=1)


class PositionEncoding(nn.Module):
    r"""A table :math:`E \in \mathbb{R}^{n_{\max} \times d}` of position codes read at
    every node's position in the sampled order (:func:`position_codes`): learned,
    fixed random (:math:`\mathcal{N}(0, 1)`, as the node identifiers of relational
    pooling) or sinusoidal.

    Inside :class:`~lps_geometric.nn.Symmetrize` a backbone receives every copy of the
    batch relabelled into its sampled order, so a node's index inside its graph *is*
    its position; in training with a learned sampler the backbone receives the relaxed
    permutation as ``band`` and passes it on here, through which the gradient reaches
    the sampler.

    Args:
        max_nodes (int): :math:`n_{\max}`, the largest graph.
        channels (int): :math:`d`.
        kind (str, optional): :obj:`"learned"`, :obj:`"random"` or
            :obj:`"sinusoidal"`. (default: :obj:`"learned"`)
        seed (int, optional): Seed of the :obj:`"random"` table. (default: :obj:`0`)

    Shapes:
        - **input:** ``batch`` :math:`(|V|,)`, ``ptr`` :math:`(B + 1,)`, optional
          ``band`` :math:`(|V|, 2w + 1)`
        - **output:** :math:`(|V|, d)`
    """
    def __init__(self, max_nodes: int, channels: int, kind: str = 'learned',
                 seed: int = 0):
        super().__init__()
        if max_nodes < 1 or channels < 1:
            raise ValueError(f"'max_nodes' and 'channels' of a position encoding must be "
                             f"positive (got {max_nodes} and {channels})")
        if kind not in POSITION_KINDS:
            position_table(1, 1, kind)  # raises the error naming the kinds
        self.max_nodes = max_nodes
        self.channels = channels
        self.kind = kind
        if kind == 'learned':
            self.weight = nn.Parameter(torch.empty(max_nodes, channels))
        else:
            self.register_buffer('weight',
                                 position_table(max_nodes, channels, kind, seed))
        self.reset_parameters()

    def reset_parameters(self):
        if isinstance(self.weight, nn.Parameter):
            nn.init.normal_(self.weight)

    def forward(self, batch: Tensor, ptr: Tensor,
                band: Optional[Tensor] = None) -> Tensor:
        return position_codes(self.weight, batch, ptr, band)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.max_nodes}, {self.channels}, '
                f'kind={self.kind})')
