r"""Minimal frames for the Lorentz groups :math:`O(1, d-1)`, :math:`SO(1, d-1)` and the
unitary groups :math:`U(d)`, :math:`SU(d)` (Lin et al., 2024), by pivoted Gram-Schmidt
in the group's own inner product."""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric.frames.base import INFINITE, ragged_stack
from lps_geometric.frames.orthogonal import pivoted_gram_schmidt, stabilizer_frames
from lps_geometric.frames.pca import block_haar
from lps_geometric.frames.points import GramSchmidtFrameSampler, points_of
from lps_geometric.groups.euclidean import POSITION_KEYS, VECTOR_KEYS
from lps_geometric.groups.linear import LinearTransform, minkowski_inner, minkowski_metric
from lps_geometric.samplers.base import GroupSample
from lps_geometric.utils.batch import local_index
from lps_geometric.utils.validation import GraphInputError

__all__ = ['lorentz_gram_schmidt', 'LorentzMinimalFrameSampler',
           'UnitaryMinimalFrameSampler']


def _pick(score: Tensor, order: Tensor, batch: Tensor, num_graphs: int,
          pivot_tol: float) -> Tuple[Tensor, Tensor]:
    r"""Per graph, the node with the smallest ``order`` among those whose ``score`` is
    within a factor :math:`1 - \epsilon_p` of the largest; returns (mask, best)."""
    best = scatter(score, batch, dim=0, dim_size=num_graphs, reduce='max')
    candidate = score >= (1.0 - pivot_tol) * best[batch]
    key = torch.where(candidate, order, torch.full_like(order, float('inf')))
    first = scatter(key, batch, dim=0, dim_size=num_graphs, reduce='min')
    return candidate & (order == first[batch]), best


def lorentz_gram_schmidt(points: Tensor, batch: Tensor, num_graphs: int,
                         order: Optional[Tensor] = None, pivot_tol: float = 1e-4,
                         rank_tol: float = 1e-6) -> Tuple[Tensor, Tensor]:
    r"""A Lorentz-equivariant frame :math:`\Lambda` (:math:`\Lambda^\top \eta \Lambda =
    \eta`) of every graph's :math:`d`-vectors.

    The first column is the timelike vector of largest Minkowski norm, normalised
    (ties by ``order``); the other columns are a pivoted Gram-Schmidt of the residuals in
    its orthogonal complement, which is spacelike, with the positive inner product
    :math:`-\langle \cdot, \cdot \rangle`. Missing directions (spatial rank below
    :math:`d - 1`) are completed by standard spatial basis vectors and must be
    multiplied by the stabiliser. Inputs without a timelike vector raise an error: no
    Lorentz-equivariant frame can be built from lightlike and spacelike vectors by this
    construction.

    Returns:
        ``(frame, rank)``: :math:`(B, d, d)` and the number of columns built from the
        data (1 + spatial rank), :math:`(B,)`.
    """
    x = points.to(torch.float64)
    N, d = x.shape
    order = (torch.arange(N, device=x.device) if order is None else order).to(
        torch.float64)
    norm = minkowski_inner(x, x)
    scale = scatter(norm.abs(), batch, dim=0, dim_size=num_graphs, reduce='max')
    is_pivot, best = _pick(norm, order, batch, num_graphs, pivot_tol)
    if bool((best <= rank_tol * scale).any()) or bool((scale == 0).any()):
        raise GraphInputError('Lorentz frames need at least one timelike vector '
                              '(<x, x> = x_0^2 - |x|^2 > 0) per graph')
    e0 = scatter(x * is_pivot.unsqueeze(-1), batch, dim=0, dim_size=num_graphs,
                 reduce='sum')
    e0 = e0 / minkowski_inner(e0, e0).clamp_min(0).sqrt().unsqueeze(-1)
    frame = x.new_zeros(num_graphs, d, d)
    frame[:, :, 0] = e0
    eta_diag = minkowski_metric(d, device=x.device).diagonal()
    residual = x - minkowski_inner(x, e0[batch]).unsqueeze(-1) * e0[batch]
    rank = torch.ones(num_graphs, dtype=torch.long, device=x.device)
    active = torch.ones(num_graphs, dtype=torch.bool, device=x.device)
    floor = rank_tol ** 2 * scale
    basis = torch.eye(d, dtype=torch.float64, device=x.device)[1:]          # spatial
    for j in range(1, d):
        res2 = -minkowski_inner(residual, residual)
        is_pivot, best = _pick(res2, order, batch, num_graphs, pivot_tol)
        found = active & (best > floor) & (best > 0)
        pivot = scatter(residual * is_pivot.unsqueeze(-1), batch, dim=0,
                        dim_size=num_graphs, reduce='sum')
        # completion: spatial basis vectors minus their projections on the columns
        cols = frame[:, :, :j]                                               # (B, d, j)
        coef = torch.einsum('bdj,d,kd->bkj', cols, eta_diag, basis)         # <e_k, c_j>
        coef = coef * torch.where(torch.arange(j, device=x.device) == 0, 1.0, -1.0)
        comp = basis.unsqueeze(0) - torch.einsum('bkj,bdj->bkd', coef, cols)
        comp_norm = -minkowski_inner(comp, comp)
        pick = comp_norm.argmax(dim=-1)
        completion = comp[torch.arange(num_graphs, device=x.device), pick]
        vec = torch.where(found.unsqueeze(-1), pivot, completion)
        vec = vec / (-minkowski_inner(vec, vec)).clamp_min(0).sqrt().unsqueeze(-1)
        frame[:, :, j] = vec
        rank = rank + found.long()
        active = found
        residual = residual + minkowski_inner(residual, vec[batch]).unsqueeze(-1) \
            * vec[batch]
    return frame, rank


class LorentzMinimalFrameSampler(GramSchmidtFrameSampler):
    r"""Minimal frame averaging over the Lorentz group :math:`O(1, d-1)` or
    :math:`SO(1, d-1)` (MFA; Lin et al., 2024) for labelled :math:`d`-vectors (time
    component first), e.g. particle four-momenta.

    The canonical frame :math:`\Lambda` comes from :func:`lorentz_gram_schmidt`
    (:math:`\Lambda(g X) = g \Lambda(X)`); the backbone sees
    :math:`\Lambda^{-1} x = \eta \Lambda^\top \eta\, x`, the components of every vector
    in the frame. The stabiliser of vectors spanning a timelike direction and
    :math:`r` spatial ones is :math:`O(d - 1 - r)`, enumerated (:math:`\pm 1`) or sampled
    (``budget`` Haar draws) as for :math:`O(d)`.

    Args:
        dim (int, optional): :math:`d`. (default: :obj:`4`)
        special (bool, optional): :math:`SO(1, d-1)`. (default: :obj:`False`)
        budget (int, optional): Draws for continuous stabilisers. (default: :obj:`8`)
        key (str, optional): Node attribute holding the vectors. (default:
            :obj:`"pos"`)
    """
    def __init__(self, dim: int = 4, special: bool = False, budget: int = 8,
                 pivot_tol: float = 1e-4, rank_tol: float = 1e-6, key: str = 'pos',
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        if dim < 2:
            raise ValueError(f'Lorentz frames need d >= 2 (got {dim})')
        super().__init__(dim, special, budget, pivot_tol, rank_tol, key, position_keys,
                         vector_keys)

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        pos, batch, ptr, B = points_of(data, self.dim, self.key)
        frame, rank = lorentz_gram_schmidt(pos, batch, B, local_index(batch, ptr),
                                           self.pivot_tol, self.rank_tol)
        frames, size, stack = stabilizer_frames(frame, rank, self.special, self.budget,
                                                data, generator)
        eta = minkowski_metric(self.dim, device=frame.device)
        inverse = eta @ frames.transpose(-1, -2) @ eta
        element = LinearTransform(inverse.to(pos.dtype), stack.stacked.batch, 'lorentz',
                                  self.position_keys, self.vector_keys)
        return stack.sample(element, size)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({'S' if self.special else ''}"
                f"O(1,{self.dim - 1}), budget={self.budget})")


class UnitaryMinimalFrameSampler(GramSchmidtFrameSampler):
    r"""Minimal frame averaging over :math:`U(d)` or :math:`SU(d)` (MFA; Lin et al.,
    2024) for labelled complex vectors.

    :func:`~lps_geometric.frames.pivoted_gram_schmidt` with the Hermitian inner product
    gives :math:`Q(U X) = U Q(X)`; the stabiliser of rank-:math:`r` vectors is
    :math:`U(d - r)` (continuous for every :math:`r < d`; ``budget`` Haar draws), and for
    :math:`SU(d)` the last column's phase makes :math:`\det Q = 1`, so the frame is a
    single element for :math:`r \ge d - 1`.

    Args:
        dim (int, optional): :math:`d`. (default: :obj:`2`)
        special (bool, optional): :math:`SU(d)`. (default: :obj:`False`)
        budget (int, optional): Draws for continuous stabilisers. (default: :obj:`8`)
        key (str, optional): Node attribute holding the complex vectors. (default:
            :obj:`"pos"`)
    """
    complex_pos = True

    def __init__(self, dim: int = 2, special: bool = False, budget: int = 8,
                 pivot_tol: float = 1e-4, rank_tol: float = 1e-6, key: str = 'pos',
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        super().__init__(dim, special, budget, pivot_tol, rank_tol, key, position_keys,
                         vector_keys)

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        pos, batch, ptr, B = points_of(data, self.dim, self.key, complex_pos=True)
        frame, rank = pivoted_gram_schmidt(pos, batch, B, local_index(batch, ptr),
                                           self.pivot_tol, self.rank_tol)
        free = self.dim - rank
        one = torch.ones(B, dtype=torch.float64, device=frame.device)
        trivial = (free <= 1) if self.special else (free == 0)
        size = torch.where(trivial, one, one * INFINITE)
        counts = torch.where(trivial, 1, self.budget).long()
        stack = ragged_stack(data, counts)
        stacked, graph_index, node_index, _, _, _ = stack
        frames = frame[graph_index]
        continuous = torch.isinf(size)[graph_index]
        if bool(continuous.any()):
            column = torch.arange(self.dim, device=frame.device).view(1, -1)
            block = torch.where(column >= rank[graph_index].view(-1, 1), -1, column)
            block = torch.where(continuous.view(-1, 1), block, column)
            frames = torch.matmul(frames, block_haar(block, 1, generator, complex=True)[0])
        if self.special:
            det = torch.linalg.det(frames)
            frames = frames.clone()
            frames[..., -1] = frames[..., -1] * det.conj().unsqueeze(-1)
        inverse = frames.transpose(-1, -2).conj()
        element = LinearTransform(inverse.to(pos.dtype), stacked.batch, 'unitary',
                                  self.position_keys, self.vector_keys)
        return stack.sample(element, size)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({'S' if self.special else ''}U({self.dim}), "
                f"budget={self.budget})")
