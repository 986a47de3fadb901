r"""Matrix groups beyond :math:`O(d)`: the Lorentz groups :math:`O(1, d-1)`,
:math:`SO(1, d-1)` and the unitary groups :math:`U(d)`, :math:`SU(d)`, one element per
graph, acting linearly on node vectors (no translations).

Their elements reuse :class:`~lps_geometric.groups.EuclideanTransform`'s actions
(:math:`x \mapsto \Lambda x` on ``pos`` and the vector attributes, and on outputs); only
the inverse differs: :math:`\Lambda^{-1} = \eta \Lambda^\top \eta` with the Minkowski
metric :math:`\eta = \mathrm{diag}(1, -1, \dots, -1)`, and :math:`U^{-1} = U^H`.
"""
import math
from typing import Optional, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from lps_geometric.groups.euclidean import (POSITION_KEYS, VECTOR_KEYS, EuclideanTransform,
                                            OrthogonalGroup, haar_orthogonal)
from lps_geometric.utils.batch import to_ptr_batch

__all__ = ['LinearTransform', 'LorentzGroup', 'UnitaryGroup', 'minkowski_metric',
           'minkowski_inner', 'haar_unitary', 'random_lorentz']

_KINDS = ('lorentz', 'unitary')


def minkowski_metric(dim: int, dtype=torch.float64, device=None) -> Tensor:
    r""":math:`\eta = \mathrm{diag}(1, -1, \dots, -1)`, shape :obj:`(d, d)`."""
    diag = -torch.ones(dim, dtype=dtype, device=device)
    diag[0] = 1
    return torch.diag(diag)


def minkowski_inner(a: Tensor, b: Tensor) -> Tensor:
    r""":math:`\langle a, b \rangle = a_0 b_0 - \sum_{i \ge 1} a_i b_i` over the last
    dimension."""
    prod = a * b
    return prod[..., 0] - prod[..., 1:].sum(-1)


class LinearTransform(EuclideanTransform):
    r"""A Lorentz transformation (``kind="lorentz"``) or a unitary matrix
    (``kind="unitary"``) per graph; see :class:`EuclideanTransform` for the actions.

    Args:
        matrix (torch.Tensor): :math:`(B, d, d)`.
        batch (torch.Tensor): :math:`(|V|,)`.
        kind (str): :obj:`"lorentz"` or :obj:`"unitary"`.
    """
    def __init__(self, matrix: Tensor, batch: Tensor, kind: str,
                 position_keys: Sequence[str] = POSITION_KEYS,
                 vector_keys: Sequence[str] = VECTOR_KEYS):
        if kind not in _KINDS:
            raise ValueError(f"'kind' must be one of {_KINDS} (got '{kind}')")
        super().__init__(matrix, None, batch, position_keys, vector_keys)
        self.kind = kind

    def _like(self, rotation: Tensor, translation: Optional[Tensor]) -> 'LinearTransform':
        return LinearTransform(rotation, self.batch, self.kind, self.position_keys,
                               self.vector_keys)

    def inverse(self) -> 'LinearTransform':
        if self.kind == 'unitary':
            return self._like(self.rotation.transpose(-1, -2).conj(), None)
        eta = minkowski_metric(self.dim, self.rotation.dtype, self.rotation.device)
        return self._like(eta @ self.rotation.transpose(-1, -2) @ eta, None)

    def to(self, device) -> 'LinearTransform':
        return LinearTransform(self.rotation.to(device), self.batch.to(device), self.kind,
                               self.position_keys, self.vector_keys)


def random_lorentz(num: int, dim: int = 4, special: bool = False, rapidity: float = 1.0,
                   generator: Optional[torch.Generator] = None, device=None,
                   dtype: torch.dtype = torch.float64) -> Tensor:
    r"""Random elements of :math:`O(1, d-1)` (or :math:`SO(1, d-1)`), shape
    :obj:`(num, d, d)`: a boost of Gaussian rapidity (std ``rapidity``) along a random
    direction, a Haar-random spatial :math:`O(d-1)` matrix and, for :math:`O(1, d-1)`, a
    random time reversal."""
    spatial = haar_orthogonal(num, dim - 1, generator=generator, device=device,
                              dtype=torch.float64)
    n = torch.randn(num, dim - 1, generator=generator, dtype=torch.float64, device=device)
    n = n / n.norm(dim=-1, keepdim=True)
    eta = rapidity * torch.randn(num, generator=generator, dtype=torch.float64,
                                 device=device)
    boost = torch.eye(dim, dtype=torch.float64, device=device).repeat(num, 1, 1)
    ch, sh = torch.cosh(eta), torch.sinh(eta)
    boost[:, 0, 0] = ch
    boost[:, 0, 1:] = sh.unsqueeze(-1) * n
    boost[:, 1:, 0] = sh.unsqueeze(-1) * n
    boost[:, 1:, 1:] += (ch - 1).view(-1, 1, 1) * n.unsqueeze(-1) * n.unsqueeze(-2)
    rot = torch.eye(dim, dtype=torch.float64, device=device).repeat(num, 1, 1)
    rot[:, 1:, 1:] = spatial
    if not special:
        flip = torch.where(torch.rand(num, generator=generator, device=device) < 0.5,
                           -1.0, 1.0).to(torch.float64)
        rot[:, 0, 0] = flip
    out = rot @ boost
    if special:
        det = torch.linalg.det(out)
        out[:, :, -1] = out[:, :, -1] * torch.where(det < 0, -1.0, 1.0).unsqueeze(-1)
    return out.to(dtype)


def haar_unitary(num: int, dim: int, special: bool = False,
                 generator: Optional[torch.Generator] = None, device=None,
                 dtype: torch.dtype = torch.complex128) -> Tensor:
    r"""Haar-random :math:`U(d)` (or :math:`SU(d)`) matrices, shape :obj:`(num, d, d)`:
    QR of a complex Gaussian matrix with :math:`R`'s diagonal phases moved into
    :math:`Q`; :math:`SU(d)` divides the first column by the determinant."""
    z = torch.complex(torch.randn(num, dim, dim, generator=generator, device=device,
                                  dtype=torch.float64),
                      torch.randn(num, dim, dim, generator=generator, device=device,
                                  dtype=torch.float64)) / math.sqrt(2)
    q, r = torch.linalg.qr(z)
    diag = torch.diagonal(r, dim1=-2, dim2=-1)
    phase = diag / diag.abs().clamp_min(1e-300)
    q = q * phase.unsqueeze(-2)
    if special:
        det = torch.linalg.det(q)
        q = torch.cat([q[..., :1] * det.conj().view(-1, 1, 1), q[..., 1:]], dim=-1)
    return q.to(dtype)


class LorentzGroup(OrthogonalGroup):
    r"""The Lorentz group :math:`O(1, d-1)` (``special=False``) or :math:`SO(1, d-1)`
    acting on ``pos`` (:math:`d`-vectors, time first) and vector attributes."""
    translations = False

    @property
    def name(self) -> str:
        return f"{'S' if self.special else ''}O(1,{self.dim - 1})"

    def identity(self, data: Data) -> LinearTransform:
        batch, _, B = to_ptr_batch(data)
        eye = torch.eye(self.dim, device=batch.device).expand(B, -1, -1).clone()
        return LinearTransform(eye, batch, 'lorentz', self.position_keys, self.vector_keys)

    def random_element(self, data: Data, generator: Optional[torch.Generator] = None,
                       rapidity: float = 1.0) -> LinearTransform:
        batch, _, B = to_ptr_batch(data)
        dtype = data.pos.dtype if getattr(data, 'pos', None) is not None else torch.float32
        mat = random_lorentz(B, self.dim, self.special, rapidity, generator, batch.device,
                             dtype)
        return LinearTransform(mat, batch, 'lorentz', self.position_keys, self.vector_keys)


class UnitaryGroup(OrthogonalGroup):
    r"""The unitary group :math:`U(d)` (``special=False``) or :math:`SU(d)` acting on
    complex ``pos`` and vector attributes."""
    translations = False

    @property
    def name(self) -> str:
        return f"{'S' if self.special else ''}U({self.dim})"

    def identity(self, data: Data) -> LinearTransform:
        batch, _, B = to_ptr_batch(data)
        eye = torch.eye(self.dim, dtype=torch.complex64, device=batch.device)
        return LinearTransform(eye.expand(B, -1, -1).clone(), batch, 'unitary',
                               self.position_keys, self.vector_keys)

    def random_element(self, data: Data, generator: Optional[torch.Generator] = None
                       ) -> LinearTransform:
        batch, _, B = to_ptr_batch(data)
        dtype = data.pos.dtype if getattr(data, 'pos', None) is not None \
            else torch.complex64
        mat = haar_unitary(B, self.dim, self.special, generator, batch.device, dtype)
        return LinearTransform(mat, batch, 'unitary', self.position_keys, self.vector_keys)
