r"""Random orthogonal matrices and the tolerance shared by the tests of the EGNN layer
and model."""
import torch

TOL = dict(atol=1e-10, rtol=0.0)


def orthogonal(det):
    Q, R = torch.linalg.qr(torch.randn(3, 3, dtype=torch.double))
    Q = Q * torch.sign(torch.diagonal(R))
    if torch.det(Q) * det < 0:
        Q[:, 0] = -Q[:, 0]
    assert torch.allclose(Q @ Q.T, torch.eye(3, dtype=torch.double))
    return Q
