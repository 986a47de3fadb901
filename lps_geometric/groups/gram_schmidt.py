r"""Orthonormal frames from equivariant vectors: batched Gram-Schmidt that never returns
NaN."""
import torch
from torch import Tensor

__all__ = ['gram_schmidt']


def gram_schmidt(vectors: Tensor, special: bool = False, rtol: float = 1e-5) -> Tensor:
    r"""Orthonormalises :math:`d` vectors per batch entry into a frame.

    For rows :math:`v_1, \dots, v_d` of ``vectors[b]`` it returns the matrix
    :math:`Q = [q_1 \cdots q_d]` (frame vectors as *columns*) with

    .. math::
        u_j = v_j - \sum_{i < j} \langle v_j, q_i \rangle q_i, \qquad
        q_j = u_j / \lVert u_j \rVert.

    Equivariance: if every :math:`v_j` is replaced by :math:`R v_j` for an orthogonal
    :math:`R`, then :math:`Q` becomes :math:`R Q`. The frame lies in :math:`O(d)`; with
    ``special=True`` the last column is fixed by orientation instead (for :math:`d = 3`,
    :math:`q_3 = q_1 \times q_2`), so :math:`\det Q = +1` and :math:`Q \mapsto R Q` only
    for rotations — this is what distinguishes an :math:`SO(3)` frame from an
    :math:`O(3)` one under reflections.

    Degenerate input (a zero vector, or :math:`v_j` in the span of the previous ones,
    e.g. from a collinear or coincident point cloud, or a single point) does not give NaN:
    when :math:`\lVert u_j \rVert \le` ``rtol`` :math:`\cdot \max_i \lVert v_i \rVert`
    (or is zero), :math:`u_j` is replaced by the standard basis vector that is least
    aligned with :math:`q_1, \dots, q_{j-1}`, orthogonalised. The result is still an exact
    orthonormal frame, but that fallback is not equivariant: an equivariant frame cannot
    exist for inputs with a continuous stabiliser.

    Rounding errors of the input are amplified by the inverse of the angles between
    each :math:`v_j` and the span of the previous ones; the learned Euclidean samplers
    therefore use :func:`~lps_geometric.groups.polar_frame`, whose sensitivity depends
    on the singular values of all :math:`d` vectors together, and report the frames
    whose conditioning is too small.

    Args:
        vectors (torch.Tensor): Shape :obj:`(B, d, d)`, the :math:`d` vectors as rows.
        special (bool, optional): Return a frame with determinant :math:`+1`.
        rtol (float, optional): Relative degeneracy threshold.

    Returns:
        torch.Tensor: :math:`Q`, shape :obj:`(B, d, d)`, orthonormal columns.
    """
    if vectors.dim() != 3 or vectors.size(1) != vectors.size(2):
        raise ValueError(f"'vectors' must have shape (B, d, d) (got {tuple(vectors.shape)})")
    B, d, _ = vectors.shape
    scale = vectors.norm(dim=-1).amax(dim=-1, keepdim=True)  # (B, 1)
    tiny = torch.finfo(vectors.dtype).tiny ** 0.5
    threshold = rtol * scale + tiny
    eye = torch.eye(d, dtype=vectors.dtype, device=vectors.device)
    columns = []
    last = d - 1 if special else d
    for j in range(last):
        u = vectors[:, j]
        fallback = eye.expand(B, d, d)  # candidate basis vectors as rows
        for q in columns:
            u = u - (u * q).sum(-1, keepdim=True) * q
            fallback = fallback - (fallback * q.unsqueeze(1)).sum(-1, keepdim=True) \
                * q.unsqueeze(1)
        norm = u.norm(dim=-1, keepdim=True)
        # The standard basis vector with the largest remainder (norm >= 1/sqrt(d)).
        fb_norm = fallback.norm(dim=-1)
        best = fb_norm.argmax(dim=-1)
        fb = fallback[torch.arange(B, device=vectors.device), best]
        fb = fb / fb.norm(dim=-1, keepdim=True)
        ok = norm > threshold
        q = torch.where(ok, u / torch.where(ok, norm, torch.ones_like(norm)), fb)
        columns.append(q)
    if special:
        if d == 3:
            columns.append(torch.linalg.cross(columns[0], columns[1], dim=-1))
        else:
            # complete with any unit vector orthogonal to the rest, then fix the sign
            u = eye.expand(B, d, d)
            for q in columns:
                u = u - (u * q.unsqueeze(1)).sum(-1, keepdim=True) * q.unsqueeze(1)
            best = u.norm(dim=-1).argmax(dim=-1)
            q = u[torch.arange(B, device=vectors.device), best]
            q = q / q.norm(dim=-1, keepdim=True)
            frame = torch.stack(columns + [q], dim=-1)
            sign = torch.sign(torch.linalg.det(frame.double())).to(q.dtype)
            columns.append(q * sign.unsqueeze(-1))
    return torch.stack(columns, dim=-1)
