import pytest
import torch

from lps_geometric.groups import haar_orthogonal
from lps_geometric.groups.gram_schmidt import gram_schmidt

DT = torch.float64


def _orthonormal(Q):
    eye = torch.eye(Q.size(-1), dtype=Q.dtype).expand_as(Q)
    return torch.allclose(Q.transpose(1, 2) @ Q, eye, atol=1e-10)


def test_gram_schmidt_equivariance_o3_vs_so3():
    gen = torch.Generator().manual_seed(3)
    v = torch.randn(64, 3, 3, generator=gen, dtype=DT)
    R = haar_orthogonal(64, 3, False, gen, dtype=DT)
    reflect = torch.linalg.det(R) < 0
    assert reflect.any() and (~reflect).any()
    rv = torch.einsum('bij,bkj->bki', R, v)  # every row vector rotated
    Q, Qr = gram_schmidt(v), gram_schmidt(rv)
    assert _orthonormal(Q)
    assert torch.allclose(Qr, R @ Q, atol=1e-10)  # O(3): all of O(3)
    S, Sr = gram_schmidt(v, special=True), gram_schmidt(rv, special=True)
    assert torch.allclose(torch.linalg.det(S), torch.ones(64, dtype=DT))
    # SO(3) frame: equivariant under rotations, not under reflections
    assert torch.allclose(Sr[~reflect], (R @ S)[~reflect], atol=1e-10)
    assert not torch.allclose(Sr[reflect], (R @ S)[reflect], atol=1e-3)


@pytest.mark.parametrize('special', [False, True])
def test_gram_schmidt_degenerate_inputs_give_valid_frames(special):
    line = torch.tensor([1.0, 2.0, -0.5], dtype=DT)
    cases = torch.stack([
        torch.zeros(3, 3, dtype=DT),                               # coincident points
        torch.stack([line, 2 * line, -line]),                      # collinear
        torch.stack([line, torch.tensor([0., 1., 0.], dtype=DT),   # coplanar
                     line + torch.tensor([0., 1., 0.], dtype=DT)]),
        torch.stack([line, torch.zeros(3, dtype=DT), torch.zeros(3, dtype=DT)]),
        torch.full((3, 3), 1e-30, dtype=DT),                       # tiny scale
    ])
    Q = gram_schmidt(cases, special=special)
    assert torch.isfinite(Q).all() and _orthonormal(Q)
    # the non-degenerate leading directions are kept
    assert torch.allclose(Q[1, :, 0], line / line.norm())
    # float32 too, and gradients are finite
    v = cases.float().requires_grad_()
    gram_schmidt(v, special=special).sum().backward()
    assert torch.isfinite(v.grad).all()


@pytest.mark.parametrize('dim', [2, 4])
def test_gram_schmidt_other_dimensions(dim):
    v = torch.randn(8, dim, dim, dtype=DT)
    for special in (False, True):
        Q = gram_schmidt(v, special=special)
        assert _orthonormal(Q)
        if special:
            assert torch.allclose(torch.linalg.det(Q), torch.ones(8, dtype=DT))
    with pytest.raises(ValueError, match='shape'):
        gram_schmidt(torch.randn(3, 2, 3))
