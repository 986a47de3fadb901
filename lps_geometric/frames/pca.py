r"""Frame averaging with PCA frames for :math:`O(d)`, :math:`SO(d)`, :math:`E(d)` and
:math:`SE(d)` (Puny et al., "Frame Averaging for Invariant and Equivariant Network
Design", ICLR 2022)."""
import itertools
from typing import Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from lps_geometric.groups.euclidean import POSITION_KEYS, VECTOR_KEYS
from lps_geometric.frames.base import INFINITE, ragged_stack
from lps_geometric.frames.points import PointFrameSampler, centroid, points_of
from lps_geometric.samplers.base import GroupSample
from lps_geometric.groups.euclidean import canonicalizing_transform
from lps_geometric.utils.validation import check_positive_int

__all__ = ['PCAFrameSampler', 'sign_table', 'block_haar']


def sign_table(dim: int, device=None) -> Tensor:
    r"""All :math:`2^d` sign vectors, shape :obj:`(2^d, d)`, the even ones
    (:math:`\prod_i s_i = +1`) first."""
    signs = torch.tensor(list(itertools.product((1.0, -1.0), repeat=dim)),
                         dtype=torch.float64, device=device)
    order = torch.argsort(-signs.prod(dim=-1), stable=True)
    return signs[order]


def block_haar(block: Tensor, num: int, generator: Optional[torch.Generator] = None,
               complex: bool = False) -> Tensor:
    r"""Random orthogonal matrices that are Haar-uniform on each block of equal
    ``block`` labels and the identity elsewhere.

    Args:
        block (torch.Tensor): Block label of every coordinate, shape :obj:`(B, d)`.
        num (int): Draws per graph.

    Returns:
        Shape :obj:`(num, B, d, d)`: the QR factor (with :math:`R`'s diagonal made
        positive) of a Gaussian matrix masked to the blocks, which is block-diagonal and
        Haar on every block of two or more coordinates (unitary Haar if ``complex``); a
        block of one coordinate gets :math:`+1`.
    """
    B, d = block.shape
    mask = (block.unsqueeze(-1) == block.unsqueeze(-2)).to(torch.float64)
    z = torch.randn(num, B, d, d, generator=generator, dtype=torch.float64,
                    device=block.device)
    if complex:
        z = torch.complex(z, torch.randn(num, B, d, d, generator=generator,
                                         dtype=torch.float64, device=block.device))
    z = z * mask
    # A block of one coordinate is the identity, not a random sign (or phase).
    single = torch.diag_embed((mask.sum(-1) == 1).to(torch.float64))
    z = z * (1 - single) + single
    q, r = torch.linalg.qr(z)
    diag = torch.diagonal(r, dim1=-2, dim2=-1)
    phase = diag / diag.abs().clamp_min(torch.finfo(torch.float64).tiny)
    phase = torch.where(diag.abs() == 0, torch.ones_like(phase), phase)
    return q * phase.unsqueeze(-2)


class PCAFrameSampler(PointFrameSampler):
    r"""Frame averaging over PCA frames (FA; Puny et al., 2022) for :math:`O(d)`,
    :math:`SO(d)`, :math:`E(d)` and :math:`SE(d)`.

    With :math:`c` the centroid (for :math:`E(d)`, :math:`SE(d)`; the origin otherwise)
    and :math:`C = \sum_i (x_i - c)(x_i - c)^\top = V \Lambda V^\top`, the frame is

    .. math::
        F(X) = \{ (V S, c) : S = \mathrm{diag}(s),\ s \in \{\pm 1\}^d \},

    :math:`2^d` elements, or the :math:`2^{d-1}` with :math:`\det(V S) = 1` for
    :math:`SO(d)`/:math:`SE(d)`. The backbone sees :math:`S V^\top (x - c)`.
    :math:`F(R X + t) = (R, t) F(X)` exactly when the eigenvalues are distinct.

    **Ties** (eigenvalues within ``tie_tol`` of each other, relative to the largest;
    symmetric or degenerate clouds) are not ignored: the basis of a repeated eigenspace is
    arbitrary, so each of ``tie_samples`` draws rotates it by a Haar-random orthogonal
    matrix of that eigenspace, and all sign combinations are applied to each draw. The
    frame is then continuous (``frame_size = inf``) and the average is equivariant in
    distribution. Graphs without ties in the same batch repeat their exact frame.

    Args:
        dim (int, optional): :math:`d`. (default: :obj:`3`)
        special (bool, optional): :math:`SO(d)`/:math:`SE(d)` frames. (default:
            :obj:`False`)
        translation (bool, optional): Centre at the centroid (:math:`E(d)`,
            :math:`SE(d)`). (default: :obj:`True`)
        tie_tol (float, optional): Relative eigenvalue gap below which eigenvalues are
            tied. (default: :obj:`1e-4`)
        tie_samples (int, optional): Basis draws for tied eigenspaces. (default:
            :obj:`4`)
        key (str, optional): The node attribute holding the points. (default:
            :obj:`"pos"`)
        position_keys, vector_keys: Attributes transformed as points and as vectors.
    """
    def __init__(self, dim: int = 3, special: bool = False, translation: bool = True,
                 tie_tol: float = 1e-4, tie_samples: int = 4, key: str = 'pos',
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        super().__init__(dim, special, key, position_keys, vector_keys)
        self.translation = translation
        self.tie_tol = tie_tol
        self.tie_samples = check_positive_int('tie_samples', tie_samples)

    def forward(self, data: Data, num_samples: Optional[int] = None,
                *, noise: Optional[Tensor] = None,
                generator: Optional[torch.Generator] = None) -> GroupSample:
        r"""The whole frame of every graph as a ragged stack: :math:`2^d` (or
        :math:`2^{d-1}`) copies, times ``tie_samples`` for graphs with tied eigenvalues
        (``num_samples`` and ``noise`` are ignored)."""
        pos, batch, _, B = points_of(data, self.dim, self.key)
        x = pos.to(torch.float64)
        center = centroid(x, batch, B, self.translation)
        xc = x if center is None else x - center[batch]
        cov = scatter(xc.unsqueeze(-1) * xc.unsqueeze(-2), batch, dim=0, dim_size=B,
                      reduce='sum')
        evals, evecs = torch.linalg.eigh(cov)
        scale = evals[:, -1:].abs().clamp_min(torch.finfo(torch.float64).tiny)
        tied = (evals[:, 1:] - evals[:, :-1]) <= self.tie_tol * scale
        has_tie = tied.any(dim=-1)
        signs = sign_table(self.dim, x.device)                       # (2^d, d)
        S = signs.size(0) // 2 if self.special else signs.size(0)
        counts = torch.where(has_tie, S * self.tie_samples, S).long()
        stack = ragged_stack(data, counts)
        stacked, graph_index, node_index, copy, _, _ = stack
        bases = evecs[graph_index]
        if bool(has_tie.any()):   # Haar-random bases of tied eigenspaces, per copy
            block = torch.cat([torch.zeros_like(tied[:, :1], dtype=torch.long),
                               torch.cumsum((~tied).long(), dim=-1)], dim=-1)
            bases = torch.matmul(bases, block_haar(block[graph_index], 1, generator)[0])
        choice = copy % S
        if self.special:   # the sign choices with det(V S) = +1
            odd = torch.linalg.det(bases) < 0
            choice = choice + S * odd.long()
        frame = bases * signs[choice].unsqueeze(-2)
        size = torch.where(has_tie, INFINITE, float(S)).to(torch.float64)
        dtype = pos.dtype
        if center is not None:
            center = center[graph_index].to(dtype)
        element = canonicalizing_transform(frame.to(dtype), center, stacked.batch,
                                           self.position_keys, self.vector_keys)
        return stack.sample(element, size)

    def __repr__(self) -> str:
        group = ('S' if self.special else '') + ('E' if self.translation else 'O')
        return (f'{self.__class__.__name__}({group}({self.dim}), '
                f'tie_samples={self.tie_samples})')
