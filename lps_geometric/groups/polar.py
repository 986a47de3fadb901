r"""Orthonormal frames from equivariant vectors by the polar decomposition: the
orthogonal factor of the matrix of vectors, with a conditioning number that says how far
the input is from the matrices where no equivariant frame is stable."""
from typing import Tuple, Union

import torch
from torch import Tensor

__all__ = ['polar_frame', 'frame_conditioning']

# Relative floor of the denominators sigma'_i + sigma'_j in the gradient.
_GRAD_FLOOR = 1e-4


def _check(vectors: Tensor):
    if not isinstance(vectors, Tensor) or vectors.dim() != 3 \
            or vectors.size(1) != vectors.size(2) or vectors.size(1) < 1:
        shape = tuple(vectors.shape) if isinstance(vectors, Tensor) else type(vectors)
        raise ValueError(f"'vectors' must be a tensor of shape (B, d, d), d >= 1 "
                         f"(got {shape})")
    if not vectors.is_floating_point():
        raise ValueError(f"'vectors' must be floating point (got {vectors.dtype})")


def _conditioning(sigma: Tensor, sign: Tensor, special: bool) -> Tensor:
    r""":math:`\mu` from the singular values (descending, :obj:`(B, d)`) and the sign of
    the determinant :obj:`(B,)`."""
    top = sigma[:, 0]
    d = sigma.size(1)
    safe = torch.where(top > 0, top, torch.ones_like(top))
    if d == 1:
        margin = torch.ones_like(top)
    elif special:
        margin = (sigma[:, d - 2] + sign * sigma[:, d - 1]) / safe
    else:
        margin = torch.minimum((sigma[:, d - 2] + sigma[:, d - 1]) / safe,
                               (sigma[:, d - 1] / safe).clamp_min(0).sqrt())
    return torch.where(top > 0, margin, torch.zeros_like(top)).clamp(0, 1)


def frame_conditioning(vectors: Tensor, special: bool = False) -> Tensor:
    r"""The conditioning :math:`\mu \in [0, 1]` of :func:`polar_frame` for each batch
    entry: with :math:`M = [v_1 \cdots v_d]` and singular values
    :math:`\sigma_1 \ge \dots \ge \sigma_d`,

    .. math::
        \mu_{SO(d)} = \frac{\sigma_{d-1} + \operatorname{sign}(\det M)\,
        \sigma_d}{\sigma_1}, \qquad
        \mu_{O(d)} = \min\Big(\frac{\sigma_{d-1} + \sigma_d}{\sigma_1},
        \sqrt{\frac{\sigma_d}{\sigma_1}}\Big)

    (:math:`\mu = 0` for :math:`M = 0`, :math:`1` for :math:`d = 1`). It is invariant,
    :math:`\mu(RM) = \mu(M)` for :math:`R \in O(d)` (resp. :math:`SO(d)`), and
    independent of the scale of :math:`M`. The ratio
    :math:`(\sigma'_{d-1} + \sigma'_d) / \sigma_1` is the inverse of the frame's
    sensitivity: a relative perturbation :math:`\varepsilon` of the vectors moves the
    frame by at most about :math:`\varepsilon / \mu`, and the frame is undefined where
    it vanishes. An :math:`O(d)` frame must also follow the sign of :math:`\det M`, which
    a relative perturbation of :math:`\sigma_d / \sigma_1 = \mu^2` can flip (the
    frame then jumps by a reflection); the square root makes one threshold on
    :math:`\mu` guard both. See :func:`polar_frame`.

    Args:
        vectors (torch.Tensor): Shape :obj:`(B, d, d)`, the :math:`d` vectors as rows.
        special (bool, optional): The conditioning of the :math:`SO(d)` frame.
            (default: :obj:`False`)

    Returns:
        torch.Tensor: :math:`\mu`, shape :obj:`(B,)`, in the dtype of ``vectors``.
    """
    _check(vectors)
    with torch.no_grad():
        m = vectors.detach().transpose(-1, -2).to(torch.float64)
        sigma = torch.linalg.svdvals(m)
        sign = torch.sign(torch.linalg.det(m))
        return _conditioning(sigma, sign, special).to(vectors.dtype)


def polar_frame(vectors: Tensor, special: bool = False, *,
                return_conditioning: bool = False
                ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    r"""The orthogonal polar factor of the matrix of :math:`d` vectors: a frame whose
    rounding error depends on the singular values of the vectors rather than on the
    angles between successive ones (compare :func:`gram_schmidt`).

    For the rows :math:`v_1, \dots, v_d` of ``vectors[b]`` let
    :math:`M = [v_1 \cdots v_d] = U \Sigma V^\top` (singular value decomposition). The
    frame is

    .. math::
        Q = U D V^\top, \qquad D = \begin{cases} I & O(d) \\
        \operatorname{diag}(1, \dots, 1, \operatorname{sign} \det M) & SO(d)
        \end{cases}

    (frame vectors as *columns*): the orthogonal matrix nearest to :math:`M`, and with
    ``special=True`` the nearest rotation (the Kabsch correction, :math:`\det Q = +1`).
    It does not depend on the choice of :math:`U, V` where the SVD is not unique, and it
    is equivariant: :math:`Q(RM) = R\,Q(M)` for every :math:`R \in O(d)` (``special``:
    every :math:`R \in SO(d)`). To first order a perturbation :math:`dM` moves it by

    .. math::
        dQ = U D X V^\top, \qquad X_{ij} = \frac{F_{ij} - F_{ji}}
        {\sigma'_i + \sigma'_j}, \qquad F = (UD)^\top dM\, V,

    with :math:`\sigma' = D\sigma`: its sensitivity is :math:`1 / (\sigma'_{d-1} +
    \sigma'_d)` (no division by the gap :math:`\sigma_i - \sigma_j` of the SVD itself,
    so repeated singular values are harmless). The frame jumps where the sign of
    :math:`\det M` flips (for :math:`O(d)`: any :math:`O(d)`-equivariant map must) or
    :math:`\sigma'_{d-1} + \sigma'_d = 0` (:math:`SO(d)`); how far :math:`M` is from
    there is :func:`frame_conditioning` :math:`\mu`, returned with
    ``return_conditioning=True``. Callers should treat a frame with small :math:`\mu`
    (compared with the relative rounding error of the vectors) as not equivariant.

    The decomposition is computed in float64 and the frame returned in the dtype of
    ``vectors``. Gradients are the exact first derivative above, built from the
    detached SVD with each denominator clamped at :math:`10^{-4}\,\sigma_1`, so they
    stay bounded on degenerate input (zero for a zero matrix) and are exact wherever
    :math:`\sigma'_{d-1} + \sigma'_d \ge 10^{-4} \sigma_1`; second derivatives are not
    provided.
    Degenerate input (rank below :math:`d`, a zero matrix) gives an orthogonal
    :math:`Q` without NaN, but not an equivariant one.

    Args:
        vectors (torch.Tensor): Shape :obj:`(B, d, d)`, the :math:`d` vectors as rows.
        special (bool, optional): Return a rotation (:math:`\det Q = +1`).
            (default: :obj:`False`)
        return_conditioning (bool, optional): Also return :math:`\mu` :obj:`(B,)`.
            (default: :obj:`False`)

    Returns:
        torch.Tensor: :math:`Q`, shape :obj:`(B, d, d)`, orthonormal columns (and
        :math:`\mu`, shape :obj:`(B,)`, with ``return_conditioning``).

    Example:
        >>> v = torch.randn(4, 3, 3)
        >>> Q = polar_frame(v, special=True)
        >>> R = haar_orthogonal(4, 3, special=True)
        >>> torch.allclose(polar_frame(v @ R.transpose(1, 2), special=True), R @ Q,
        ...                atol=1e-5)
        True
    """
    _check(vectors)
    dtype = vectors.dtype
    m = vectors.transpose(-1, -2)                       # columns v_j, (B, d, d)
    with torch.no_grad():
        m64 = m.detach().to(torch.float64)
        u, sigma, vh = torch.linalg.svd(m64)
        sign = torch.sign(torch.linalg.det(u) * torch.linalg.det(vh))
        sign = torch.where(sign == 0, torch.ones_like(sign), sign)
        if special:
            d = sigma.size(1)
            flip = torch.ones_like(sigma)
            flip[:, d - 1] = sign
            u = u * flip.unsqueeze(1)                   # U D
            sigma_p = sigma * flip                      # sigma' = D sigma
            det_sign = sign
        else:
            sigma_p = sigma
            det_sign = sign
        q64 = u @ vh
        conditioning = _conditioning(sigma, det_sign, special)
    if m.requires_grad:
        # the first-order term U X(dM) V^T, zero in value: gradients without the SVD's
        # 1 / (sigma_i^2 - sigma_j^2)
        with torch.no_grad():
            top = sigma[:, :1].unsqueeze(-1)            # (B, 1, 1)
            den = sigma_p.unsqueeze(-1) + sigma_p.unsqueeze(-2)
            floor = _GRAD_FLOOR * top
            den = torch.maximum(den, floor)
            inv = torch.where(top > 0, 1.0 / torch.where(den > 0, den,
                                                         torch.ones_like(den)),
                              torch.zeros_like(den))
        dm = (m - m.detach()).to(torch.float64)
        f = u.transpose(-1, -2) @ dm @ vh.transpose(-1, -2)
        x = (f - f.transpose(-1, -2)) * inv
        frame = (q64 + u @ x @ vh).to(dtype)
    else:
        frame = q64.to(dtype)
    if return_conditioning:
        return frame, conditioning.to(dtype)
    return frame
