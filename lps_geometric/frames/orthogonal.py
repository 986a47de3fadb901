r"""Minimal frames for :math:`O(d)`, :math:`SO(d)`, :math:`E(d)` and :math:`SE(d)` (Lin et
al., "Equivariance via Minimal Frame Averaging for More Symmetries and Efficiency", ICML
2024), by a pivoted QR (Gram-Schmidt) of the points.

For labelled points :math:`X \in \mathbb{R}^{n \times d}` of rank :math:`r` the stabiliser
in :math:`O(d)` is :math:`O(d - r)` acting on the orthogonal complement of their span, so a
minimal frame is one canonicalizing rotation times that stabiliser.
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric.frames.base import INFINITE, ragged_stack
from lps_geometric.frames.pca import block_haar
from lps_geometric.frames.points import GramSchmidtFrameSampler, centroid, points_of
from lps_geometric.groups.euclidean import POSITION_KEYS, VECTOR_KEYS
from lps_geometric.samplers.base import GroupSample
from lps_geometric.groups.euclidean import canonicalizing_transform
from lps_geometric.utils.batch import local_index

__all__ = ['pivoted_gram_schmidt', 'stabilizer_size', 'apply_stabilizer', 'stabilizer_frames',
           'OrthogonalMinimalFrameSampler']


def pivoted_gram_schmidt(points: Tensor, batch: Tensor, num_graphs: int,
                         order: Optional[Tensor] = None, pivot_tol: float = 1e-4,
                         rank_tol: float = 1e-6) -> Tuple[Tensor, Tensor]:
    r"""An :math:`O(d)`-equivariant orthonormal frame of every graph's points by
    Gram-Schmidt with pivoting.

    Step :math:`j` picks, among the points whose residual norm (after removing the span of
    :math:`q_1, \dots, q_{j-1}`) is within a factor :math:`1 - \epsilon_p` of the largest,
    the one with the smallest ``order``, and sets :math:`q_j` to its normalised residual.
    Norms, residuals and ``order`` are invariant under :math:`X \mapsto X R^\top`, so the
    pivots are too and :math:`Q(X R^\top) = R\, Q(X)`; the canonical form
    :math:`X Q` is upper-triangular in the pivots with a positive diagonal. When every
    residual is below ``rank_tol`` times the largest point norm the points have rank
    :math:`r < d` and the remaining columns are a fixed orthonormal completion (the
    standard basis vector with the largest residual each time), which is *not*
    equivariant: callers multiply it by the stabiliser (:func:`stabilizer_frames`).

    Complex points give the same construction for :math:`U(d)` (Hermitian inner
    product; :math:`q_j` fixes the phase so that the pivot's coefficient is real and
    positive).

    Args:
        points (torch.Tensor): :math:`(|V|, d)`, centred if translations are in the group.
        batch (torch.Tensor): :math:`(|V|,)`.
        num_graphs (int): :math:`B`.
        order (torch.Tensor, optional): Invariant tie-breaking key per node (a canonical
            position for unlabelled points). (default: the node index)
        pivot_tol (float, optional): :math:`\epsilon_p`. (default: :obj:`1e-4`)
        rank_tol (float, optional): Relative residual norm counted as zero.
            (default: :obj:`1e-6`)

    Returns:
        ``(frame, rank)``: frames :math:`(B, d, d)` (columns :math:`q_j`, float64 or
        complex128) and the
        rank of every graph's points, :math:`(B,)`.
    """
    x = points.to(torch.complex128 if points.is_complex() else torch.float64)
    N, d = x.shape
    if order is None:
        order = torch.arange(N, device=x.device)
    order = order.to(torch.float64)
    norm2 = (x.conj() * x).real.sum(-1)
    scale2 = scatter(norm2, batch, dim=0, dim_size=num_graphs, reduce='max')
    floor2 = (rank_tol ** 2) * scale2
    residual = x
    frame = x.new_zeros(num_graphs, d, d)
    rank = torch.zeros(num_graphs, dtype=torch.long, device=x.device)
    active = torch.ones(num_graphs, dtype=torch.bool, device=x.device)
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    inf = torch.tensor(float('inf'), dtype=torch.float64, device=x.device)
    for j in range(d):
        res2 = (residual.conj() * residual).real.sum(-1)
        best = scatter(res2, batch, dim=0, dim_size=num_graphs, reduce='max')
        found = active & (best > floor2) & (best > 0)
        candidate = res2 >= (1.0 - pivot_tol) * best[batch]
        key = torch.where(candidate, order, inf)
        first = scatter(key, batch, dim=0, dim_size=num_graphs, reduce='min')
        is_pivot = candidate & (order == first[batch])
        pivot = scatter(residual * is_pivot.unsqueeze(-1), batch, dim=0,
                        dim_size=num_graphs, reduce='sum')
        # Completion for graphs whose points are exhausted: the standard basis vector
        # with the largest residual against the columns so far.
        basis_res = eye.unsqueeze(0) - torch.matmul(frame, frame.transpose(-1, -2).conj())
        basis_norm = basis_res.norm(dim=-2)                        # (B, d) per column
        pick = basis_norm.argmax(dim=-1)
        completion = basis_res.gather(-1, pick.view(-1, 1, 1).expand(-1, d, 1)).squeeze(-1)
        vec = torch.where(found.unsqueeze(-1), pivot, completion)
        vec = vec / vec.norm(dim=-1, keepdim=True)
        frame[:, :, j] = vec
        rank = rank + found.long()
        active = found
        q = vec[batch]
        residual = residual - (q.conj() * residual).sum(-1, keepdim=True) * q
    return frame, rank


def stabilizer_size(rank: Tensor, dim: int, special: bool) -> Tensor:
    r"""Size of the stabiliser of rank-:math:`r` labelled points in :math:`O(d)`
    (:math:`O(d - r)`: 1, 2 or :obj:`inf`) or :math:`SO(d)` (:math:`SO(d - r)`: 1 or
    :obj:`inf`), shape :math:`(B,)`, float64."""
    free = dim - rank
    one = torch.ones_like(free, dtype=torch.float64)
    if special:
        return torch.where(free <= 1, one, one * INFINITE)
    return torch.where(free == 0, one, torch.where(free == 1, 2 * one, one * INFINITE))


def apply_stabilizer(frames: Tensor, rank: Tensor, special: bool,
                     flip: Optional[Tensor] = None,
                     generator: Optional[torch.Generator] = None) -> Tensor:
    r"""Multiplies canonical frames :math:`(k, B, d, d)` by stabiliser elements of
    rank-:math:`r` points: a Haar draw of :math:`O(d - r)` on the free columns where the
    stabiliser is continuous, the sign ``flip`` :math:`(k, B)` of the last column where
    it is :math:`\{\pm 1\}` (:math:`O(d)`, :math:`r = d - 1`), and for :math:`SO(d)` the
    last column's sign that makes the determinant :math:`+1`."""
    k, B, d, _ = frames.shape
    free = d - rank
    frames = frames.clone()
    continuous = torch.isinf(stabilizer_size(rank, d, special))
    if bool(continuous.any()):
        column = torch.arange(d, device=frames.device).view(1, -1)
        block = torch.where(column >= rank.view(-1, 1), -1, column)
        block = torch.where(continuous.view(-1, 1), block, column)
        frames = torch.matmul(frames, block_haar(block, k, generator))
    if not special and flip is not None:
        sign = torch.where(free.view(1, -1) == 1, flip.to(frames.dtype), 1.0)
        frames[..., -1] = frames[..., -1] * sign.unsqueeze(-1)
    if special:
        det = torch.linalg.det(frames)
        frames[..., -1] = frames[..., -1] * torch.where(det < 0, -1.0, 1.0).unsqueeze(-1)
    return frames


def stabilizer_frames(frame: Tensor, rank: Tensor, special: bool, budget: int,
                      data: Data, generator: Optional[torch.Generator] = None):
    r"""The minimal frames of labelled points from their canonical frames
    :math:`(B, d, d)`, as a ragged stack: graph :math:`b` is copied once for a trivial
    stabiliser, twice for :math:`\{\pm 1\}` (both signs of the last column,
    enumerated) and ``budget`` times for a continuous one (Haar draws), see
    :func:`apply_stabilizer`.

    Returns:
        ``(frames, size, stack)``: frames :math:`(\sum_b m_b, d, d)`, stabiliser sizes
        :math:`(B,)` and the :class:`~lps_geometric.frames.base.RaggedStack`.
    """
    size = stabilizer_size(rank, frame.size(-1), special)
    counts = torch.where(torch.isinf(size), torch.full_like(size, budget), size).long()
    stack = ragged_stack(data, counts)
    graph_index, copy = stack.graph_index, stack.copy
    flip = torch.where(copy % 2 == 1, -1.0, 1.0).to(frame.dtype)
    frames = apply_stabilizer(frame[graph_index].unsqueeze(0), rank[graph_index],
                              special, flip.unsqueeze(0), generator)[0]
    return frames, size, stack


class OrthogonalMinimalFrameSampler(GramSchmidtFrameSampler):
    r"""Minimal frame averaging (MFA; Lin et al., 2024) for :math:`O(d)`,
    :math:`SO(d)`, :math:`E(d)` and :math:`SE(d)` acting on labelled points (node
    ``i`` stays node ``i``), for any :math:`d`.

    The points are centred (:math:`E(d)`, :math:`SE(d)`), orthonormalised by
    :func:`pivoted_gram_schmidt` into :math:`Q` with :math:`Q(R X) = R\,Q(X)`, and the
    frame is :math:`Q` times the stabiliser of the points (:func:`stabilizer_frames`):
    one element for points of full rank, two for rank :math:`d - 1` under
    :math:`O(d)`, and the continuous :math:`O(d - r)` otherwise, averaged over
    ``budget`` Haar draws (unbiased, equivariant in distribution). The frame size is
    the stabiliser's size, the smallest an exact frame can have.

    Args:
        dim (int, optional): :math:`d`. (default: :obj:`3`)
        special (bool, optional): :math:`SO(d)`/:math:`SE(d)`. (default: :obj:`False`)
        translation (bool, optional): Centre at the centroid. (default: :obj:`True`)
        budget (int, optional): Draws for continuous stabilisers. (default: :obj:`8`)
        pivot_tol, rank_tol (float, optional): See :func:`pivoted_gram_schmidt`.
        key (str, optional): Node attribute holding the points. (default: :obj:`"pos"`)
        position_keys, vector_keys: Attributes transformed as points and as vectors.
    """
    def __init__(self, dim: int = 3, special: bool = False, translation: bool = True,
                 budget: int = 8, pivot_tol: float = 1e-4, rank_tol: float = 1e-6,
                 key: str = 'pos', position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        super().__init__(dim, special, budget, pivot_tol, rank_tol, key, position_keys,
                         vector_keys)
        self.translation = translation

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""The minimal frame of every graph (``num_samples``, ``noise`` ignored), as a
        ragged stack: one copy of a graph with a trivial stabiliser, two or ``budget``
        otherwise."""
        pos, batch, ptr, B = points_of(data, self.dim, self.key)
        x = pos.to(torch.float64)
        center = centroid(x, batch, B, self.translation)
        xc = x if center is None else x - center[batch]
        frame, rank = pivoted_gram_schmidt(xc, batch, B, local_index(batch, ptr),
                                           self.pivot_tol, self.rank_tol)
        frames, size, stack = stabilizer_frames(frame, rank, self.special, self.budget,
                                                data, generator)
        dtype = pos.dtype
        if center is not None:
            center = center[stack.graph_index].to(dtype)
        element = canonicalizing_transform(frames.to(dtype), center, stack.stacked.batch,
                                           self.position_keys, self.vector_keys)
        return stack.sample(element, size)

    def __repr__(self) -> str:
        group = ('S' if self.special else '') + ('E' if self.translation else 'O')
        return f'{self.__class__.__name__}({group}({self.dim}), budget={self.budget})'
