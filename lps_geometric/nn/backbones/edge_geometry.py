r"""Feeding pairwise geometry (relative vectors and distances) to a backbone's edges."""
import copy
from itertools import combinations
from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Data

from lps_geometric.utils.validation import validate_graph_batch

from ..capabilities import BackboneCapabilities
from .wrapper import BackboneWrapper

__all__ = ['ConcatEdgeGeometry']


class ConcatEdgeGeometry(BackboneWrapper):
    r"""Appends, to every edge :math:`(j \to i)`, the difference of vector node attributes
    across it and the norm of that difference, before calling a backbone:

    .. math::
        e_{ji}' = [\, e_{ji} \,\|\, \mathrm{pos}_i - \mathrm{pos}_j \,\|\,
        \lVert \mathrm{pos}_i - \mathrm{pos}_j \rVert \,\|\, \mathrm{vel}_i -
        \mathrm{vel}_j \,\|\, \lVert \mathrm{vel}_i - \mathrm{vel}_j \rVert \,\|\,
        \dots ]

    (:math:`j` = ``edge_index[0]``, :math:`i` = ``edge_index[1]``, PyG's source and
    target.) A pair token of an adjacency-patch backbone then reads the geometry of its
    pair directly instead of having to compute it from two node tokens; for pairwise
    physics (forces that depend on distances) this is the inductive bias that matters.

    Inside :class:`~lps_geometric.nn.Symmetrize` the backbone receives the canonicalized
    input :math:`g^{-1} \cdot G`, so the differences are expressed in the sampled frame
    (they rotate with it) and the norms are invariant; the wrapper computes them from
    what the backbone receives, so the symmetrized model keeps every guarantee the
    sampler gives, whatever the backbone does with them. Differences are invariant to
    translations, so nothing depends on the frame's origin.

    Args:
        backbone (torch.nn.Module): Reads ``data.edge_attr`` of width
            ``in_channels + sum_key (d + 1) * C_key`` where a key's attribute has shape
            :math:`(|V|, d)` (:math:`C = 1`) or :math:`(|V|, C, d)`, and :math:`d + 1`
            becomes :math:`d` with ``norms=False``; ``inner_products=True`` adds
            ``sum_{a < b} C_a * C_b``, and ``inverse_powers`` adds
            ``len(inverse_powers) * (d + 1) * C`` for the first key.
        keys (sequence of str, optional): Vector node attributes whose differences are
            appended, in order. (default: :obj:`("pos",)`)
        in_channels (int, optional): Width of the original ``data.edge_attr``
            (:obj:`0`: none). (default: :obj:`0`)
        norms (bool, optional): Also append the Euclidean norm of each difference.
            (default: :obj:`True`)
        inner_products (bool, optional): Also append, for every two keys
            :math:`a` before :math:`b`, the inner products :math:`\langle a_i - a_j,
            b_i - b_j \rangle` of their differences (all :math:`C_a C_b` channel
            pairs), after everything else. For ``keys=("pos", "vel")`` this is the
            pair's radial velocity times its distance, the invariant that says whether
            two particles approach or part; the norms give the Gram matrix's diagonal,
            these its off-diagonal. Keys must then share the dimension :math:`d`.
            (default: :obj:`False`)
        inverse_powers (sequence of int, optional): For the first key (positions),
            also append, for every power :math:`p`, the field
            :math:`\Delta / r_\epsilon^{p + 1}` and :math:`r_\epsilon^{-p}` with
            :math:`\Delta = \mathrm{pos}_i - \mathrm{pos}_j` and the softened distance
            :math:`r_\epsilon = \sqrt{\lVert \Delta \rVert^2 + \epsilon^2}`:
            :math:`p = 2` is the direction and strength of an inverse-square force
            (Coulomb, gravity), which a network otherwise has to build from
            :math:`\Delta` and :math:`\lVert \Delta \rVert`. Appended after
            everything else; the vector is expressed in the sampled frame like
            :math:`\Delta`. (default: :obj:`()`)
        softening (float, optional): :math:`\epsilon` of ``inverse_powers``, which
            keeps the features finite for coincident points. (default: :obj:`0.1`)

    The wrapper declares the backbone's capabilities (``level``, ``max_nodes``, whether
    it reads ``band``) with ``edge_dim = in_channels``, the edge width the *input* must
    carry, so that :class:`~lps_geometric.nn.Symmetrize` validates inputs against them.

    Shapes:
        - **input:** a ``Data``/``Batch`` with ``edge_index`` :math:`(2, |E|)`, the
          attributes named in ``keys`` and, if ``in_channels > 0``, ``edge_attr``
          :math:`(|E|, \text{in\_channels})`
        - **output:** the backbone's output
    """
    def __init__(self, backbone: nn.Module, keys: Sequence[str] = ('pos', ),
                 in_channels: int = 0, norms: bool = True, inner_products: bool = False,
                 inverse_powers: Sequence[int] = (), softening: float = 0.1):
        if len(keys) == 0:
            raise ValueError('ConcatEdgeGeometry needs at least one vector attribute key')
        if any(not isinstance(q, int) or q < 1 for q in inverse_powers):
            raise ValueError(f"'inverse_powers' must be positive integers "
                             f"(got {tuple(inverse_powers)})")
        if inverse_powers and not softening > 0:
            raise ValueError(f"'softening' must be positive (got {softening})")
        super().__init__(backbone)
        self.keys = tuple(keys)
        self.in_channels = in_channels
        self.norms = norms
        self.inner_products = inner_products
        self.inverse_powers = tuple(inverse_powers)
        self.softening = softening

    def wrapped_capabilities(self, inner: BackboneCapabilities) -> BackboneCapabilities:
        # the input's edge features are this wrapper's (of width in_channels), not the
        # backbone's, which reads the geometry computed here
        return inner.with_changes(edge_dim=self.in_channels or None)

    def edge_features(self, data: Data) -> Tensor:
        r"""The new ``edge_attr`` :math:`(|E|, \cdot)` the backbone receives."""
        src, dst = data.edge_index
        parts, diffs, fields = [], [], []
        if self.in_channels > 0:
            edge_attr = self.read(data, 'edge_attr',
                                  f'edge features of width {self.in_channels}')
            parts.append(edge_attr.view(edge_attr.size(0), -1))
        for key in self.keys:
            value = self.read(data, key, 'vector node attribute')
            if value.dim() not in (2, 3):
                raise ValueError(f"'{key}' must have shape (|V|, d) or (|V|, C, d), got "
                                 f"{tuple(value.shape)}")
            diff = value[dst] - value[src]
            if self.inverse_powers and key == self.keys[0]:
                fields = self.inverse_fields(diff)
            if self.inner_products:    # (|E|, C, d), also for (|V|, d) attributes
                diffs.append((key, diff.view(diff.size(0), -1, diff.size(-1))))
            parts.append(diff.reshape(diff.size(0), -1))
            if self.norms:
                # clamped so that coincident nodes (and self-loops) give a finite
                # gradient: sqrt is not differentiable at 0
                norm = diff.pow(2).sum(dim=-1).clamp_min(1e-12).sqrt()
                parts.append(norm.reshape(diff.size(0), -1))
        for (key_a, diff_a), (key_b, diff_b) in combinations(diffs, 2):
            if diff_a.size(-1) != diff_b.size(-1):
                raise ValueError(
                    f"inner_products needs vectors of one dimension, but '{key_a}' has "
                    f"{diff_a.size(-1)} and '{key_b}' {diff_b.size(-1)}")
            dot = torch.einsum('ecd,efd->ecf', diff_a, diff_b)
            parts.append(dot.reshape(dot.size(0), -1))
        return self.concat(parts + fields)

    def inverse_fields(self, diff: Tensor) -> List[Tensor]:
        r""":math:`\Delta / r_\epsilon^{p + 1}` and :math:`r_\epsilon^{-p}` for every
        power :math:`p`, each flattened to :math:`(|E|, \cdot)`."""
        inv = (diff.pow(2).sum(dim=-1, keepdim=True)
               + self.softening ** 2).rsqrt()  # 1 / r_eps
        parts = []
        for power in self.inverse_powers:
            scale = inv.pow(power)
            parts.append((diff * (scale * inv)).reshape(diff.size(0), -1))
            parts.append(scale.reshape(diff.size(0), -1))
        return parts

    def forward(self, data: Data, band: Optional[Tensor] = None) -> Tensor:
        validate_graph_batch(data, edge_channels=self.in_channels,
                             require_pos='pos' in self.keys)
        out = copy.copy(data)
        out.edge_attr = self.edge_features(data)
        return self.call_backbone(out, band)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}({self.backbone}, keys={self.keys}, '
                f'in_channels={self.in_channels}, norms={self.norms}, '
                f'inner_products={self.inner_products}'
                + (f', inverse_powers={self.inverse_powers}, softening={self.softening}'
                   if self.inverse_powers else '') + ')')
